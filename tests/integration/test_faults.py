"""The fault suite (issue 9): real PostgreSQL, Redis, uvicorn and Celery workers, one fault per
case, each on a database of its own; every case says how many trials it ran and asserts that
nothing was lost.

Run: ``OSIS_ASYNC_TEST_DB=postgres pytest -m broker tests/integration/test_faults.py -s`` (``-s``
shows each case's count of trials and timings; a failing case says them in its assertion).

Each case on its own database, with pytest-django: the case is a transactional test
(``transactional_db``: no transaction around it, so what it writes is committed and seen by the
servers and workers it starts, and its ``on_commit`` publishing runs at once). ``case_db``
creates ``osis_async_fault_<case>_<pid>`` from a template migrated once per session, points the
test process's ``default`` connection at it (the settings dict every thread's connection shares;
the open connections are closed on the way in and out), and the servers and workers of the case
get its name (``OSIS_ASYNC_TEST_DB_NAME``). At the end the connection goes back to
pytest-django's test database, before ``transactional_db`` flushes that one, and the case's
database is dropped ``WITH (FORCE)``.

The cases (a minute and a quarter in all on a two-core machine):

1. The server's ``LISTEN`` connection terminated (``pg_terminate_backend``), 20 times with the
   change made at once, 10 with the server's reconnection held by a TCP proxy until the change
   is made (only the catch-up after re-subscribing tells the stream then): each change reaches
   the open stream within 1 s.
2. The same for the Redis change source, ``CLIENT KILL`` on the server's subscription.
3. A hung Redis (a socket that accepts and never answers): 100 writes publish without waiting
   for it, the publisher's circuit breaker stops trying, a server whose Redis hangs serves the
   list and opens streams, and once Redis answers every stream hears what it missed.
4. ``LOCK TABLE … IN ACCESS EXCLUSIVE MODE`` from another session: 20 concurrent requests
   (lists, conditional lists, stream openings) each get a JSON 503 with ``Retry-After`` within
   ``OSIS_ASYNC_DB_TIMEOUT`` plus a margin, the server's connections stay bounded, and
   everything answers again once the lock goes.
5. A Celery worker SIGKILLed mid-job, on RabbitMQ and Redis: the TTL sweep marks its jobs
   ``ERROR`` after their time to live, and the next worker's jobs end ``DONE``.
6. Every connection of the app terminated, as a database restart does, with and without
   psycopg's pool: the list answers a few 503s at most, never a 500; the streams go on; the
   running tracked jobs end ``DONE``.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.db.models import F
from django.test import override_settings

from osis_async.events import publish, sources
from osis_async.listing import person_versions, version_token
from osis_async.models import AsyncTask, TaskState
from osis_async.models.task import TTL_EXPIRED_MESSAGE
from osis_async.utils import update_task
from tests.integration import faults, jobs
from tests.integration.conftest import (
    BROKER_URLS,
    CeleryEnv,
    WorkerProcess,
    celery_environment,
    reachable_broker,
)
from tests.integration.faults import Trials, check_trials, wait_until
from tests.servers import LIST, STREAM, EventReader, session_cookie, uvicorn_server

pytestmark = [pytest.mark.broker, pytest.mark.postgres]


@pytest.fixture(scope="session")
def fault_template(postgres_db: str) -> Iterator[str]:
    name = faults.case_database_name("template")
    faults.create_migrated(name)
    yield name
    faults.drop_database(name)


@pytest.fixture
def case_db(
    request: pytest.FixtureRequest, transactional_db: None, fault_template: str
) -> Iterator[str]:
    name = faults.case_database_name(request.node.name.removeprefix("test_"))
    faults.create_copy(name, fault_template)
    try:
        with faults.default_database(name):
            yield name
    finally:
        faults.drop_database(name)


@pytest.fixture
def person(case_db: str) -> Any:
    return get_user_model().objects.create_user(username=f"user-{uuid.uuid4().hex[:8]}")


def list_version(person: Any) -> str:
    key = str(person.pk)
    return version_token(person_versions([key])[key])


def wait_for_version(reader: EventReader, version: str, after: float, timeout: float) -> float:
    """When the stream's ``changed`` event carrying ``version`` arrived."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for at, name, data in list(reader.events):
            if name == "changed" and at >= after and data.get("version") == version:
                return at
        time.sleep(0.005)
    raise AssertionError(
        f"no 'changed' event with version {version} within {timeout} s; got "
        f"{[(name, data) for _, name, data in reader.events[-5:]]}"
    )


# --- 1 and 2. the listening connection terminated -------------------------------------------------

#: The trials of each source: the change made at once after the kill; and the change made while
#: the reconnection is held (a database or Redis slow to answer it) after the hub's look right
#: after the failure, so that only its catch-up once listening again can tell the stream.
AT_ONCE_TRIALS = 20
HELD_TRIALS = 10
#: Longer than the hub's look right after a failure takes (one indexed query).
LOOK_DONE = 0.3


def listener_trials(
    source: str,
    reader: EventReader,
    person: Any,
    listening: Callable[[], list[int]],
    kill: Callable[[int], None],
    proxy: faults.FlakyProxy,
    *,
    published: Callable[[AsyncTask], None] = lambda task: None,
    before_failing: int = 0,
) -> None:
    """Kill the server's listening connection (``listening()`` its ids, ``kill(id)``) over and
    over, change a task of ``person`` each time, and check ``reader``'s stream hears of it.

    The server's connections go through ``proxy``; for the held trials it relays the next
    ``before_failing`` connections (the client's own reconnections, before it gives up and the
    hub opens the source again) and holds the following one. ``published(task)`` returns once
    the change of ``task`` is on its way to the server."""
    at_once = Trials(f"listener terminated ({source}), change at once", within=1.0)
    held = Trials(f"listener terminated ({source}), change while reconnecting", within=1.0)
    task = AsyncTask.objects.create(name="Task", person=person)
    killed: set[int] = set()
    for trial in range(AT_ONCE_TRIALS + HELD_TRIALS):
        trials = at_once if trial < AT_ONCE_TRIALS else held
        try:
            listener = wait_until(
                lambda: [i for i in listening() if i not in killed],
                timeout=10,
                what="the server to listen (again)",
            )[0]
        except AssertionError as error:
            trials.failed(f"trial {trial + 1}: {error}")
            break
        if trials is held:
            accepted = proxy.accepted + before_failing
            proxy.hang(after=before_failing)
        kill(listener)
        killed.add(listener)
        if trials is held:
            wait_until(
                lambda accepted=accepted: proxy.accepted > accepted,
                timeout=5,
                what="the server to reconnect",
            )
            time.sleep(LOOK_DONE)
        before = time.monotonic()
        update_task(task.uuid, progression=trial + 1)
        expected = list_version(person)
        if trials is held:
            published(task)  # and lost to the server, which is not listening yet
            proxy.answer(resume=True)
        try:
            arrived = wait_for_version(reader, expected, before, timeout=10)
        except AssertionError as error:
            trials.failed(f"trial {trial + 1}: {error}")
            continue
        trials.measure(arrived - before, "the change")
    check_trials((at_once, AT_ONCE_TRIALS), (held, HELD_TRIALS))


def test_listener_terminated(case_db: str, person: Any) -> None:
    database = connection.settings_dict
    proxy = faults.FlakyProxy((database["HOST"], int(database["PORT"])), hung=False)
    # The server's connections go through the proxy, which holds them when told.
    env = {"PGHOST": "127.0.0.1", "PGPORT": str(proxy.port)}
    try:
        with uvicorn_server(case_db, env=env) as server:
            reader = EventReader(server.base + STREAM, session_cookie(person))
            reader.wait_for("ready")
            listener_trials(
                "PostgreSQL LISTEN",
                reader,
                person,
                lambda: faults.listeners(case_db),
                lambda pid: faults.terminate([pid]),
                proxy,
            )
    finally:
        proxy.close()


def test_redis_subscriber_killed(case_db: str, person: Any) -> None:
    proxy = faults.FlakyRedis(hung=False)
    # Named, so this server's subscription is told from other runs' on the same Redis.
    name = f"osis-fault-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    env = {"OSIS_ASYNC_CHANGE_SOURCE": "redis", "OSIS_ASYNC_REDIS_URL": proxy.url(name)}
    watch = faults.ChannelWatch()
    try:
        with (
            override_settings(
                OSIS_ASYNC_CHANGE_SOURCE="redis", OSIS_ASYNC_REDIS_URL=faults.redis_url()
            ),
            uvicorn_server(case_db, env=env) as server,
        ):
            reader = EventReader(server.base + STREAM, session_cookie(person))
            reader.wait_for("ready")
            listener_trials(
                "Redis SUBSCRIBE",
                reader,
                person,
                lambda: faults.redis_subscribers(name),
                lambda client_id: faults.kill_redis_clients([client_id]),
                proxy,
                published=lambda task: watch.wait_for(f"task:{task.uuid}"),
                # redis-py's pub/sub reconnects once (and subscribes again) before it raises.
                before_failing=1,
            )
    finally:
        watch.close()
        proxy.close()


# --- 3. a hung Redis -----------------------------------------------------------------------------


def test_hung_redis(case_db: str, person: Any) -> None:
    writes = Trials("hung Redis: writes", within=0.1)
    task = AsyncTask.objects.create(name="Task", person=person)
    published = faults.FlakyRedis(hung=True)  # where this process publishes
    subscribed = faults.FlakyRedis(hung=True)  # where server A subscribes
    name = f"osis-fault-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    hung_name = f"{name}-hung"
    try:
        with (
            uvicorn_server(
                case_db,
                env={
                    "OSIS_ASYNC_CHANGE_SOURCE": "redis",
                    "OSIS_ASYNC_REDIS_URL": subscribed.url(client_name=hung_name),
                },
            ) as hung_server,
            uvicorn_server(
                case_db,
                env={
                    "OSIS_ASYNC_CHANGE_SOURCE": "redis",
                    "OSIS_ASYNC_REDIS_URL": faults.redis_url(client_name=name),
                },
            ) as server,
            override_settings(
                OSIS_ASYNC_CHANGE_SOURCE="redis", OSIS_ASYNC_REDIS_URL=published.url()
            ),
        ):
            cookies = session_cookie(person)
            # A server whose Redis hangs still opens streams and answers the list.
            opened = time.monotonic()
            stuck = EventReader(hung_server.base + STREAM, cookies)
            ready = stuck.wait_for("ready", timeout=5)
            assert ready - opened < 1.0, f"a stream opened in {ready - opened:.3f} s"
            started = time.monotonic()
            response = httpx.get(hung_server.base + LIST, cookies=cookies, timeout=5)
            assert response.status_code == 200, response.text
            assert time.monotonic() - started < 1.0
            # The other server listens on the real Redis.
            reader = EventReader(server.base + STREAM, cookies)
            reader.wait_for("ready")
            wait_until(lambda: faults.redis_subscribers(name), timeout=10, what="B to subscribe")

            def write(i: int) -> None:
                started = time.monotonic()
                update_task(task.uuid, progression=i + 1)
                writes.measure(time.monotonic() - started, "update_task")
                started = time.monotonic()
                AsyncTask.objects.create(name=f"Task {i}", person=person)
                writes.measure(time.monotonic() - started, "create")

            for i in range(25):
                write(i)
            assert not writes.failures, writes.report()
            # The publisher gives up on the hung Redis after its timeout, and stops trying...
            publisher = publish.publisher(published.url())
            wait_until(
                lambda: publisher._closed_until > time.monotonic(),
                timeout=publish.REDIS_TIMEOUT * 4,
                what="the publisher's circuit breaker to open",
            )
            tried = published.accepted
            for i in range(25, 50):
                write(i)
            attempts = published.accepted
            print(
                f"hung Redis: {attempts} connection(s) to the hung Redis for 100 writes, "
                f"{attempts - tried} while its circuit breaker was open"
            )
            assert tried >= 1 and attempts == tried, f"{attempts} connections for 100 writes"
            writes.check(100)

            # Redis answers again: what was published meanwhile was lost, and the publisher
            # says "anything changed" once its pause is over, without waiting for a write.
            published.answer()
            expected = list_version(person)
            answered = time.monotonic()
            pause = max(0.0, publisher._closed_until - answered)
            arrived = wait_for_version(reader, expected, answered, timeout=pause + 1.0)
            print(
                f"hung Redis: the missed changes reached the other server's stream "
                f"{arrived - answered:.3f} s after Redis answered "
                f"(the breaker's pause: {pause:.1f} s)"
            )
            # And a change is published again at once.
            before = time.monotonic()
            update_task(task.uuid, description="Redis answers")
            arrived = wait_for_version(reader, list_version(person), before, timeout=1.0)
            print(f"hung Redis: a change after it answered arrived in {arrived - before:.3f} s")

            # The server whose own Redis hung catches up once it answers.
            subscribed.answer()
            answered = time.monotonic()
            arrived = wait_for_version(
                stuck, list_version(person), answered, timeout=sources.REDIS_ANSWER_TIMEOUT + 1.0
            )
            print(
                f"hung Redis: the server subscribed to it caught up {arrived - answered:.3f} s "
                "after it answered"
            )
            wait_until(
                lambda: faults.redis_subscribers(hung_name),
                timeout=sources.REDIS_ANSWER_TIMEOUT + 1.0,
                what="the server whose Redis hung to subscribe",
            )
            before = time.monotonic()
            update_task(task.uuid, description="both servers hear it")
            version = list_version(person)
            for stream in (stuck, reader):
                arrived = wait_for_version(stream, version, before, timeout=1.0)
                assert arrived - before < 1.0
    finally:
        published.close()
        subscribed.close()


# --- 4. a lock on the task table ---------------------------------------------------------------

DB_TIMEOUT = 1.0
#: What a request under the lock may take beyond ``OSIS_ASYNC_DB_TIMEOUT``: its share of the
#: server's Python (one process for all of them), on a machine running other tests.
LOCK_MARGIN = 1.0


def timed_request(
    client: httpx.Client, path: str, headers: dict[str, str]
) -> tuple[float, int, dict[str, str], bytes]:
    """``(seconds, status, headers, body)``; of a stream, what it sent up to ``ready``."""
    started = time.monotonic()
    with client.stream("GET", path, headers=headers) as response:
        body = b""
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            for chunk in response.iter_raw():
                body += chunk
                if b"event: ready" in body:
                    break
        else:
            body = response.read()
        return time.monotonic() - started, response.status_code, dict(response.headers), body


def burst(
    client: httpx.Client, kinds: list[tuple[str, str, dict[str, str]]], sample: Callable[[], int]
) -> tuple[list[tuple[str, Any]], int]:
    """The requests of ``kinds`` (``(kind, path, headers)``) all at once: each one's
    ``timed_request`` (or what it raised), and the highest ``sample()`` meanwhile."""
    peak = 0
    with concurrent.futures.ThreadPoolExecutor(len(kinds)) as pool:
        futures = [pool.submit(timed_request, client, path, headers) for _, path, headers in kinds]
        while not all(future.done() for future in futures):
            peak = max(peak, sample())
            time.sleep(0.05)
    outcomes: list[tuple[str, Any]] = []
    for (kind, _, _), future in zip(kinds, futures, strict=True):
        error = future.exception()
        outcomes.append((kind, error if error is not None else future.result()))
    return outcomes, peak


def test_table_locked(case_db: str, person: Any) -> None:
    locked = Trials("table lock: requests under the lock", within=DB_TIMEOUT + LOCK_MARGIN)
    released = Trials("table lock: requests once released")
    task = AsyncTask.objects.create(name="Task", person=person)
    app_name = f"osis-fault-{os.getpid()}-server"
    env = {"OSIS_ASYNC_DB_TIMEOUT": str(DB_TIMEOUT), "PGAPPNAME": app_name}

    def server_connections() -> int:
        return len(faults.backends(case_db, "application_name = %s", (app_name,)))

    with (
        uvicorn_server(case_db, env=env) as server,
        faults.admin_connection(case_db) as holder,
        httpx.Client(base_url=server.base, cookies=session_cookie(person), timeout=10) as client,
    ):
        etag = client.get(LIST).headers["ETag"]
        reader = EventReader(server.base + STREAM, dict(client.cookies))
        reader.wait_for("ready")
        kinds = (
            [("list", LIST, {})] * 8
            + [("conditional", LIST, {"If-None-Match": etag})] * 8
            + [("stream", STREAM, {})] * 4
        )
        holder.autocommit = False
        holder.execute('LOCK TABLE "osis_async_asynctask" IN ACCESS EXCLUSIVE MODE')
        try:
            outcomes, peak = burst(client, kinds, server_connections)
        finally:
            holder.rollback()  # the lock goes
        for kind, outcome in outcomes:
            if isinstance(outcome, BaseException):
                locked.failed(f"{kind}: {outcome!r}")
                continue
            seconds, status, headers, body = outcome
            if status != 503 or headers.get("retry-after") != "10" or not _detail(body):
                locked.failed(
                    f"{kind}: {status}, Retry-After {headers.get('retry-after')}, {body[:80]!r}"
                )
            else:
                locked.measure(seconds, kind)
        # A connection per request in flight (no pool), the streams' thread's and the LISTEN one.
        print(f"table lock: at most {peak} connections of the server's for {len(kinds)} requests")
        assert peak <= len(kinds) + 2, peak
        locked.check(len(kinds))

        # Released: every request answers again, and the open stream still hears changes.
        outcomes, _ = burst(client, kinds, server_connections)
        for kind, outcome in outcomes:
            if isinstance(outcome, BaseException):
                released.failed(f"{kind}: {outcome!r}")
                continue
            _, status, _, body = outcome
            wanted = {"list": 200, "conditional": 304, "stream": 200}[kind]
            if status != wanted or (kind == "stream" and b"event: ready" not in body):
                released.failed(f"{kind}: {status} {body[:80]!r}")
            else:
                released.passed()
        before = time.monotonic()
        update_task(task.uuid, progression=40)
        arrived = wait_for_version(reader, list_version(person), before, timeout=1.0)
        print(f"table lock: a change after it reached the open stream in {arrived - before:.3f} s")
        released.check(len(kinds))
        # The connections of the burst were given back.
        wait_until(lambda: server_connections() <= 2, timeout=5, what="the connections to go")


def _detail(body: bytes) -> str:
    try:
        return str(json.loads(body)["detail"])
    except (ValueError, KeyError, TypeError):
        return ""


# --- 5. a worker killed mid-job ----------------------------------------------------------------


@pytest.fixture(params=["rabbitmq"])
def celery_case(request: pytest.FixtureRequest, case_db: str, tmp_path: Any) -> Iterator[CeleryEnv]:
    """Celery workers on the case's database (RabbitMQ unless the test says otherwise, with
    ``@pytest.mark.parametrize("celery_case", [...], indirect=True)``); stopped at its end."""
    with celery_environment(reachable_broker(request.param), case_db, tmp_path) as env:
        yield env


def worker_name(name: str) -> str:
    """A name no other worker has: a worker's control queue (``<name>@<host>.celery.pidbox``)
    is exclusive, and other runs on this machine and broker start workers too."""
    return f"{name}-{uuid.uuid4().hex[:6]}"


def row(task_uuid: uuid.UUID) -> AsyncTask:
    return AsyncTask.objects.get(uuid=task_uuid)


@pytest.mark.parametrize("celery_case", sorted(BROKER_URLS), indirect=True)
def test_worker_killed_mid_job(celery_case: CeleryEnv, person: Any) -> None:
    broker = celery_case.broker
    swept = Trials(f"worker killed ({broker}): jobs swept to ERROR after their time to live")
    finished = Trials(f"worker killed ({broker}): jobs of the next worker DONE")
    survivor: WorkerProcess | None = None
    for round_ in range(1, 3):
        queue = f"{celery_case.queue}.doomed{round_}"
        doomed = celery_case.start_worker(
            worker_name(f"doomed{round_}"), concurrency=2, queue=queue
        )
        killed = [jobs.slow.apply_async_for(person, args=(30,), queue=queue) for _ in range(2)]
        wait_until(
            lambda killed=killed: all(
                (task := row(u)).state == TaskState.PROCESSING and task.progression >= 5
                for u in killed
            ),
            timeout=30,
            what="the jobs to report progress",
        )
        doomed.kill()
        at_kill = {u: row(u) for u in killed}
        time.sleep(0.5)  # a dead worker writes nothing more: the rows stay as they were
        for u in killed:
            assert (row(u).state, row(u).progression) == (
                TaskState.PROCESSING,
                at_kill[u].progression,
            )
        # The sweep before their minute to live is over leaves them alone...
        call_command("check_async_task_ttl", verbosity=0)
        assert {row(u).state for u in killed} == {TaskState.PROCESSING}
        # ...and marks them ERROR once it is (two minutes later, moved back not waited for).
        AsyncTask.objects.filter(uuid__in=killed).update(
            started_at=F("started_at") - datetime.timedelta(minutes=2)
        )
        call_command("check_async_task_ttl", verbosity=0)
        for u in killed:
            task = row(u)
            if (
                task.state == TaskState.ERROR
                and task.traceback == TTL_EXPIRED_MESSAGE
                and task.completed_at is not None
                and task.progression == at_kill[u].progression
            ):
                swept.passed()
            else:
                swept.failed(f"{u}: {task.state} {task.progression} {task.traceback[:60]!r}")
        # Another worker runs the next jobs to their end.
        if survivor is None:
            survivor = celery_case.start_worker(worker_name("survivor"), concurrency=2)
        started = time.monotonic()
        new = [jobs.count_to.enqueue_for(person, 10, step_seconds=0.02) for _ in range(2)]
        for u in new:
            try:
                wait_until(lambda u=u: row(u).state == TaskState.DONE, timeout=30, what=f"{u} DONE")
            except AssertionError as error:
                finished.failed(str(error))
            else:
                finished.measure(time.monotonic() - started, "a job")
    assert not AsyncTask.objects.filter(state=TaskState.PROCESSING).exists()
    check_trials((swept, 4), (finished, 4))


# --- 6. the app's connections terminated, as a database restart does ------------------------------


@pytest.mark.parametrize("pool", [False, True], ids=["connection-per-request", "psycopg-pool"])
def test_database_restart(celery_case: CeleryEnv, case_db: str, person: Any, pool: bool) -> None:
    config = "psycopg's pool" if pool else "a connection per request"
    answers = Trials(f"database restart ({config}): list requests answered")
    arrivals = Trials(f"database restart ({config}): streams")
    ended = Trials(f"database restart ({config}): tracked jobs DONE")
    task = AsyncTask.objects.create(name="Task", person=person)
    app_name = f"osis-fault-{os.getpid()}-server"
    env = {"PGAPPNAME": app_name, "OSIS_ASYNC_TEST_DB_POOL": "1" if pool else "0"}
    celery_case.start_worker(worker_name("w1"), concurrency=2)
    with (
        uvicorn_server(case_db, env=env) as server,
        httpx.Client(base_url=server.base, cookies=session_cookie(person), timeout=10) as client,
    ):
        readers = [EventReader(server.base + STREAM, dict(client.cookies)) for _ in range(3)]
        for reader in readers:
            reader.wait_for("ready")
        assert client.get(LIST).status_code == 200
        running = [jobs.count_to.enqueue_for(person, 40, step_seconds=0.1) for _ in range(4)]
        wait_until(
            lambda: sum(row(u).progression > 0 for u in running) >= 2,
            timeout=30,
            what="two jobs to report progress",
        )
        # What a restart does to the app: every connection to its database goes, the LISTEN
        # one, the streams' thread's, the pool's, the workers' and their tracking writer's.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            (own,) = cursor.fetchone()
        victims = [pid for pid in faults.backends(case_db) if pid != own]
        servers = faults.backends(case_db, "application_name = %s", (app_name,))
        faults.terminate(victims)
        killed_at = time.monotonic()
        print(
            f"database restart ({config}): {len(victims)} backends terminated, "
            f"{len(servers)} of them the server's"
        )

        # The list: a few 503s at most, never a 500 nor a hang, then 200s.
        statuses: list[int] = []
        while time.monotonic() - killed_at < 10 and statuses[-5:] != [200] * 5:
            response = client.get(LIST)
            statuses.append(response.status_code)
            if response.status_code != 200 and (
                response.status_code not in (502, 503) or not _detail(response.content)
            ):
                answers.failed(f"{response.status_code} {response.content[:100]!r}")
            else:
                answers.passed()
        print(f"database restart ({config}): the list answered {statuses}")
        assert statuses[-5:] == [200] * 5, statuses
        assert sum(status != 200 for status in statuses) <= 4, statuses

        # New streams open (a 503 at most first, for a connection found dead).
        openings = []
        while len(openings) < 3 and openings[-1:] != [200]:
            _, status, _, body = timed_request(client, STREAM, {})
            openings.append(status)
            assert (status == 200 and b"event: ready" in body) or (
                status == 503 and _detail(body)
            ), (status, body[:100])
        assert openings[-1] == 200, openings
        print(f"database restart ({config}): new streams answered {openings}")

        # The open streams keep going and hear the next change.
        before = time.monotonic()
        update_task(task.uuid, progression=60)
        version = list_version(person)
        for reader in readers:
            try:
                arrived = wait_for_version(reader, version, before, timeout=5)
            except AssertionError as error:
                arrivals.failed(str(error))
            else:
                arrivals.measure(arrived - before, "the change")
        # The running jobs still end DONE: the tracking writes are retried.
        for u in running:
            try:
                wait_until(lambda u=u: row(u).state == TaskState.DONE, timeout=30, what=f"{u} DONE")
            except AssertionError as error:
                ended.failed(f"{error}: {row(u).state} {row(u).progression}")
            else:
                ended.measure(time.monotonic() - killed_at, "a job")
        # The workers' tracking writes did meet the dead connections, and tried again.
        failed_writes = sum(w.log().count("Could not record") for w in celery_case.workers)
        print(f"database restart ({config}): {failed_writes} tracking writes failed and retried")
        assert failed_writes >= 1, celery_case.logs()
        check_trials((answers, len(statuses)), (arrivals, len(readers)), (ended, len(running)))
        assert not AsyncTask.objects.exclude(state=TaskState.DONE).exclude(uuid=task.uuid).exists()
