"""The package's wheel, built as a user would build it from a checkout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def build_wheel(source: Path, out: Path) -> Path:
    """Build the wheel of the checkout at ``source`` into ``out`` and return its path."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(out), str(source)],
        check=True,
        # pip itself trips over the deprecation warnings the test sessions turn into errors.
        env={key: value for key, value in os.environ.items() if key != "PYTHONWARNINGS"},
    )
    (wheel,) = out.glob("osis_async-*.whl")
    return wheel
