"""Which person a request's tasks belong to."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest
from django.utils.module_loading import import_string

from osis_async.conf import get_settings


def get_person(request: HttpRequest) -> Any | None:
    """The person whose tasks ``request`` may see, or ``None`` for nobody.

    ``OSIS_ASYNC_PERSON_GETTER`` decides when set; otherwise it is ``request.user`` when the
    person model is the user model, else ``request.user.person``.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    getter = get_settings().PERSON_GETTER
    if getter:
        return _import_getter(getter)(request)
    if _model_label(get_settings().PERSON_MODEL) == _model_label(settings.AUTH_USER_MODEL):
        return user
    try:
        return user.person
    except (AttributeError, ObjectDoesNotExist):
        return None


@cache
def _import_getter(path: str) -> Callable[[HttpRequest], Any]:
    getter: Callable[[HttpRequest], Any] = import_string(path)
    return getter


def _model_label(label: str) -> str:
    return label.lower()
