"""What the load benchmarks share: a seeded database, servers in their own process groups, CPU
from ``/proc``, and quantiles (``bench/load_profile.py``, ``bench/load_list.py``)."""

from __future__ import annotations

import contextlib
import datetime
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
#: The servers' settings: the demo on PostgreSQL, quieter (``bench/load_settings.py``).
SETTINGS = "bench.load_settings"
TASKS_PER_PERSON = 20

CORES = os.cpu_count() or 1
CLK_TCK = os.sysconf("SC_CLK_TCK")


def database_url(database: str, user: str = PG_USER) -> str:
    return f"postgres://{user}@{PG_HOST}:{PG_PORT}/{database}"


def ensure_role(name: str, connection_limit: int) -> None:
    """A login role ``name`` (no superuser) that may hold ``connection_limit`` connections."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True
    ) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("ALTER ROLE {} CONNECTION LIMIT {}").format(
                sql.Identifier(name), sql.Literal(connection_limit)
            )
        )


# --- The database ------------------------------------------------------------------------------


def seed(database: str, people: int, prefix: str = "widget", owner: str = PG_USER) -> list[str]:
    """A fresh ``database`` owned by ``owner``, who migrates and fills it: per person one user,
    one session and 20 finished tasks.

    Returns the session keys, one per person, in the users' order. Leaves Django set up in this
    process with ``SETTINGS`` on that database (its connection closed).
    """
    import psycopg

    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}" OWNER "{owner}"')

    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    os.environ["DEMO_DATABASE_URL"] = database_url(database, owner)
    sys.path[:0] = [str(ROOT), str(ROOT / "src")]
    import django

    django.setup()
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    call_command("migrate", verbosity=0)
    User = get_user_model()
    users = User.objects.bulk_create(
        User(username=f"{prefix}{i:05d}", password=make_password(None)) for i in range(people)
    )
    with connection.cursor() as cursor:
        # Finished tasks only (4 DONE for 1 ERROR): an idle widget polls every data-interval.
        cursor.execute(
            """
            INSERT INTO osis_async_asynctask
                (uuid, name, description, state, person_id, progression, time_to_live,
                 traceback, created_at, updated_at, started_at, completed_at)
            SELECT md5(u.id || ':' || n)::uuid, 'Export ' || n, 'Students of year ' || (n %% 7),
                   CASE WHEN n %% 5 = 0 THEN 'ERROR' ELSE 'DONE' END,
                   u.id, 100, 5, '',
                   now() - n * interval '1 hour', now() - n * interval '1 hour',
                   now() - n * interval '1 hour', now() - n * interval '1 hour'
            FROM auth_user AS u CROSS JOIN generate_series(1, %s) AS n
            """,
            [TASKS_PER_PERSON],
        )
        cursor.execute("ANALYZE")
    store = SessionStore()
    expires = timezone.now() + datetime.timedelta(days=1)
    sessions = [
        Session(
            session_key=get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789"),
            session_data=store.encode(
                {
                    SESSION_KEY: str(user.pk),
                    BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                    HASH_SESSION_KEY: user.get_session_auth_hash(),
                }
            ),
            expire_date=expires,
        )
        for user in users
    ]
    Session.objects.bulk_create(sessions)
    connection.close()
    return [session.session_key for session in sessions]


# --- Servers -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to its hard limit (servers started from it inherit
    it); the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


def server_env(database: str, user: str = PG_USER, **extra: str) -> dict[str, str]:
    """The environment of a server of the demo on ``database`` with ``SETTINGS``, connecting
    as ``user``."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": SETTINGS,
        "DEMO_DATABASE_URL": database_url(database, user),
        "DEMO_DEBUG": "0",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]),
        **extra,
    }


@contextlib.contextmanager
def serve(name: str, command: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` in a process group of its own, stopped (then killed) on the way out; the tail
    of what it said is printed then."""
    log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True
    )
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.seek(0)
        output = log.read().decode(errors="replace").strip()
        log.close()
        if output:
            print(f"  {name} said:\n    " + "\n    ".join(output.splitlines()[-15:]))


# --- CPU accounting from /proc -----------------------------------------------------------------


def _stat(pid: int) -> tuple[int, int] | None:
    """``(own ticks, reaped children's ticks)`` of ``pid``, or ``None`` if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    return int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found.extend(int(child) for child in (task / "children").read_text().split())
    return found


def tree(pid: int) -> Iterator[int]:
    yield pid
    for child in children(pid):
        yield from tree(child)


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class CpuMeter:
    """CPU seconds used by a changing set of processes between ``start()`` and ``stop()``.

    Sample it every half second or so. With ``reaped``, the parent of every process that
    can end, what ends is counted exactly: from the CPU time of the children the parent reaped.
    Without it, a process that ends counts what it had used at its last sample.
    """

    def __init__(self, pids: Callable[[], list[int]], reaped: int | None = None) -> None:
        self.pids = pids
        self.reaped = reaped
        self.first: dict[int, int] = {}
        self.last: dict[int, int] = {}
        self.reaped_first = 0

    def start(self) -> None:
        self.first.clear()
        self.last.clear()
        self.sample(baseline=True)
        self.reaped_first = self._reaped()

    def sample(self, baseline: bool = False) -> None:
        for pid in self.pids():
            found = _stat(pid)
            if found is None:
                continue
            if baseline:
                self.first[pid] = found[0]
            self.first.setdefault(pid, 0)  # born in the window
            self.last[pid] = found[0]

    def stop(self) -> float:
        alive = set(self.pids())
        self.sample()
        if self.reaped is None:
            ticks = sum(self.last[pid] - self.first[pid] for pid in self.last)
        else:
            # What ended: its whole CPU time is in the parent's reaped total, less what it had
            # used before the window.
            ticks = sum(self.last[pid] - self.first[pid] for pid in self.last if pid in alive)
            ticks += self._reaped() - self.reaped_first
            ticks -= sum(self.first[pid] for pid in self.last if pid not in alive)
        return ticks / CLK_TCK

    def _reaped(self) -> int:
        if self.reaped is None:
            return 0
        found = _stat(self.reaped)
        return found[1] if found else 0


def server_tree_meter(process: subprocess.Popen[bytes]) -> CpuMeter:
    """The CPU of a server's whole process tree (workers that end are counted exactly)."""
    return CpuMeter(lambda: list(tree(process.pid)), reaped=process.pid)


def postmaster_pid() -> int:
    import psycopg

    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres") as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        # While the backend is there: it exits once the connection closes.
        text = Path(f"/proc/{row[0]}/stat").read_text()
    return int(text[text.rfind(")") + 2 :].split()[1])


class Backends:
    """The postmaster's children that serve ``database`` (by their process title)."""

    def __init__(self, postmaster: int, database: str) -> None:
        self.postmaster = postmaster
        self.database = database
        self.ours: set[int] = set()

    def __call__(self) -> list[int]:
        found = children(self.postmaster)
        for pid in found:
            if pid not in self.ours and f" {self.database} " in cmdline(pid):
                self.ours.add(pid)
        return [pid for pid in found if pid in self.ours]


def machine_busy_ticks() -> tuple[int, int]:
    """``(busy, total)`` ticks of the whole machine since boot (``/proc/stat``)."""
    values = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return sum(values) - values[3] - values[4], sum(values)


def client_cpu() -> float:
    """This process's CPU seconds so far (user + system, all its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- The report --------------------------------------------------------------------------------


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
