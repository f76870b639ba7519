"""Old descriptions keep their links: ``<a href>`` with a safe href becomes a link, everything else
is text (``osis_async.links``; the widget's ``frontend/src/links.ts`` answers the same cases)."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osis_async.links import description_parts, is_safe_url
from osis_async.templatetags.osis_async import linked

CASES = json.loads((Path(__file__).parent / "link_cases.json").read_text())


@pytest.mark.parametrize("case", CASES, ids=[case["text"][:40] for case in CASES])
def test_the_shared_cases(case: dict[str, Any]) -> None:
    found = [[part.text, part.href] for part in description_parts(case["text"])]
    assert found == case["parts"]


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text += data


# Strings made of the pieces markup is made of, so the parser meets tags, near-tags and hrefs.
PIECES = st.sampled_from(
    [
        "<a",
        "</a>",
        ">",
        "<",
        " href=",
        '"',
        "'",
        "/x",
        "//h",
        "https://e.org/",
        "http:",
        "javascript:",
        "data:",
        "&amp;",
        "&#58;",
        " onclick=",
        " target=",
        "_blank",
        "\\",
        " ",
        "\n",
        "\t",
        "é",
        "<script>",
        "<img src=x onerror=alert(1)>",
        "a",
        "=",
    ]
)
MARKUPISH = st.lists(st.one_of(PIECES, st.text(max_size=3)), max_size=30).map("".join)


@given(MARKUPISH)
def test_every_link_is_safe_and_the_text_comes_back_whole(text: str) -> None:
    parts = description_parts(text)
    for part in parts:
        if part.href is not None:
            assert is_safe_url(part.href)
            assert part.href.lower().startswith(("http://", "https://", "/"))
            assert not part.href.startswith("//")
    if all(part.href is None for part in parts):
        assert "".join(part.text for part in parts) == text


@given(MARKUPISH)
def test_the_modals_html_holds_no_tag_but_safe_links(text: str) -> None:
    parser = Tags()
    parser.feed(str(linked(text)))
    parser.close()
    for tag, attrs in parser.tags:
        assert tag == "a"
        values = dict(attrs)
        assert set(values) == {"href", "target", "rel"}
        assert values["rel"] == "noopener noreferrer"
        assert is_safe_url(values["href"] or "")


@given(st.text(max_size=40))
def test_text_without_a_link_is_shown_as_it_is(text: str) -> None:
    parser = Tags()
    parser.feed(str(linked(text.replace("<a", ""))))
    parser.close()
    assert parser.tags == []


def test_the_modal_renders_an_old_download_link() -> None:
    html = str(linked('Ready: <a href="/media/x.pdf">Download</a> <b>now</b>'))
    assert html == (
        'Ready: <a href="/media/x.pdf" target="_blank" rel="noopener noreferrer">Download</a>'
        " &lt;b&gt;now&lt;/b&gt;"
    )
