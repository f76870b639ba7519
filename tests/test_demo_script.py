"""scripts/demo: what it installs, and a busy port said at once (before any install)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_demo(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo")],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_a_busy_port_is_said_naming_demo_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_demo(DEMO_HOST="127.0.0.1", DEMO_PORT=str(port))
    assert result.returncode == 1
    match = re.fullmatch(
        rf"Port {port} on 127\.0\.0\.1 is in use: set DEMO_PORT to another port, "
        r"e\.g\. DEMO_PORT=(\d+) \./scripts/demo\n",
        result.stderr,
    )
    assert match is not None, result.stderr
    assert int(match.group(1)) > port
    assert result.stdout == "", "nothing installed or started"


def test_a_port_that_is_no_number_is_refused() -> None:
    result = run_demo(DEMO_PORT="eighty")
    assert result.returncode == 1
    assert "DEMO_PORT='eighty' is not a port number" in result.stderr


def test_the_demo_installs_no_test_tool() -> None:
    demo = (ROOT / "requirements" / "demo.txt").read_text()
    names = {
        re.split(r"[\[<>=;\s]", line, maxsplit=1)[0].lower()
        for line in demo.splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert names == {"uvicorn", "django-tasks", "django-tasks-db", "celery"}
    dev = (ROOT / "requirements" / "dev.txt").read_text()
    assert "-r demo.txt" in dev.splitlines(), "the tests get the demo's set too"
    assert (
        'INSTALL=(-e ".[postgres]" -r requirements/demo.txt)'
        in (ROOT / "scripts" / "demo").read_text()
    )
