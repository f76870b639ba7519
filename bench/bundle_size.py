"""Gzipped size of what a page downloads for the task widget: ours versus the seed's way.

Ours is the committed bundle (Vue included) and its stylesheet. The seed's way is what its
README has a page load: Vue 3, vue-i18n, jQuery and Bootstrap 3's JavaScript, plus the widget
built without Vue. Every file is read from the widget's npm packages (``npm ci`` in frontend/
first) and compressed with gzip level 9 in this one run.

    python bench/bundle_size.py        # exits 1 when ours is over the budget
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FRONTEND = REPO / "frontend"
NODE_MODULES = FRONTEND / "node_modules"
STATIC = REPO / "src" / "osis_async" / "static" / "osis_async"
BUDGET = 40_000  # bytes, gzipped: JavaScript and CSS together

SEED_LIBRARIES = {
    "vue": "vue/dist/vue.global.prod.js",
    "vue-i18n": "vue-i18n/dist/vue-i18n.global.prod.js",
    "jquery": "jquery/dist/jquery.min.js",
    "bootstrap": "bootstrap/dist/js/bootstrap.min.js",
}


def gzipped(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), compresslevel=9, mtime=0))


def version(package: str) -> str:
    return json.loads((NODE_MODULES / package / "package.json").read_text())["version"]


def build_without_vue(out_dir: Path) -> None:
    """The widget as the seed shipped it: Vue left to the page (see frontend/vite.config.ts)."""
    npx = shutil.which("npx")
    if npx is None:
        sys.exit("npx is missing: install Node.js")
    subprocess.run(
        [npx, "vite", "build", "--logLevel", "error"],
        cwd=FRONTEND,
        env={**os.environ, "OSIS_ASYNC_BENCH_OUT_DIR": str(out_dir)},
        check=True,
    )


def row(label: str, size: int) -> str:
    return f"  {label:<42} {size:>9,} B"


def main() -> int:
    if not NODE_MODULES.is_dir():
        sys.exit("frontend/node_modules is missing: run 'npm ci' in frontend/")

    ours = {name: gzipped(STATIC / name) for name in ("osis-async.umd.js", "osis-async.css")}
    ours_total = sum(ours.values())

    seed = {
        f"{package}@{version(package)} {Path(relative).name}": gzipped(NODE_MODULES / relative)
        for package, relative in SEED_LIBRARIES.items()
    }
    with tempfile.TemporaryDirectory() as tmp:
        build_without_vue(Path(tmp))
        seed["widget without Vue: osis-async.umd.js"] = gzipped(Path(tmp) / "osis-async.umd.js")
        seed["widget: osis-async.css"] = gzipped(Path(tmp) / "osis-async.css")
    seed_total = sum(seed.values())

    print("Gzipped (level 9) size of what a page loads for the task widget\n")
    print("Ours: one self-contained bundle, Vue included")
    for label, size in ours.items():
        print(row(label, size))
    print(row("total", ours_total))
    print("\nThe seed's way: Vue 3 + vue-i18n + jQuery + Bootstrap 3 JS + the widget")
    for label, size in seed.items():
        print(row(label, size))
    print(row("total", seed_total))

    within = ours_total <= BUDGET
    print(
        f"\nours / seed's way: {ours_total / seed_total:.2f} "
        f"(the seed's way is {seed_total / ours_total:.1f}x larger)"
    )
    print(
        f"budget: ours {ours_total / 1000:.1f} kB of {BUDGET / 1000:.0f} kB: "
        + ("within" if within else "OVER")
    )
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
