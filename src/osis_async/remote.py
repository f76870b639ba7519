"""Remote mode: forward the list request to a remote OSIS Async API.

The user's identity travels in ``X-User-*`` headers. Their values are made of printable ASCII
whatever the names hold: control characters (C0, DEL and C1, so CR and LF too) are dropped,
surrounding spaces trimmed, and every other character that is not printable ASCII, and ``%``
itself, is percent-encoded as UTF-8 (RFC 3986). A value of plain ASCII without ``%`` is sent
as it is; the receiving side reads every value back with ``urllib.parse.unquote(value)``.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import urllib.error
import urllib.parse
import urllib.request
from email.message import Message
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import get_language

from osis_async.conf import get_settings

logger = logging.getLogger(__name__)

#: C0 controls (CR and LF among them), DEL and C1 controls: dropped from identity values.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
#: Left as they are by the percent-encoding: printable ASCII, but ``%``.
_HEADER_SAFE = "".join(chr(code) for code in range(0x20, 0x7F) if chr(code) != "%")
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")


def _printable_ascii(value: str) -> bool:
    return all(" " <= char <= "~" for char in value)


def header_value(value: object) -> str:
    """``value`` as a header value of printable ASCII that ``urllib.parse.unquote`` reverses
    (but for the control characters and surrounding spaces it drops)."""
    text = _CONTROL.sub("", str(value)).strip()
    # A lone surrogate (no database stores one, a custom getter might) becomes "?".
    return urllib.parse.quote(text, safe=_HEADER_SAFE, errors="replace")


def _language() -> str:
    language = get_language() or ""
    return language if _LANGUAGE_TAG.fullmatch(language) else "en"


def identity_headers(request: HttpRequest) -> dict[str, str]:
    """The headers that tell the remote API who is asking, percent-encoded where needed."""
    user: Any = request.user
    person = getattr(user, "person", None)
    global_id = getattr(person, "global_id", None) or getattr(user, "username", "")
    identity = {
        "X-User-FirstName": getattr(person, "first_name", None) or user.first_name or "",
        "X-User-LastName": getattr(person, "last_name", None) or user.last_name or "",
        "X-User-Email": getattr(person, "email", None) or user.email or "",
        "X-User-GlobalID": global_id,
    }
    headers = {"Accept": "application/json", "Accept-Language": _language()}
    headers.update({name: header_value(value) for name, value in identity.items()})
    return headers


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Follows no redirect: the shared secret and the user's identity go to ``BASE_URL``'s
    origin and nowhere else. The 3xx then comes back as an ``HTTPError``."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_RefuseRedirects)


def _failure(detail: str) -> HttpResponse:
    response = HttpResponse(
        json.dumps({"detail": detail}), status=502, content_type="application/json"
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


def forward(request: HttpRequest, path: str, method: str = "GET") -> HttpResponse:
    """``method`` (GET, or POST with no body for an action) ``path`` on the remote API with the
    request's query; answer what it answered."""
    conf = get_settings()
    url = urllib.parse.urljoin(conf.BASE_URL, path)
    # Parsed and encoded again, so only percent-encoded ASCII goes into the request line.
    query = request.GET.urlencode()
    if query:
        url = f"{url}?{query}"
    headers = identity_headers(request)
    if conf.API_AUTHORIZATION:
        if not _printable_ascii(conf.API_AUTHORIZATION):
            logger.error(
                "OSIS_ASYNC_API_AUTHORIZATION holds characters a header cannot carry (control "
                "characters or non-ASCII); the remote OSIS Async API at %s was not asked.",
                url,
            )
            return _failure("The remote task service is not configured correctly.")
        headers["Authorization"] = conf.API_AUTHORIZATION
    validators = request.headers.get("If-None-Match", "")
    if validators and _printable_ascii(validators):
        headers["If-None-Match"] = validators
    data = b"" if method == "POST" else None
    remote_request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        status, answer_headers, body = _ask(remote_request, conf.REMOTE_TIMEOUT)
    except (
        urllib.error.URLError,
        TimeoutError,
        OSError,
        http.client.HTTPException,
        ValueError,
    ) as error:
        logger.warning("Remote OSIS Async API at %s did not answer: %s", url, error)
        return _failure("The remote task service did not answer.")
    if 300 <= status < 400 and status != 304:
        return _refused_redirect(url, status, answer_headers)
    return _relay(url, status, body, answer_headers)


def _ask(remote_request: urllib.request.Request, timeout: float) -> tuple[int, Message, bytes]:
    """The remote's status, headers and body; an error status (3xx included) is an answer."""
    try:
        with _opener.open(remote_request, timeout=timeout) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers, error.read()


def _refused_redirect(url: str, status: int, headers: Message) -> HttpResponse:
    logger.warning(
        "Remote OSIS Async API at %s answered a redirect (%s) to %r, which is not followed: "
        "set OSIS_ASYNC_BASE_URL to the address that answers.",
        url,
        status,
        headers.get("Location"),
    )
    return _failure("The remote task service answered a redirect, which is not followed.")


def _is_json(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def _relay(url: str, status: int, body: bytes, headers: Message) -> HttpResponse:
    """The remote's answer for the browser: only JSON (or a bodiless 204 or 304), served as
    ``application/json`` that the browser must not sniff, with the remote's validators."""
    if status in (204, 304):
        response = HttpResponse(status=status)
    elif _is_json(headers.get("Content-Type")):
        response = HttpResponse(body, status=status, content_type="application/json")
    else:
        logger.warning(
            "Remote OSIS Async API at %s answered %s with Content-Type %r, not JSON; the "
            "browser gets a 502.",
            url,
            status,
            headers.get("Content-Type"),
        )
        return _failure("The remote task service answered something that is not JSON.")
    response["X-Content-Type-Options"] = "nosniff"
    for name in ("ETag", "Cache-Control", "Retry-After"):
        value = headers.get(name)
        if value and _printable_ascii(value):
            response[name] = value
    return response
