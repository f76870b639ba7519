"""CORS on the list endpoint: preflights answered before authentication (issue 9, item 10)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.http import HttpRequest
from django.test import Client, override_settings
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed

from osis_async.models import AsyncTask

pytestmark = pytest.mark.django_db
URL = "/osis_async/tasks/"
INTRANET = "https://intranet.example.org"
CORS_HEADERS = (
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Credentials",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
    "Access-Control-Max-Age",
    "Access-Control-Expose-Headers",
)
listed = override_settings(OSIS_ASYNC_DOMAIN_LIST=[INTRANET, "http://127.0.0.1:8001"])


class RefuseEveryone(BaseAuthentication):
    """A project authentication class that fails every request it sees."""

    def authenticate(self, request: HttpRequest) -> None:
        raise AuthenticationFailed("nobody gets in")


def preflight(client: Client, origin: str = INTRANET, **headers: str) -> Any:
    return client.options(
        URL,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="if-none-match",
        **headers,
    )


def cors_headers(response: Any) -> dict[str, str]:
    return {name: response[name] for name in CORS_HEADERS if response.has_header(name)}


@listed
@pytest.mark.parametrize("logged_in", [False, True])
def test_a_listed_origin_s_preflight_is_answered_before_authentication(
    user_client: Client, logged_in: bool
) -> None:
    response = preflight(user_client if logged_in else Client())
    assert response.status_code == 204
    assert response.content == b""
    assert response["Access-Control-Allow-Origin"] == INTRANET
    assert response["Access-Control-Allow-Credentials"] == "true"
    methods = {method.strip() for method in response["Access-Control-Allow-Methods"].split(",")}
    assert "GET" in methods
    allowed_headers = response["Access-Control-Allow-Headers"].lower()
    assert "if-none-match" in allowed_headers and "authorization" in allowed_headers
    assert int(response["Access-Control-Max-Age"]) > 0
    assert "Origin" in response["Vary"]


@listed
def test_the_preflight_does_not_reach_the_project_s_authentication() -> None:
    with override_settings(
        REST_FRAMEWORK={"DEFAULT_AUTHENTICATION_CLASSES": [f"{__name__}.RefuseEveryone"]}
    ):
        assert preflight(Client()).status_code == 204
        refused = Client().get(URL, HTTP_ORIGIN=INTRANET)
    assert refused.status_code in (401, 403)
    # The widget reads the status of a refusal too: it carries the CORS headers.
    assert refused["Access-Control-Allow-Origin"] == INTRANET


@listed
@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example.com",
        "https://intranet.example.org.evil.com",
        "null",
        "http://127.0.0.1:8002",
    ],
)
def test_other_origins_get_no_cors_headers(user_client: Client, origin: str) -> None:
    for client in (Client(), user_client):
        answer = preflight(client, origin)
        assert answer.status_code != 204
        assert cors_headers(answer) == {}
    assert cors_headers(user_client.get(URL, HTTP_ORIGIN=origin)) == {}


def test_no_preflight_is_answered_without_a_domain_list() -> None:
    response = preflight(Client())
    assert response.status_code == 403
    assert cors_headers(response) == {}


@listed
def test_an_options_request_that_is_no_preflight_is_the_view_s(user_client: Client) -> None:
    assert Client().options(URL, HTTP_ORIGIN=INTRANET).status_code == 403
    response = user_client.options(URL, HTTP_ORIGIN=INTRANET)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == INTRANET


@listed
def test_every_answer_to_a_listed_origin_can_be_read(
    user_client: Client, user: Any, make_task: Callable[..., AsyncTask]
) -> None:
    make_task(person=user)
    first = user_client.get(URL, HTTP_ORIGIN=INTRANET)
    again = user_client.get(URL, HTTP_ORIGIN=INTRANET, HTTP_IF_NONE_MATCH=first["ETag"])
    assert (first.status_code, again.status_code) == (200, 304)
    for response in (first, again):
        assert response["Access-Control-Allow-Origin"] == INTRANET
        assert response["Access-Control-Allow-Credentials"] == "true"
        exposed = {name.strip() for name in response["Access-Control-Expose-Headers"].split(",")}
        assert {"ETag", "Link", "Retry-After"} <= exposed
        assert "Origin" in response["Vary"]
        # Preflight-only headers stay on preflights.
        assert not response.has_header("Access-Control-Max-Age")


@listed
def test_origins_compare_without_regard_to_case(user_client: Client) -> None:
    response = user_client.get(URL, HTTP_ORIGIN="https://INTRANET.example.org")
    assert response["Access-Control-Allow-Origin"] == "https://INTRANET.example.org"


@listed
def test_a_remote_mode_failure_carries_the_cors_headers(user_client: Client) -> None:
    with override_settings(
        OSIS_ASYNC_BASE_URL="http://127.0.0.1:9/", OSIS_ASYNC_API_AUTHORIZATION="s"
    ):
        response = user_client.get(URL, HTTP_ORIGIN=INTRANET)
        answered = preflight(Client())
    assert response.status_code == 502
    assert response["Access-Control-Allow-Origin"] == INTRANET
    assert answered.status_code == 204


@listed
def test_the_progress_modal_stays_same_origin(
    user_client: Client, user: Any, make_task: Callable[..., AsyncTask]
) -> None:
    task = make_task(person=user)
    response = user_client.get(f"/osis_async/tasks/{task.uuid}/progress/", HTTP_ORIGIN=INTRANET)
    assert response.status_code == 200
    assert cors_headers(response) == {}


@override_settings(OSIS_ASYNC_DOMAIN_LIST=["https://intranet.example.org"])
def test_cors_only_for_listed_origins(user_client: Client) -> None:
    allowed = user_client.get(URL, HTTP_ORIGIN="https://intranet.example.org")
    assert allowed["Access-Control-Allow-Origin"] == "https://intranet.example.org"
    assert allowed["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in allowed["Vary"]
    assert allowed["Access-Control-Expose-Headers"] == "ETag, Link, Retry-After"
    refused = user_client.get(URL, HTTP_ORIGIN="https://evil.example.com")
    assert "Access-Control-Allow-Origin" not in refused
    preflight = Client().options(
        URL, HTTP_ORIGIN="https://intranet.example.org", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET"
    )
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "https://intranet.example.org"
    assert "If-None-Match" in preflight["Access-Control-Allow-Headers"]


def test_no_cors_headers_by_default(user_client: Client) -> None:
    response = user_client.get(URL, HTTP_ORIGIN="https://intranet.example.org")
    assert "Access-Control-Allow-Origin" not in response


@listed
def test_the_actions_answer_a_listed_origin_s_preflight_for_a_post(user: Any) -> None:
    for url in (
        f"/osis_async/tasks/{uuid.uuid4()}/cancel/",
        f"/osis_async/tasks/{uuid.uuid4()}/dismiss/",
        "/osis_async/tasks/dismiss-finished/",
    ):
        response = Client().options(
            url,
            HTTP_ORIGIN=INTRANET,
            HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
            HTTP_ACCESS_CONTROL_REQUEST_HEADERS="x-csrftoken",
        )
        assert response.status_code == 204
        assert response["Access-Control-Allow-Origin"] == INTRANET
        methods = {m.strip() for m in response["Access-Control-Allow-Methods"].split(",")}
        assert "POST" in methods
        assert "x-csrftoken" in response["Access-Control-Allow-Headers"].lower()
        refused = Client().post(url, HTTP_ORIGIN=INTRANET)
        assert refused.status_code in (401, 403)
        assert refused["Access-Control-Allow-Origin"] == INTRANET, "the widget reads the 403"
