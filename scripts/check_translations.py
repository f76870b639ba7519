"""Fail when a translation catalogue is stale: a string the code has that a .po lacks, a
French string left untranslated or fuzzy, or a committed .mo that differs from its .po."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECTS = [ROOT / "src" / "osis_async", ROOT / "demo"]


@dataclass
class Entry:
    msgid: str
    msgstrs: list[str]
    fuzzy: bool


def _unquote(line: str) -> str:
    return line[line.index('"') + 1 : line.rindex('"')]


def entries(po: Path) -> list[Entry]:
    """The catalogue's entries, multi-line strings joined (``msgid ""`` then ``"..."`` lines)."""
    found: list[Entry] = []
    for block in re.split(r"\n\s*\n", po.read_text(encoding="utf-8")):
        lines = [line for line in block.splitlines() if line.strip()]
        fuzzy = any(line.startswith("#,") and "fuzzy" in line for line in lines)
        fields: dict[str, str] = {}
        key = None
        for line in lines:
            if line.startswith("#"):
                continue
            if line.startswith('"') and key is not None:
                fields[key] += _unquote(line)
                continue
            key = line.split(" ", 1)[0]
            fields[key] = _unquote(line)
        if fields.get("msgid"):
            msgstrs = [value for key, value in fields.items() if key.startswith("msgstr")]
            found.append(Entry(fields["msgid"], msgstrs, fuzzy))
    return found


def msgids(po: Path) -> set[str]:
    return {entry.msgid for entry in entries(po)}


def problems() -> list[str]:
    found: list[str] = []
    for project in PROJECTS:
        for po in sorted(project.glob("locale/*/LC_MESSAGES/*.po")):
            mo = po.with_suffix(".mo")
            with tempfile.TemporaryDirectory() as tmp:
                fresh = Path(tmp) / "fresh.mo"
                subprocess.run(["msgfmt", "--check", "-o", fresh, po], check=True)
                if not mo.exists() or mo.read_bytes() != fresh.read_bytes():
                    found.append(f"{mo.relative_to(ROOT)} is not compiled from its .po")
            if po.parts[-3] == "fr":
                for entry in entries(po):
                    if entry.fuzzy or not all(entry.msgstrs):
                        found.append(f"{po.relative_to(ROOT)}: {entry.msgid!r} is not translated")
        fr_po = project / "locale" / "fr" / "LC_MESSAGES" / "django.po"
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / project.name
            shutil.copytree(project, copy, ignore=shutil.ignore_patterns("static", "node_modules"))
            subprocess.run(
                # django-admin, not "python -m django": the copy's own modules (demo/celery.py)
                # must not shadow installed packages.
                [
                    str(Path(sys.executable).parent / "django-admin"),
                    "makemessages",
                    "-l",
                    "fr",
                    "-d",
                    "django",
                    "--no-location",
                    "--verbosity",
                    "0",
                ],
                cwd=copy,
                check=True,
                env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])},
            )
            fresh_ids = msgids(copy / "locale" / "fr" / "LC_MESSAGES" / "django.po")
        for missing in sorted(fresh_ids - msgids(fr_po)):
            found.append(f"{fr_po.relative_to(ROOT)} lacks {missing!r}: run makemessages")
    return found


if __name__ == "__main__":
    report = problems()
    for line in report:
        print(line, file=sys.stderr)
    sys.exit(1 if report else 0)
