"""README.md's code blocks, as the first-hour test applies them.

A block that goes into a file names it on its first line, as a comment::

    # mysite/settings.py                  appended to the project's settings
    # mysite/settings.py, in production   the same, for the production step
    # mysite/asgi.py                      the whole file
    {# templates/base.html #}             the whole template
    # python manage.py shell              code to run in the shell

Blocks without such a line are not applied; commands (``pip install …``, ``uvicorn …``) are
found by what they start with, in the section that gives them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"

FENCE = re.compile(
    r"^(?P<indent> *)```(?P<lang>[\w-]*)\n(?P<body>.*?)^(?P=indent)```$", re.M | re.S
)
MARKER = re.compile(
    r"^(?:#|\{#)\s*"
    r"(?P<target>[\w./-]+\.(?:py|html)|python manage\.py shell)"
    r"(?:,\s*(?P<qualifier>[^#}]*?))?"
    r"\s*(?:#\})?$"
)


@dataclass(frozen=True)
class Block:
    line: int  # README.md's line of the opening fence
    section: str  # the ``##`` heading above it
    lang: str
    text: str

    @property
    def first_line(self) -> str:
        return self.text.split("\n", 1)[0].strip()

    @property
    def target(self) -> tuple[str, str] | None:
        """``(file, qualifier)`` the block names on its first line, or None."""
        match = MARKER.match(self.first_line)
        if match is None:
            return None
        return match["target"], (match["qualifier"] or "").strip()

    def where(self) -> str:
        return f"README.md line {self.line} ({self.section!r}, {self.first_line!r})"


class ReadmeError(AssertionError):
    """README.md no longer has what the first-hour test applies."""


def blocks(path: Path = README) -> list[Block]:
    text = path.read_text()
    headings = [(m.start(), m["title"]) for m in re.finditer(r"^## (?P<title>.+)$", text, re.M)]
    found = []
    for match in FENCE.finditer(text):
        section = next((title for start, title in reversed(headings) if start < match.start()), "")
        body = "\n".join(
            line.removeprefix(match["indent"]) for line in match["body"].split("\n")
        ).rstrip("\n")
        found.append(
            Block(
                line=text.count("\n", 0, match.start()) + 1,
                section=section,
                lang=match["lang"],
                text=body + "\n",
            )
        )
    return found


def for_target(target: str, qualifier: str = "", *, path: Path = README) -> list[Block]:
    """The blocks naming ``target`` (with ``qualifier``), in README order; at least one."""
    found = [block for block in blocks(path) if block.target == (target, qualifier)]
    if not found:
        named = f"{target}, {qualifier}" if qualifier else target
        raise ReadmeError(
            f"README.md has no code block starting with a comment naming {named!r}: the "
            "first-hour test applies it to the new project. Put the marker back, or teach "
            "tests/first_hour/test_readme.py the README's new layout."
        )
    return found


def only(target: str, qualifier: str = "", *, path: Path = README) -> Block:
    """The one block naming ``target``: a whole file."""
    found = for_target(target, qualifier, path=path)
    if len(found) > 1:
        raise ReadmeError(
            f"README.md has {len(found)} blocks naming {target!r} ("
            + ", ".join(f"line {block.line}" for block in found)
            + "), which the first-hour test writes as a whole file: keep one."
        )
    return found[0]


@dataclass(frozen=True)
class Command:
    line: int
    section: str
    text: str

    def where(self) -> str:
        return f"README.md line {self.line} ({self.section!r})"

    @property
    def shell(self) -> str:
        """The command without its trailing ``# comment``, to add arguments to."""
        return re.sub(r"\s+#\s.*$", "", self.text)


def commands(section: str, *, path: Path = README) -> list[Command]:
    """The shell lines of the ``bash`` blocks of the section whose heading starts with
    ``section``, comments kept."""
    found = []
    for block in blocks(path):
        if block.lang != "bash" or not block.section.startswith(section):
            continue
        for offset, line in enumerate(block.text.splitlines(), 1):
            if line.strip() and not line.lstrip().startswith("#"):
                found.append(Command(block.line + offset, block.section, line.strip()))
    return found


def command(section: str, pattern: str, *, path: Path = README) -> Command:
    """The one command of ``section`` matching ``pattern`` (a regular expression, from its
    start)."""
    found = [c for c in commands(section, path=path) if re.match(pattern, c.text)]
    if len(found) != 1:
        raise ReadmeError(
            f"README.md's section {section!r} has {len(found)} commands matching {pattern!r}, "
            "the first-hour test runs exactly one: "
            + (", ".join(c.where() for c in found) or "none")
        )
    return found[0]
