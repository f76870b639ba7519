"""What ``progress(self).report(...)`` costs the job per call now that it checks for a cancel,
against the same reporter without the check (as it was before cancel), side by side, in one
run; and that a report finding no cancel sends nothing to the database.

    .venv/bin/python bench/report_cost.py [--calls 1000000] [--rounds 7]

Each round times, in turn, ``--calls`` reports of a loop (``report(i, calls)``: a change of
percent one call in ``calls / 100``) and the same loop reporting a description too, on the
reporter as it is and on a copy without the check; the writer is a stand-in that keeps what it
is handed, so the job's own cost is what is timed. The medians' ratio is the figure (target:
at most 1.2x).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "src")]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

TARGET = 1.2


class StandIn:
    """A tracker that keeps what it is handed and was never asked to cancel."""

    uuid = None
    cancel_seen = False

    def __init__(self) -> None:
        self.notes = 0

    def note(self, values: dict[str, Any]) -> None:
        self.notes += 1

    def flush(self) -> bool:
        return True


def before_cancel(progress_class: type) -> type:
    """The reporter as it was before cancel: ``report`` without the check."""
    from osis_async.integrations.progress import percent_of
    from osis_async.validation import clean_description

    class BeforeCancel(progress_class):  # type: ignore[misc,valid-type]
        __slots__ = ()

        def report(
            self, done: float | None = None, total: float = 100, *, description: Any = None
        ) -> None:
            changes: dict[str, Any] | None = None
            text: str | None = None
            if description is not None:
                text = description if type(description) is str else str(description)
                if text == self._description:
                    text = None
                else:
                    clean_description(text)
            if done is not None:
                if type(done) is int and type(total) is int and total > 0:
                    percent = done * 100 // total
                    if percent > 100:
                        percent = 100
                    elif percent < 0:
                        percent = 0
                else:
                    percent = percent_of(done, total)
                if percent != self._percent:
                    self._percent = percent
                    changes = {"progression": percent}
            if text is not None:
                self._description = text
                if changes is None:
                    changes = {"description": text}
                else:
                    changes["description"] = text
            if changes is not None and self._writer is not None:
                self._writer.note(changes)

    return BeforeCancel


def timed(progress: Any, calls: int, described: bool) -> float:
    report = progress.report
    start = time.perf_counter()
    if described:
        for i in range(calls):
            report(i, calls, description="Sending the mails")
    else:
        for i in range(calls):
            report(i, calls)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    import django

    django.setup()
    from osis_async.integrations.progress import TaskProgress

    old = before_cancel(TaskProgress)
    results: dict[tuple[str, bool], list[float]] = {}
    notes: dict[str, int] = {}
    for _ in range(args.rounds):
        for described in (False, True):
            for name, cls in (("now", TaskProgress), ("before", old)):
                writer = StandIn()
                progress = cls(writer)
                progress.restart()
                seconds = timed(progress, args.calls, described)
                results.setdefault((name, described), []).append(seconds)
                notes[name] = writer.notes
    print(f"{args.calls:,} reports per loop, {args.rounds} rounds, medians")
    print(f"{'loop':<28}{'before ns':>11}{'now ns':>9}{'now/before':>12}")
    worst = 0.0
    for described in (False, True):
        before = statistics.median(results["before", described]) / args.calls * 1e9
        now = statistics.median(results["now", described]) / args.calls * 1e9
        ratio = now / before
        worst = max(worst, ratio)
        label = "report(i, n, description=…)" if described else "report(i, n)"
        print(f"{label:<28}{before:>11.1f}{now:>9.1f}{ratio:>11.2f}x")
    print(f"handed to the writer per loop: {notes['now']} (before: {notes['before']})")
    verdict = "OK" if worst <= TARGET else "MISSED"
    print(f"worst ratio {worst:.2f}x (target <= {TARGET}x) {verdict}")


if __name__ == "__main__":
    main()
