"""The notes the tracking adds to a task's description (the attempt, the retry) and the
one-line summary of an error."""

from __future__ import annotations

from django.utils.translation import gettext

from osis_async.conf import get_settings
from osis_async.text import escape_unstorable, shorten

ERROR_SUMMARY_LENGTH = 200


def error_summary(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return shorten(escape_unstorable(text), ERROR_SUMMARY_LENGTH)


def with_note(base: str, note: str) -> str:
    """``base (note)``, ``base`` cut so the whole fits in ``OSIS_ASYNC_MAX_DESCRIPTION_LENGTH``."""
    limit = get_settings().MAX_DESCRIPTION_LENGTH
    note = escape_unstorable(note)
    if not base:
        return shorten(note, limit)
    room = limit - len(note) - len(" ()")
    if room < 1:
        return shorten(note, limit)
    return f"{shorten(escape_unstorable(base), room)} ({note})"


def attempt_description(base: str, attempt: int, max_attempts: int | None) -> str:
    if max_attempts:
        note = gettext("attempt %(attempt)d of %(total)d") % {
            "attempt": attempt,
            "total": max_attempts,
        }
    else:
        note = gettext("attempt %(attempt)d") % {"attempt": attempt}
    return with_note(base, note)


def retry_description(base: str, attempt: int, error: BaseException) -> str:
    note = gettext("attempt %(attempt)d failed: %(error)s; retrying") % {
        "attempt": attempt,
        "error": error_summary(error),
    }
    return with_note(base, note)
