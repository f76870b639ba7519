"""Fast checks of README.md's blocks, run with the unit suite: every block naming a file is one
the first-hour test applies, and the parser finds what that test needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.first_hour import readme
from tests.first_hour.test_readme import APPLIED_TARGETS


def test_every_block_naming_a_file_is_applied_by_the_first_hour_test() -> None:
    unknown = [
        block.where() for block in readme.blocks() if block.target not in (None, *APPLIED_TARGETS)
    ]
    assert unknown == [], (
        "README blocks name files the first-hour test does not apply; teach "
        "tests/first_hour/test_readme.py (APPLIED_TARGETS and apply_blocks): " + ", ".join(unknown)
    )


@pytest.mark.parametrize("target", sorted(APPLIED_TARGETS))
def test_every_target_the_test_applies_is_in_the_readme(target: tuple[str, str]) -> None:
    assert readme.for_target(*target)


def test_whole_files_have_one_block() -> None:
    for (name, qualifier), how in APPLIED_TARGETS.items():
        if how.startswith("the whole") or how.startswith("run"):
            readme.only(name, qualifier)


def test_the_parser(tmp_path: Path) -> None:
    document = tmp_path / "README.md"
    document.write_text(
        "# title\n\n## Install\n\n```bash\npip install x   # a comment\n# a note\n```\n\n"
        "## Serve it\n\n- a list item:\n\n  ```python\n  # mysite/settings.py, in production\n"
        "  DEBUG = False\n  ```\n\n```html\n{# templates/base.html #}\n<p></p>\n```\n"
    )
    install, settings, template = readme.blocks(document)
    assert (install.section, install.lang, install.target) == ("Install", "bash", None)
    assert settings.target == ("mysite/settings.py", "in production")
    assert settings.text == "# mysite/settings.py, in production\nDEBUG = False\n"
    assert template.target == ("templates/base.html", "")
    (command,) = readme.commands("Install", path=document)
    assert (command.text, command.shell, command.line) == (
        "pip install x   # a comment",
        "pip install x",
        6,
    )
    with pytest.raises(readme.ReadmeError, match="no code block starting with a comment"):
        readme.for_target("mysite/urls.py", path=document)
    with pytest.raises(readme.ReadmeError, match="has 0 commands matching"):
        readme.command("Install", "uvicorn", path=document)
