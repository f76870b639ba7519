"""The rule for text the database cannot store: U+0000 (NUL) and lone surrogates (U+D800 to
U+DFFF).

PostgreSQL refuses NUL in text columns, and no database driver can encode a lone surrogate to
UTF-8. Text a caller gives (a task's name, description or traceback) that holds one is refused
(``check_storable``); text osis-async composes itself (a formatted traceback, a retry note, a
sweep message) has each such character written as its visible escape, such as ``\\x00`` or
``\\ud800`` (``escape_unstorable``), so it can always be stored.
"""

from __future__ import annotations

import re

from osis_async.exceptions import InvalidTaskUpdate

__all__ = ["UNSTORABLE", "check_storable", "escape_unstorable", "first_unstorable", "shorten"]

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

ALLOWED = "any text without NUL (U+0000) or lone surrogates (U+D800 to U+DFFF)"


def first_unstorable(text: str) -> tuple[int, str] | None:
    """``(index, character)`` of the first character of ``text`` the database cannot store."""
    match = UNSTORABLE.search(text)
    return None if match is None else (match.start(), match.group())


def check_storable(field: str, text: str) -> None:
    """Raise ``InvalidTaskUpdate`` naming ``field`` if ``text`` holds an unstorable character."""
    found = first_unstorable(text)
    if found is not None:
        index, character = found
        raise InvalidTaskUpdate(
            f"{field} holds U+{ord(character):04X} at index {index}, which the database cannot "
            f"store; give {ALLOWED}."
        )


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_unstorable(text: str) -> str:
    """``text`` with each unstorable character written as its escape (``\\x00``, ``\\ud800``)."""
    return UNSTORABLE.sub(_escape, text)


def shorten(text: str, limit: int) -> str:
    """``text``, cut to at most ``limit`` characters with an ellipsis ("…") when longer."""
    if len(text) <= limit:
        return text
    if limit < 1:
        return ""
    return text[: limit - 1] + "…"
