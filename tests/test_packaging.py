"""The wheel carries what a site needs at run time: no Node, no build step on install."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        # pip itself trips over the deprecation warnings the test sessions turn into errors.
        env={key: value for key, value in os.environ.items() if key != "PYTHONWARNINGS"},
    )
    (wheel,) = out.glob("osis_async-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


@pytest.mark.parametrize(
    "name",
    [
        "osis_async/py.typed",
        "osis_async/migrations/0001_initial.py",
        "osis_async/static/osis_async/osis-async.umd.js",
        "osis_async/static/osis_async/osis-async.css",
        "osis_async/static/osis_async/admin.css",
        "osis_async/templates/osis_async/modal_async_progress.html",
        "osis_async/locale/fr/LC_MESSAGES/django.mo",
        "osis_async/locale/fr/LC_MESSAGES/djangojs.mo",
        "osis_async/management/commands/check_async_task_ttl.py",
    ],
)
def test_wheel_contains(wheel_names: set[str], name: str) -> None:
    assert name in wheel_names


def test_wheel_leaves_out_the_sources_of_the_bundle(wheel_names: set[str]) -> None:
    assert not any(name.startswith(("frontend/", "tests/", "demo/")) for name in wheel_names)
