"""Limit/offset paging that stays cheap and never fails on odd numbers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import QueryDict
from rest_framework.request import Request
from rest_framework.utils.urls import remove_query_param, replace_query_param

from osis_async.conf import get_settings
from osis_async.task_row import json_text


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int

    @classmethod
    def from_query(cls, query: QueryDict) -> Page:
        """Read ``?limit`` and ``?offset``; missing or malformed ones get their defaults.

        ``limit`` is clamped to ``OSIS_ASYNC_MAX_PAGE_SIZE``; ``offset`` must fit in 64 bits.
        """
        conf = get_settings()
        limit = _non_negative(query.get("limit"), default=conf.PAGE_SIZE, cutoff=conf.MAX_PAGE_SIZE)
        return cls(limit=limit or conf.PAGE_SIZE, offset=_non_negative(query.get("offset")))

    def body(self, request: Request, results: list[Any], counts: dict[str, int]) -> dict[str, Any]:
        """The list's JSON body: both counts, links to the pages around, the results."""
        return {
            "count": counts["count"],
            "pending_count": counts["pending_count"],
            "next": self.next_url(request, counts["count"]),
            "previous": self.previous_url(request),
            "results": results,
        }

    def render(self, request: Request, results: str, counts: dict[str, int]) -> bytes:
        """``body`` as UTF-8 JSON, around ``results`` given as a JSON array already. The line
        separators U+2028 and U+2029 are escaped, as DRF's renderer does."""
        fields = self.body(request, [], counts)
        del fields["results"]
        text = f'{json_text(fields)[:-1]},"results":{results}}}'
        if "\u2028" in text or "\u2029" in text:
            text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
        return text.encode()

    # The links of DRF's LimitOffsetPagination, built only when there is such a page.

    def next_url(self, request: Request, count: int) -> str | None:
        if self.offset + self.limit >= count:
            return None
        url = replace_query_param(request.build_absolute_uri(), "limit", self.limit)
        return replace_query_param(url, "offset", self.offset + self.limit)

    def previous_url(self, request: Request) -> str | None:
        if self.offset <= 0:
            return None
        url = replace_query_param(request.build_absolute_uri(), "limit", self.limit)
        if self.offset - self.limit <= 0:
            return remove_query_param(url, "offset")
        return replace_query_param(url, "offset", self.offset - self.limit)


OFFSET_CUTOFF = 2**63 - 1


def _non_negative(raw: str | None, *, default: int = 0, cutoff: int = OFFSET_CUTOFF) -> int:
    raw = (raw or "").strip()
    if not (raw.isascii() and raw.isdigit()):
        return default
    if len(raw) > len(str(cutoff)):
        return cutoff
    return min(int(raw), cutoff)
