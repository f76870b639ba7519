"""The Markdown documents' links: every relative link names a file that exists, and every
``#anchor`` a heading of its target (GitHub's rule for heading anchors)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = sorted([ROOT / "README.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").glob("*.md")])
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)


def anchors(path: Path) -> set[str]:
    """The anchors GitHub gives the headings of ``path``."""
    seen: dict[str, int] = {}
    result = set()
    for line in FENCE.sub("", path.read_text()).splitlines():
        if not line.startswith("#"):
            continue
        text = line.lstrip("#").strip().lower()
        slug = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_links_point_at_files_and_headings_that_exist(document: Path) -> None:
    if not document.exists():
        pytest.skip(f"{document.name} is not there")
    broken = []
    for target in LINK.findall(FENCE.sub("", document.read_text())):
        if re.match(r"[a-z]+:", target):
            continue  # an absolute URL
        file_part, _, anchor = target.partition("#")
        path = (document.parent / file_part).resolve() if file_part else document
        if not path.exists():
            broken.append(f"{target}: no file {path.relative_to(ROOT)}")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{target}: no heading with the anchor #{anchor} in {path.name}")
    assert broken == [], "\n".join(broken)


def test_the_readme_settings_table_lists_every_setting_with_its_default() -> None:
    import ast
    from dataclasses import MISSING, fields

    from osis_async.conf import PREFIX, AsyncSettings

    rows = re.findall(
        r"^\| `OSIS_ASYNC_([A-Z_]+)` \| `([^`]*)` \|", (ROOT / "README.md").read_text(), re.M
    )
    documented = dict(rows)
    assert len(documented) == len(rows), "a setting is listed twice"
    assert set(documented) == {field.name for field in fields(AsyncSettings)}
    for field in fields(AsyncSettings):
        if field.default is MISSING:  # PERSON_MODEL: AUTH_USER_MODEL
            assert documented[field.name] == "AUTH_USER_MODEL"
            continue
        shown = ast.literal_eval(documented[field.name])
        default = field.default
        if isinstance(default, tuple):
            shown = tuple(shown)
        assert shown == default, f"{PREFIX}{field.name}: README says {shown!r}, conf {default!r}"
