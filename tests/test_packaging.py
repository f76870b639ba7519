"""The wheel carries what a site needs at run time: no Node, no build step on install."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.wheels import build_wheel

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    wheel = build_wheel(ROOT, tmp_path_factory.mktemp("wheel"))
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


def test_wheel_carries_the_license(wheel_names: set[str]) -> None:
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in wheel_names)


def test_wheel_leaves_out_the_sources_of_the_bundle(wheel_names: set[str]) -> None:
    assert not any(name.startswith(("frontend/", "tests/", "demo/")) for name in wheel_names)


# --- The README's install lines, each in a fresh venv ----------------------------------------

#: Where the README's git URLs say a clone is; the test puts one there (at a path of its own).
README_CLONE = "/srv/git/osis-async"

#: What the installed package must hold, whatever the form: the widget's files and the migrations.
SHOW_INSTALL = """
import importlib.metadata, json, pathlib, osis_async
package = pathlib.Path(osis_async.__file__).parent
assert (package / "static/osis_async/osis-async.umd.js").is_file()
assert (package / "migrations/0005_bounded_list_functions.py").is_file()
meta = importlib.metadata.metadata("osis-async")
print(json.dumps([meta["Version"], meta.get_all("Provides-Extra"), str(package)]))
"""


@pytest.fixture(scope="module")
def install_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding ``./osis-async``, a clone of this repository at branch ``main`` with
    a wheel built in its ``dist/``, and ``./venv``, a fresh venv with the pip the README asks
    for."""
    root = tmp_path_factory.mktemp("install")
    clone = root / "osis-async"
    subprocess.run(["git", "clone", "-q", "--no-local", str(ROOT), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "-q", "-B", "main"], check=True)
    build_wheel(clone, clone / "dist")
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True)
    from tests.first_hour import readme

    upgrade = readme.command("Install", r"python -m pip install --upgrade pip")
    run_in(root, upgrade.text)
    return root


def run_in(root: Path, command: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONWARNINGS", "DJANGO_SETTINGS_MODULE", "PYTHONPATH"}
    }
    env["PATH"] = f"{root / 'venv' / 'bin'}{os.pathsep}{env['PATH']}"
    env["VIRTUAL_ENV"] = str(root / "venv")
    result = subprocess.run(
        ["bash", "-c", command], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"$ {command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def readme_install_lines() -> list[Any]:
    from tests.first_hour import readme

    return [
        command for command in readme.commands("Install") if command.text.startswith("pip install ")
    ]


@pytest.mark.first_hour
def test_the_readme_names_every_install_form() -> None:
    lines = [command.text for command in readme_install_lines()]
    for form in (
        r"pip install \./osis-async\s",
        r"pip install -e \./osis-async\s",
        r"pip install \./osis-async/dist/osis_async-[^ ]+\.whl\s",
        r'pip install "osis-async @ git\+file://',
        r'pip install "git\+file://[^"]+@main#egg=osis_async"',
        r'pip install "osis-async\[[a-z,-]+\] @ git\+file://',
    ):
        assert any(re.match(form, line) for line in lines), f"no install line like {form}"


@pytest.mark.first_hour
@pytest.mark.parametrize(
    "command", readme_install_lines(), ids=lambda command: f"line{command.line}"
)
def test_each_readme_install_line_installs_the_package(install_dir: Path, command: Any) -> None:
    """Each ``pip install`` line of the README's Install section, as written (its git URLs
    pointed at the test's clone), plus ``--no-deps``: the dependencies are pip's business."""
    clone_url = (install_dir / "osis-async").as_posix()
    line = command.shell.replace(README_CLONE, clone_url)
    try:
        run_in(install_dir, f"{line} --no-deps --quiet")
        output = run_in(install_dir, f"python -c '{SHOW_INSTALL}'").stdout
        version, extras, package = json.loads(output.splitlines()[-1])
        assert version == "1.0.0"
        assert {"openapi", "celery", "redis", "postgres", "tasks", "tasks-db"} <= set(extras)
        if " -e " in f" {line} ":
            assert package == str(install_dir / "osis-async" / "src" / "osis_async")
        else:
            assert "site-packages" in package
    finally:
        run_in(install_dir, "pip uninstall --quiet --yes osis-async")
