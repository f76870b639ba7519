"""Which open streams' sessions no longer sign their user in, checked for many at once.

A stream opened with a session ends when that session does: logged out (the logout is told at
once, ``signals``), deleted or expired, or made stale by a password change (its auth hash no
longer matches). The hub asks at every keep-alive; with the database session backends it is one
query for the sessions and one for the users per thousand streams.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from importlib import import_module
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.utils import timezone
from django.utils.crypto import constant_time_compare

#: Sessions (and users) read per query.
CHUNK = 1000

T = TypeVar("T")


def ended_sessions(signed_in: Collection[tuple[str, str]]) -> set[str]:
    """Of ``(session key, user id)`` pairs, the keys of the sessions that no longer sign that
    user in."""
    data = dict(_session_data({key for key, _ in signed_in}))
    users = _users({user_id for _, user_id in signed_in})
    return {
        key
        for key, user_id in signed_in
        if not _signs_in(data.get(key), user_id, users.get(user_id))
    }


def _signs_in(session: dict[str, Any] | None, user_id: str, user: Any) -> bool:
    if session is None or str(session.get(SESSION_KEY)) != user_id:
        return False
    return _hash_matches(user, session.get(HASH_SESSION_KEY))


def _session_data(keys: set[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    store_class = import_module(settings.SESSION_ENGINE).SessionStore
    if issubclass(store_class, DatabaseSessionStore):
        model = store_class.get_model_class()
        decoder = store_class()
        now = timezone.now()
        for chunk in _chunks(keys):
            rows = model.objects.filter(session_key__in=chunk, expire_date__gt=now)
            for key, encoded in rows.values_list("session_key", "session_data"):
                yield key, decoder.decode(encoded)
        return
    for key in keys:
        store = store_class(key)
        session = store.load()
        if store.session_key is not None and session:
            yield key, session


def _users(user_ids: set[str]) -> dict[str, Any]:
    """The users by id (as text); the inactive ones are left out, as Django's backend does."""
    model = get_user_model()
    pk = model._meta.pk
    assert pk is not None
    found: dict[str, Any] = {}
    for chunk in _chunks(user_ids):
        values = []
        for user_id in chunk:
            try:
                values.append(pk.to_python(user_id))
            except Exception:  # a session naming a user id of another type: not this user
                continue
        for user in model._default_manager.filter(pk__in=values):
            if getattr(user, "is_active", True):
                found[str(user.pk)] = user
    return found


def _hash_matches(user: Any, session_hash: Any) -> bool:
    """Whether the session's auth hash is the user's (with the current secret key or a
    fallback one, as ``django.contrib.auth.get_user`` accepts)."""
    if user is None:
        return False
    if not hasattr(user, "get_session_auth_hash"):
        return True
    if not isinstance(session_hash, str):
        return False
    if constant_time_compare(session_hash, user.get_session_auth_hash()):
        return True
    fallback = getattr(user, "_get_session_auth_hash", None)
    return fallback is not None and any(
        constant_time_compare(session_hash, fallback(secret=secret))
        for secret in settings.SECRET_KEY_FALLBACKS
    )


def _chunks(values: Iterable[T]) -> Iterator[list[T]]:
    chunk: list[T] = []
    for value in values:
        chunk.append(value)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
