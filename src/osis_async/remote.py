"""Remote mode: forward the list request to a remote OSIS Async API."""

from __future__ import annotations

import logging
import urllib.error
import urllib.parse
import urllib.request
from email.message import Message
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import get_language

from osis_async.conf import get_settings

logger = logging.getLogger(__name__)


def identity_headers(request: HttpRequest) -> dict[str, str]:
    """The headers that tell the remote API who is asking."""
    user: Any = request.user
    person = getattr(user, "person", None)
    global_id = getattr(person, "global_id", None) or getattr(user, "username", "")
    headers = {
        "Accept": "application/json",
        "Accept-Language": get_language() or "en",
        "X-User-FirstName": getattr(person, "first_name", None) or user.first_name or "",
        "X-User-LastName": getattr(person, "last_name", None) or user.last_name or "",
        "X-User-Email": getattr(person, "email", None) or user.email or "",
        "X-User-GlobalID": str(global_id),
    }
    authorization = get_settings().API_AUTHORIZATION
    if authorization:
        headers["Authorization"] = authorization
    return headers


def forward(request: HttpRequest, path: str) -> HttpResponse:
    """GET ``path`` on the remote API with the request's query; answer what it answered."""
    conf = get_settings()
    url = urllib.parse.urljoin(conf.BASE_URL, path)
    if request.META.get("QUERY_STRING"):
        url = f"{url}?{request.META['QUERY_STRING']}"
    headers = identity_headers(request)
    if "If-None-Match" in request.headers:
        headers["If-None-Match"] = request.headers["If-None-Match"]
    remote_request = urllib.request.Request(url, headers=headers, method="GET")
    try:
        with urllib.request.urlopen(remote_request, timeout=conf.REMOTE_TIMEOUT) as answer:
            return _relay(answer.status, answer.read(), answer.headers)
    except urllib.error.HTTPError as error:
        return _relay(error.code, error.read(), error.headers)
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        logger.warning("Remote OSIS Async API at %s did not answer: %s", url, error)
        return HttpResponse(
            b'{"detail": "The remote task service did not answer."}',
            status=502,
            content_type="application/json",
        )


def _relay(status: int, body: bytes, headers: Message) -> HttpResponse:
    response = HttpResponse(
        body, status=status, content_type=headers.get("Content-Type", "application/json")
    )
    for name in ("ETag", "Cache-Control"):
        if headers.get(name):
            response[name] = headers[name]
    return response
