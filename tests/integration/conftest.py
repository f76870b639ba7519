"""Fixtures of the integration tests: real worker processes on real brokers and PostgreSQL.

Run them with ``OSIS_ASYNC_TEST_DB=postgres pytest tests/integration -m broker``. Without
PostgreSQL or a broker they are skipped, unless ``CI`` is set: then they fail.

Brokers: ``OSIS_ASYNC_TEST_AMQP_URL`` (default ``amqp://guest:guest@127.0.0.1:5672//``) and
``OSIS_ASYNC_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

REPO = Path(__file__).resolve().parents[2]
IN_CI = bool(os.environ.get("CI"))

BROKER_URLS = {
    "rabbitmq": os.environ.get("OSIS_ASYNC_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//"),
    "redis": os.environ.get("OSIS_ASYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
}


def run_notes(run_log: Path, key: object) -> list[str]:
    """The notes the jobs recorded for ``key`` in ``run_log`` (``jobs.record``), in order."""
    if not run_log.exists():
        return []
    return [
        " ".join(line.split()[3:])
        for line in run_log.read_text().splitlines()
        if line.split(" ", 1)[0] == str(key)
    ]


def unavailable(message: str) -> None:
    """A service the test needs is missing: skip, or fail when running in CI."""
    if IN_CI:
        pytest.fail(f"{message} (CI is set: a missing service fails the test)", pytrace=False)
    pytest.skip(message)


def wait_for(
    predicate: Callable[[], Any],
    *,
    timeout: float,
    what: str,
    interval: float = 0.05,
    logs: Callable[[], str] | None = None,
) -> Any:
    """Poll ``predicate`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f"\n--- worker logs ---\n{logs()[-6000:]}" if logs else ""
            pytest.fail(f"Timed out after {timeout} s waiting for {what}.{detail}")
        time.sleep(interval)


class WorkerProcess:
    """A worker started as a subprocess in its own process group, logging to a file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path):
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, ready: str, timeout: float = 40) -> WorkerProcess:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        pattern = re.compile(ready)

        def is_ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                pytest.fail(
                    f"Worker {self.name} exited with {self.process.returncode}:\n{self.log()}"
                )
            return bool(pattern.search(self.log()))

        wait_for(is_ready, timeout=timeout, what=f"worker {self.name} to start", interval=0.1)
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _signal_group(self, signum: int) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def kill(self) -> None:
        """SIGKILL the worker and all its processes, as a crash or an OOM killer would."""
        if self.process is None:
            return
        self._signal_group(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 15) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self._signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout)
        # Whatever is left of the group (pool children) goes too.
        self._signal_group(signal.SIGKILL)
        if self.process.poll() is None:
            self.process.wait(timeout=10)


def worker_env(db_name: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.integration.worker_settings",
        OSIS_ASYNC_TEST_DB="postgres",
        OSIS_ASYNC_TEST_DB_NAME=db_name,
        PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "src")]),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


# --- PostgreSQL --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_db(request: pytest.FixtureRequest) -> str:
    """The name of pytest-django's PostgreSQL test database, which worker processes share."""
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.postgresql":
        unavailable(
            "worker processes share the test database: run with OSIS_ASYNC_TEST_DB=postgres"
        )
    import psycopg

    try:
        psycopg.connect(
            host=database["HOST"],
            port=database["PORT"],
            user=database["USER"],
            password=database["PASSWORD"],
            dbname="postgres",
            connect_timeout=3,
        ).close()
    except psycopg.OperationalError as error:
        unavailable(f"PostgreSQL is unreachable at {database['HOST']}:{database['PORT']}: {error}")
    request.getfixturevalue("django_db_setup")
    from django.db import connection

    return str(connection.settings_dict["NAME"])


# --- Celery ------------------------------------------------------------------------------------


@dataclass
class CeleryEnv:
    """One broker, one queue, the producer app of the test process and its workers."""

    broker: str
    url: str
    queue: str
    db_name: str
    workdir: Path
    app: Any
    workers: list[WorkerProcess] = field(default_factory=list)
    extra_queues: list[str] = field(default_factory=list)

    @property
    def run_log(self) -> Path:
        return self.workdir / "runs.log"

    def start_worker(
        self, name: str, concurrency: int = 2, queue: str | None = None
    ) -> WorkerProcess:
        """Start a Celery worker (prefork) on ``queue`` (the env's queue by default)."""
        if queue is not None and queue not in self.extra_queues:
            self.extra_queues.append(queue)
        argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tests.integration.worker_app",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            str(concurrency),
            "--hostname",
            f"{name}@%h",
            "--loglevel",
            "INFO",
            "--without-mingle",
            "--without-gossip",
            "--queues",
            queue or self.queue,
        ]
        env = worker_env(
            self.db_name,
            OSIS_ASYNC_TEST_BROKER_URL=self.url,
            OSIS_ASYNC_TEST_QUEUE=self.queue,
            OSIS_ASYNC_TEST_RUN_LOG=str(self.run_log),
            OSIS_ASYNC_TEST_WORKER=name,
        )
        worker = WorkerProcess(name, argv, env, self.workdir / f"{name}.log")
        self.workers.append(worker)
        return worker.start(ready=r"ready\.")

    def runs(self, run_id: str | uuid.UUID) -> list[list[str]]:
        """The runs of ``run_id`` recorded by the jobs: ``[id, worker, attempt, note...]``."""
        if not self.run_log.exists():
            return []
        key = str(run_id)
        return [
            line.split()
            for line in self.run_log.read_text().splitlines()
            if line.split(" ", 1)[0] == key
        ]

    def logs(self) -> str:
        return "\n".join(f"=== {w.name} ===\n{w.log()[-3000:]}" for w in self.workers)


def reachable_broker(name: str) -> tuple[str, str]:
    """``(name, url)`` of the broker ``name`` (a key of ``BROKER_URLS``), once it answered."""
    url = BROKER_URLS[name]
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=3, transport_options={"max_retries": 0}) as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
    except Exception as error:
        unavailable(f"The {name} broker is unreachable at {url}: {error!r}")
    return name, url


@pytest.fixture(scope="module", params=sorted(BROKER_URLS))
def broker(request: pytest.FixtureRequest) -> tuple[str, str]:
    return reachable_broker(request.param)


@contextlib.contextmanager
def celery_environment(broker: tuple[str, str], db_name: str, workdir: Path) -> Iterator[CeleryEnv]:
    """A ``CeleryEnv`` on ``broker`` (``(name, url)``) and a queue of its own, its workers on the
    PostgreSQL database ``db_name``; its producer app is the current app meanwhile. Its workers
    are stopped and its queues deleted on the way out."""
    from celery import _state

    from tests.integration.celery_app import make_app

    name, url = broker
    queue = f"osis-async-tests-{uuid.uuid4().hex[:10]}"
    app = make_app(url, queue, main="osis_async_tests_producer")
    previous = _state.get_current_app()
    app.set_current()
    env = CeleryEnv(broker=name, url=url, queue=queue, db_name=db_name, workdir=workdir, app=app)
    try:
        yield env
    finally:
        for worker in env.workers:
            worker.stop()
        try:
            with app.connection_for_write() as conn:
                for name in (queue, *env.extra_queues):
                    conn.default_channel.queue_delete(name)
        except Exception:
            pass
        app.close()
        previous.set_current()


@pytest.fixture(scope="module")
def celery_env(
    broker: tuple[str, str], postgres_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CeleryEnv]:
    with celery_environment(
        broker, postgres_db, tmp_path_factory.mktemp(f"celery-{broker[0]}")
    ) as env:
        yield env


@pytest.fixture(scope="module")
def celery_worker(celery_env: CeleryEnv) -> Iterator[WorkerProcess]:
    """A worker (prefork, 2 processes) running for all the tests of the module and broker."""
    worker = celery_env.start_worker("w1")
    yield worker
    worker.stop()


# --- django.tasks ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tasks_db_backend(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """django.tasks with its database backend installed in the test process, tables included.

    The suite's settings do not install django-tasks-db; this adds it (and its tables) for the
    module, as ``tests.integration.worker_settings`` does for the ``db_worker`` process.
    """
    pytest.importorskip("django_tasks_db")
    from django.core.management import call_command
    from django.test import override_settings

    from tests.integration.tasks_settings import TASKS, TASKS_APPS

    with contextlib.suppress(ImportError):
        import django_tasks.signals  # noqa: F401  (resets the backends when TASKS changes)
    with override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, *TASKS_APPS], TASKS=TASKS):
        with django_db_blocker.unblock():
            call_command("migrate", "django_tasks_database", verbosity=0)
        # Its tables stay: the test database goes at the end of the session.
        yield


@pytest.fixture
def shared_results(settings: Any, postgres_db: str) -> Path:
    """The workers' result storage (``worker_settings``), used by this process too."""
    from tests.integration.tasks_settings import results_folder

    folder = results_folder(postgres_db)
    settings.STORAGES = {
        **settings.STORAGES,
        "results": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": folder},
        },
    }
    settings.OSIS_ASYNC_RESULT_STORAGE = "results"
    return Path(folder)
