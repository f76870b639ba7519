"""Remote mode against a real HTTP server on loopback."""

from __future__ import annotations

import json
import logging
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import Client, RequestFactory, override_settings

from osis_async.remote import forward

pytestmark = pytest.mark.django_db
URL = "/osis_async/tasks/"


class Remote:
    """What a remote API on loopback answers, and the requests it received."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.body: dict[str, Any] | bytes = {"count": 0, "pending_count": 0, "results": []}
        self.content_type = "application/json"
        self.headers: dict[str, str] = {}


@contextmanager
def serving(state: Remote) -> Iterator[str]:
    """A real HTTP server on a free loopback port, answering as ``state`` says."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            state.requests.append(
                {
                    "method": "POST",
                    "path": self.path,
                    "headers": self.headers,
                    "body": self.rfile.read(length),
                }
            )
            self.send_response(state.status)
            if state.status == 204:
                self.end_headers()
                return
            payload = json.dumps(state.body).encode()
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:  # noqa: N802
            state.requests.append({"path": self.path, "headers": self.headers})
            body = state.body
            payload = body if isinstance(body, bytes) else json.dumps(body).encode()
            if self.headers.get("If-None-Match") == '"v1"':
                self.send_response(304)
                self.send_header("ETag", '"v1"')
                self.end_headers()
                return
            self.send_response(state.status)
            self.send_header("ETag", '"v1"')
            if state.content_type:
                self.send_header("Content-Type", state.content_type)
            for name, value in state.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def remote() -> Iterator[tuple[str, Remote]]:
    state = Remote()
    with serving(state) as origin:
        yield f"{origin}/api/osis-async/", state


@pytest.fixture
def other_remote() -> Iterator[tuple[str, Remote]]:
    """A second server, on another port: another origin."""
    state = Remote()
    with serving(state) as origin:
        yield origin, state


def test_forwards_with_identity_headers(remote: tuple[str, Remote], user_client: Client) -> None:
    base_url, state = remote
    state.body = {"count": 1, "pending_count": 1, "next": None, "previous": None, "results": []}
    with override_settings(
        OSIS_ASYNC_BASE_URL=base_url, OSIS_ASYNC_API_AUTHORIZATION="Token s3cret"
    ):
        response = user_client.get(URL + "?limit=5&offset=10", HTTP_ACCEPT_LANGUAGE="fr")
    assert response.status_code == 200
    assert response.json() == state.body
    sent = state.requests[0]
    assert sent["path"] == "/api/osis-async/tasks/?limit=5&offset=10"
    headers = sent["headers"]
    assert headers["Authorization"] == "Token s3cret"
    assert headers["X-User-FirstName"] == "Alice"
    assert headers["X-User-LastName"] == "Liddell"
    assert headers["X-User-Email"] == "alice@example.org"
    assert headers["X-User-GlobalID"] == "alice"
    assert headers["Accept-Language"] == "fr"


def test_remote_errors_are_passed_on(remote: tuple[str, Remote], user_client: Client) -> None:
    base_url, state = remote
    state.status, state.body = 503, {"detail": "maintenance"}
    with override_settings(OSIS_ASYNC_BASE_URL=base_url, OSIS_ASYNC_API_AUTHORIZATION="s"):
        response = user_client.get(URL)
    assert (response.status_code, response.json()) == (503, {"detail": "maintenance"})


def test_unreachable_remote_is_a_502(user_client: Client) -> None:
    with override_settings(
        OSIS_ASYNC_BASE_URL="http://127.0.0.1:9/", OSIS_ASYNC_API_AUTHORIZATION="s"
    ):
        response = user_client.get(URL)
    assert response.status_code == 502
    assert response.json()["detail"] == "The remote task service did not answer."


def test_remote_mode_still_requires_login(remote: tuple[str, Remote]) -> None:
    base_url, state = remote
    with override_settings(OSIS_ASYNC_BASE_URL=base_url, OSIS_ASYNC_API_AUTHORIZATION="s"):
        assert Client().get(URL).status_code == 403
    assert state.requests == []


def test_conditional_polls_pass_through(remote: tuple[str, Remote], user_client: Client) -> None:
    base_url, _ = remote
    with override_settings(OSIS_ASYNC_BASE_URL=base_url, OSIS_ASYNC_API_AUTHORIZATION="s"):
        first = user_client.get(URL)
        again = user_client.get(URL, HTTP_IF_NONE_MATCH=first["ETag"])
    assert (first.status_code, first["ETag"]) == (200, '"v1"')
    assert (again.status_code, again.content) == (304, b"")


# Identity headers: any name, never a 500 (issue 9, item 7).


@dataclass
class FakeUser:
    """A user as a custom person getter or authentication backend may hand over: names the
    database would refuse (NUL) included."""

    first_name: str = ""
    last_name: str = ""
    email: str = ""
    username: str = "someone"
    is_authenticated: bool = True


AWKWARD_NAMES = [
    # (stored name, what the receiving side reads after urllib.parse.unquote)
    ("Łukasz", "Łukasz"),
    ("王芳", "王芳"),
    ("a\r\nX-Evil: 1", "aX-Evil: 1"),
    ("Zoë 🎉", "Zoë 🎉"),
    ("tab\there", "tabhere"),
    ("del\x7f c1\x85 end", "del c1 end"),
    ("100% sure", "100% sure"),
    ("  spaced  ", "spaced"),
]


def _printable_ascii(value: str) -> bool:
    return all(" " <= char <= "~" for char in value)


@pytest.mark.parametrize(("name", "read"), AWKWARD_NAMES)
def test_any_name_reaches_the_remote_percent_encoded(
    remote: tuple[str, Remote], make_user: Callable[..., Any], name: str, read: str
) -> None:
    base_url, state = remote
    user = make_user("lukasz", first_name=name, last_name=name, email=f"{name.strip()}@example.org")
    client = Client()
    client.force_login(user)
    with override_settings(OSIS_ASYNC_BASE_URL=base_url, OSIS_ASYNC_API_AUTHORIZATION="s"):
        response = client.get(URL)
    assert response.status_code == 200
    headers = state.requests[0]["headers"]
    assert "X-Evil" not in headers
    for header, expected in (
        ("X-User-FirstName", read),
        ("X-User-LastName", read),
        ("X-User-Email", f"{read}@example.org"),
    ):
        sent = headers[header]
        assert _printable_ascii(sent), (header, sent)
        assert urllib.parse.unquote(sent) == expected, header


def test_plain_ascii_is_sent_as_it_is_and_the_rest_encoded(
    remote: tuple[str, Remote], make_user: Callable[..., Any]
) -> None:
    base_url, state = remote
    user = make_user("o.brien", first_name="Seán", last_name="O'Brien-Smith (Jr.)")
    client = Client()
    client.force_login(user)
    with override_settings(OSIS_ASYNC_BASE_URL=base_url, OSIS_ASYNC_API_AUTHORIZATION="s"):
        assert client.get(URL).status_code == 200
    headers = state.requests[0]["headers"]
    assert headers["X-User-LastName"] == "O'Brien-Smith (Jr.)"
    assert headers["X-User-FirstName"] == "Se%C3%A1n"
    assert headers["X-User-GlobalID"] == "o.brien"


@pytest.mark.parametrize(
    "user",
    [
        FakeUser(first_name="nul\x00byte", last_name="\x00", email="\x00@\x00"),
        FakeUser(first_name="\ud800lone surrogate", username="\udfff"),
        FakeUser(first_name="\r\n\r\nGET / HTTP/1.1", username="x\ny"),
        FakeUser(first_name="é" * 2000),
    ],
    ids=["nul", "surrogates", "request-splitting", "long"],
)
def test_names_the_database_would_refuse_are_no_500_either(
    remote: tuple[str, Remote], user: FakeUser
) -> None:
    base_url, state = remote
    request = RequestFactory().get(URL)
    request.user = user  # type: ignore[assignment]
    with override_settings(OSIS_ASYNC_BASE_URL=base_url, OSIS_ASYNC_API_AUTHORIZATION="s"):
        response = forward(request, "tasks/")
    assert response.status_code == 200
    (sent,) = state.requests
    for header in ("X-User-FirstName", "X-User-LastName", "X-User-Email", "X-User-GlobalID"):
        assert _printable_ascii(sent["headers"].get(header, "")), header
    assert sent["path"] == "/api/osis-async/tasks/"


def test_a_query_string_that_is_not_ascii_is_re_encoded(
    remote: tuple[str, Remote], user_client: Client
) -> None:
    base_url, state = remote
    with override_settings(OSIS_ASYNC_BASE_URL=base_url, OSIS_ASYNC_API_AUTHORIZATION="s"):
        response = user_client.get(URL, QUERY_STRING="limit=5&q=\xe9t\xe9\r\nX-Evil: 1")
    assert response.status_code == 200
    path = state.requests[0]["path"]
    assert _printable_ascii(path)
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)["limit"] == ["5"]


def test_a_bad_shared_secret_is_a_502_not_a_500(
    remote: tuple[str, Remote], user_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    base_url, state = remote
    with (
        override_settings(
            OSIS_ASYNC_BASE_URL=base_url, OSIS_ASYNC_API_AUTHORIZATION="Token a\r\nX-Evil: 1"
        ),
        caplog.at_level(logging.WARNING, logger="osis_async"),
    ):
        response = user_client.get(URL)
    assert response.status_code == 502
    assert response["Content-Type"] == "application/json"
    assert state.requests == []
    assert "OSIS_ASYNC_API_AUTHORIZATION" in caplog.text


# Redirects: the secret and the identity never go to another origin (item 8).


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_origin_is_not_followed(
    remote: tuple[str, Remote],
    other_remote: tuple[str, Remote],
    user_client: Client,
    caplog: pytest.LogCaptureFixture,
    status: int,
) -> None:
    base_url, state = remote
    elsewhere, other = other_remote
    state.status = status
    state.headers = {"Location": f"{elsewhere}/steal/"}
    with (
        override_settings(OSIS_ASYNC_BASE_URL=base_url, OSIS_ASYNC_API_AUTHORIZATION="Token s"),
        caplog.at_level(logging.WARNING, logger="osis_async"),
    ):
        response = user_client.get(URL)
    assert other.requests == []
    assert len(state.requests) == 1
    assert response.status_code == 502
    assert response["Content-Type"] == "application/json"
    assert "redirect" in response.json()["detail"]
    assert elsewhere not in response.content.decode()
    assert f"{elsewhere}/steal/" in caplog.text
    assert str(status) in caplog.text


def test_a_redirect_on_the_same_origin_is_not_followed_either(
    remote: tuple[str, Remote], user_client: Client
) -> None:
    base_url, state = remote
    state.status = 302
    state.headers = {"Location": "/api/osis-async/tasks/?limit=15"}
    with override_settings(OSIS_ASYNC_BASE_URL=base_url, OSIS_ASYNC_API_AUTHORIZATION="s"):
        response = user_client.get(URL)
    assert len(state.requests) == 1
    assert response.status_code == 502


# Only JSON goes back to the browser (item 9).


@pytest.mark.parametrize(
    ("status", "content_type"),
    [
        (200, "text/html; charset=utf-8"),
        (200, "text/plain"),
        (200, ""),
        (200, "application/jsonp"),
        (500, "text/html"),
        (404, "image/svg+xml"),
    ],
)
def test_an_answer_that_is_not_json_becomes_a_json_502(
    remote: tuple[str, Remote],
    user_client: Client,
    caplog: pytest.LogCaptureFixture,
    status: int,
    content_type: str,
) -> None:
    base_url, state = remote
    state.status, state.content_type = status, content_type
    state.body = b"<script>alert(document.cookie)</script>"
    with (
        override_settings(OSIS_ASYNC_BASE_URL=base_url, OSIS_ASYNC_API_AUTHORIZATION="s"),
        caplog.at_level(logging.WARNING, logger="osis_async"),
    ):
        response = user_client.get(URL)
    assert response.status_code == 502
    assert response["Content-Type"] == "application/json"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"<script" not in response.content
    assert "not JSON" in response.json()["detail"]
    assert repr(content_type or None) in caplog.text


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "application/problem+json"],
)
def test_json_answers_go_back_as_application_json(
    remote: tuple[str, Remote], user_client: Client, content_type: str
) -> None:
    base_url, state = remote
    state.content_type = content_type
    state.body = {"count": 0, "pending_count": 0, "next": None, "previous": None, "results": []}
    with override_settings(OSIS_ASYNC_BASE_URL=base_url, OSIS_ASYNC_API_AUTHORIZATION="s"):
        response = user_client.get(URL)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response.json() == state.body


def test_retry_after_of_a_busy_remote_is_passed_on(
    remote: tuple[str, Remote], user_client: Client
) -> None:
    base_url, state = remote
    state.status, state.body = 503, {"detail": "busy"}
    state.headers = {"Retry-After": "7"}
    with override_settings(OSIS_ASYNC_BASE_URL=base_url, OSIS_ASYNC_API_AUTHORIZATION="s"):
        response = user_client.get(URL)
    assert (response.status_code, response["Retry-After"]) == (503, "7")


def test_the_actions_are_forwarded_as_posts(remote: tuple[str, Remote], user: Any) -> None:
    from django.middleware.csrf import get_token

    base_url, state = remote
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    page = RequestFactory().get("/")
    token = get_token(page)
    client.cookies["csrftoken"] = page.META["CSRF_COOKIE"]
    task_uuid = "6f1c3a52-8d0e-4b8e-9b1f-2a4c5d6e7f80"
    with override_settings(OSIS_ASYNC_BASE_URL=base_url, OSIS_ASYNC_API_AUTHORIZATION="s"):
        assert client.post(f"{URL}{task_uuid}/cancel/").status_code == 403, "CSRF first"
        assert state.requests == [], "nothing forwarded without the token"

        state.status, state.body = 202, {"uuid": task_uuid, "state": "CANCELLED"}
        cancelled = client.post(f"{URL}{task_uuid}/cancel/", HTTP_X_CSRFTOKEN=token)
        state.status = 204
        dismissed = client.post(f"{URL}{task_uuid}/dismiss/", HTTP_X_CSRFTOKEN=token)
        state.status, state.body = 200, {"dismissed": 2}
        cleared = client.post(f"{URL}dismiss-finished/", HTTP_X_CSRFTOKEN=token)
    assert cancelled.status_code == 202
    assert cancelled.json() == {"uuid": task_uuid, "state": "CANCELLED"}
    assert (dismissed.status_code, dismissed.content) == (204, b"")
    assert (cleared.status_code, cleared.json()) == (200, {"dismissed": 2})
    assert [(sent["method"], sent["path"]) for sent in state.requests] == [
        ("POST", f"/api/osis-async/tasks/{task_uuid}/cancel/"),
        ("POST", f"/api/osis-async/tasks/{task_uuid}/dismiss/"),
        ("POST", "/api/osis-async/tasks/dismiss-finished/"),
    ]
    for sent in state.requests:
        assert sent["headers"]["X-User-GlobalID"] == "alice"
        assert sent["headers"]["Authorization"] == "s"
        assert "X-CSRFToken" not in sent["headers"], "the browser's token stays here"
