"""Limit/offset paging that stays cheap and never fails on odd numbers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import QueryDict
from django.utils.http import urlencode
from rest_framework.request import Request

from osis_async.conf import get_settings
from osis_async.serializers import json_text


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

    def next_url(self, request: Request, count: int) -> str | None:
        if self.offset + self.limit >= count:
            return None
        return _with_page(request, self.limit, self.offset + self.limit)

    def previous_url(self, request: Request) -> str | None:
        if self.offset <= 0:
            return None
        return _with_page(request, self.limit, max(self.offset - self.limit, 0))


OFFSET_CUTOFF = 2**63 - 1


def _non_negative(raw: str | None, *, default: int = 0, cutoff: int = OFFSET_CUTOFF) -> int:
    raw = (raw or "").strip()
    if not (raw.isascii() and raw.isdigit()):
        return default
    if len(raw) > len(str(cutoff)):
        return cutoff
    return min(int(raw), cutoff)


def _with_page(request: Request, limit: int, offset: int) -> str:
    base = request.build_absolute_uri(request.path)
    query = request.query_params
    params = {key: values for key, values in query.lists() if key not in ("limit", "offset")}
    params["limit"] = [str(limit)]
    if offset:
        params["offset"] = [str(offset)]
    return f"{base}?{urlencode(sorted(params.items()), doseq=True)}"
