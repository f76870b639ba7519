"""Who may read the task endpoints: the project's DRF authentication, with Django's session."""

from __future__ import annotations

from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.settings import api_settings


def authentication_classes() -> list[type[BaseAuthentication]]:
    """The project's DRF authentication classes, with Django's session always among them."""
    classes: list[type[BaseAuthentication]] = list(
        api_settings.DEFAULT_AUTHENTICATION_CLASSES  # type: ignore[arg-type]
    )
    if not any(issubclass(cls, SessionAuthentication) for cls in classes):
        classes.append(SessionAuthentication)
    return classes
