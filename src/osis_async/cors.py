"""CORS for this app's JSON endpoints (the list, and the cancel and dismiss actions), for the
origins in ``OSIS_ASYNC_DOMAIN_LIST``.

A view wrapped in :func:`allow_listed_origins` answers a listed origin's preflight itself,
before the view (so before DRF's authentication and permissions, which a preflight, sent
without credentials, can never pass), and adds the CORS headers to every other answer it
gives that origin: 200, 304, 401, 403, 502 alike, so the widget can read them all.

Why not django-cors-headers: it is a middleware configured by project-wide ``CORS_*``
settings. A reusable app cannot add a middleware to the host's ``MIDDLEWARE``, and using it
here would make ``OSIS_ASYNC_DOMAIN_LIST`` need the host's ``CORS_ALLOW_CREDENTIALS``,
``CORS_EXPOSE_HEADERS`` and ``CORS_URLS_REGEX`` too, or a ``check_request_enabled`` receiver,
which would open every URL of a host that runs the middleware to these origins. The few
headers the endpoints need are written here instead.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.cache import patch_vary_headers

from osis_async.conf import get_settings

ALLOW_METHODS = "GET, HEAD, OPTIONS, POST"
#: Beyond the CORS-safelisted ones: the widget's validator and CSRF token, and the token of an
#: API client.
ALLOW_HEADERS = "Accept, Accept-Language, Authorization, If-None-Match, X-CSRFToken"
#: What the widget reads besides the safelisted response headers.
EXPOSE_HEADERS = "ETag, Link, Retry-After"
#: Seconds a browser may keep a preflight's answer: Chromium keeps none longer than 2 hours.
MAX_AGE = 7200

View = Callable[..., HttpResponseBase]


def allowed_origin(request: HttpRequest) -> str | None:
    """The request's ``Origin`` when ``OSIS_ASYNC_DOMAIN_LIST`` lists it, else ``None``."""
    origin = request.headers.get("Origin")
    if not origin:
        return None
    listed = {entry.lower() for entry in get_settings().DOMAIN_LIST}
    return origin if origin.lower() in listed else None


def is_preflight(request: HttpRequest) -> bool:
    return request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers


def add_headers(
    response: HttpResponseBase, origin: str | None, *, preflight: bool = False
) -> HttpResponseBase:
    """Lets ``origin`` read ``response`` with the user's cookies; ``None`` adds nothing but
    ``Vary: Origin`` (while origins are listed, the answer depends on the ``Origin``)."""
    if get_settings().DOMAIN_LIST:
        patch_vary_headers(response, ["Origin"])
    if origin is None:
        return response
    response["Access-Control-Allow-Origin"] = origin
    response["Access-Control-Allow-Credentials"] = "true"
    if preflight:
        response["Access-Control-Allow-Methods"] = ALLOW_METHODS
        response["Access-Control-Allow-Headers"] = ALLOW_HEADERS
        response["Access-Control-Max-Age"] = str(MAX_AGE)
    else:
        response["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
    return response


def allow_listed_origins(view: View) -> View:
    """``view``, readable from the origins of ``OSIS_ASYNC_DOMAIN_LIST`` with credentials."""

    @wraps(view)
    def cors_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        origin = allowed_origin(request)
        if origin is not None and is_preflight(request):
            return add_headers(HttpResponse(status=204), origin, preflight=True)
        return add_headers(view(request, *args, **kwargs), origin)

    return cors_view
