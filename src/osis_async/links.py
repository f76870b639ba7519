"""Safe links in descriptions: the ``<a href="…">label</a>`` that OSIS apps write into a task's
description, and the URL rule results follow.

A description is text. Only one form of markup in it becomes a link: an ``a`` tag whose ``href``
is ``http``, ``https`` or a site-relative path (``/…``, not ``//…``), with a plain-text label,
and no attribute but ``href`` and the harmless ``target``, ``rel``, ``class``, ``title`` and
``download`` (dropped: the link opens with ``rel="noopener noreferrer"`` whatever it said). Any
other tag, attribute or href is shown as the text it is. The widget has the same parser
(``frontend/src/links.ts``); ``tests/link_cases.json`` holds both to the same answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["Part", "URL_MAX_LENGTH", "description_parts", "is_safe_url"]

#: The longest URL accepted.
URL_MAX_LENGTH = 2_000

_ATTRIBUTE = r"""\s+([a-zA-Z][a-zA-Z-]*)\s*=\s*(?:"([^"<>]*)"|'([^'<>]*)')"""
_LINK = re.compile(
    rf"<a((?:{_ATTRIBUTE})+)\s*>([^<>]*)</a\s*>",
    re.IGNORECASE,
)
_ONE_ATTRIBUTE = re.compile(_ATTRIBUTE)
_IGNORED = frozenset({"target", "rel", "class", "title", "download"})
_ENTITIES = {"&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#39;": "'", "&#x27;": "'"}
_ENTITY = re.compile("|".join(map(re.escape, _ENTITIES)), re.IGNORECASE)
# Whitespace, controls and backslashes: browsers drop or rewrite them (``/\\host`` is ``//host``).
_ABSOLUTE = re.compile(r"https?://[^/?#]", re.IGNORECASE)
_UNSAFE_CHARACTER = re.compile(r"[\s\x00-\x1f\x7f\\]")


@dataclass(frozen=True)
class Part:
    """A piece of a description: text, or a link's label with its ``href``."""

    text: str
    href: str | None = None


def is_safe_url(value: str) -> bool:
    """``value`` is an ``http``/``https`` URL with a host, or a site-relative path."""
    if not value or len(value) > URL_MAX_LENGTH or _UNSAFE_CHARACTER.search(value):
        return False
    if value.startswith("/"):
        return not value.startswith("//")
    if not _ABSOLUTE.match(value):  # "http:host" and "https:/host" are not links
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def _unescape(text: str) -> str:
    return _ENTITY.sub(lambda match: _ENTITIES[match.group().lower()], text)


def _href(attributes: str) -> str | None:
    """The link's ``href`` if its attributes are an ``href`` and ignored ones only."""
    href = None
    for match in _ONE_ATTRIBUTE.finditer(attributes):
        name = match.group(1).lower()
        value = match.group(2) if match.group(2) is not None else match.group(3)
        if name == "href" and href is None:
            href = _unescape(value)
        elif name not in _IGNORED:
            return None
    return href if href is not None and is_safe_url(href) else None


def description_parts(text: str) -> list[Part]:
    """``text`` as text parts and links, in order; adjacent text parts merged."""
    parts: list[Part] = []
    start = 0

    def add_text(piece: str) -> None:
        if not piece:
            return
        if parts and parts[-1].href is None:
            parts[-1] = Part(parts[-1].text + piece)
        else:
            parts.append(Part(piece))

    for match in _LINK.finditer(text):
        href = _href(match.group(1))
        if href is None:
            continue
        add_text(text[start : match.start()])
        label = _unescape(match.group(5)).strip()
        parts.append(Part(label or href, href))
        start = match.end()
    add_text(text[start:])
    return parts
