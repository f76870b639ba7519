"""Remote mode against a real HTTP server on loopback, and the CORS allow-list."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db
URL = "/osis_async/tasks/"


class Remote:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.body: dict[str, Any] = {"count": 0, "pending_count": 0, "results": []}


@pytest.fixture
def remote() -> Iterator[tuple[str, Remote]]:
    state = Remote()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            state.requests.append({"path": self.path, "headers": self.headers})
            payload = json.dumps(state.body).encode()
            if self.headers.get("If-None-Match") == '"v1"':
                self.send_response(304)
                self.send_header("ETag", '"v1"')
                self.end_headers()
                return
            self.send_response(state.status)
            self.send_header("ETag", '"v1"')
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/osis-async/", state
    finally:
        server.shutdown()
        server.server_close()


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


@override_settings(OSIS_ASYNC_DOMAIN_LIST=["https://intranet.example.org"])
def test_cors_only_for_listed_origins(user_client: Client) -> None:
    allowed = user_client.get(URL, HTTP_ORIGIN="https://intranet.example.org")
    assert allowed["Access-Control-Allow-Origin"] == "https://intranet.example.org"
    assert allowed["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in allowed["Vary"]
    assert "If-None-Match" in allowed["Access-Control-Allow-Headers"]
    assert allowed["Access-Control-Expose-Headers"] == "ETag, Link"
    refused = user_client.get(URL, HTTP_ORIGIN="https://evil.example.com")
    assert "Access-Control-Allow-Origin" not in refused
    preflight = Client().options(URL, HTTP_ORIGIN="https://intranet.example.org")
    assert preflight["Access-Control-Allow-Origin"] == "https://intranet.example.org"


def test_no_cors_headers_by_default(user_client: Client) -> None:
    response = user_client.get(URL, HTTP_ORIGIN="https://intranet.example.org")
    assert "Access-Control-Allow-Origin" not in response


def test_conditional_polls_pass_through(remote: tuple[str, Remote], user_client: Client) -> None:
    base_url, _ = remote
    with override_settings(OSIS_ASYNC_BASE_URL=base_url, OSIS_ASYNC_API_AUTHORIZATION="s"):
        first = user_client.get(URL)
        again = user_client.get(URL, HTTP_IF_NONE_MATCH=first["ETag"])
    assert (first.status_code, first["ETag"]) == (200, '"v1"')
    assert (again.status_code, again.content) == (304, b"")
