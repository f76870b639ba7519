"""Remote mode: forward the list request to a remote OSIS Async API."""

from __future__ import annotations

import logging
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from django.http import HttpRequest
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


def forward(request: HttpRequest, path: str) -> tuple[int, bytes, str]:
    """GET ``path`` on the remote API with the request's query; return status, body, type."""
    conf = get_settings()
    url = urllib.parse.urljoin(conf.BASE_URL, path)
    if request.META.get("QUERY_STRING"):
        url = f"{url}?{request.META['QUERY_STRING']}"
    remote_request = urllib.request.Request(url, headers=identity_headers(request), method="GET")
    try:
        with urllib.request.urlopen(remote_request, timeout=conf.REMOTE_TIMEOUT) as response:
            return (
                response.status,
                response.read(),
                response.headers.get("Content-Type", "application/json"),
            )
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers.get("Content-Type", "application/json")
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        logger.warning("Remote OSIS Async API at %s did not answer: %s", url, error)
        return 502, b'{"detail": "The remote task service did not answer."}', "application/json"
