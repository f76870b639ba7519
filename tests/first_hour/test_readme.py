"""A Django developer's first hour: README.md followed, block by block, in a new project.

In a temporary directory, beside a wheel built from this checkout (``./osis-async/dist``, as the
README lays it out): a fresh venv, ``django-admin startproject mysite``, then the README's own
code blocks and commands, read from README.md (``tests/first_hour/readme.py``):

- Install: ``pip install --upgrade pip``, the wheel's lines, the ``mysite/settings.py`` and
  ``mysite/urls.py`` blocks, ``migrate``, ``createsuperuser``;
- Create and update a task: the ``python manage.py shell`` block, in the shell;
- Run it in a worker: the Celery app (``mysite/celery.py``, ``mysite/__init__.py``), the broker
  and beat settings, ``myapp/tasks.py``, ``myapp/views.py`` and its URL, the worker and beat
  commands (RabbitMQ, as the README's ``CELERY_BROKER_URL`` says);
- The widget: ``templates/base.html``;
- Serve it: ``mysite/asgi.py``, ``pip install "uvicorn[standard]"``, the ``uvicorn`` command;
  then the production step (``pip install whitenoise``, ``collectstatic``, the
  ``mysite/settings.py, in production`` block) under the same command.

It then reads the list endpoint as the logged-in user, the schema with DRF's default settings,
sees the widget and its progress bars in Chromium, and runs one tracked Celery job through a real
worker, started from the README's view, shown live by the widget, ending ``DONE``.

What the test adds itself, and nothing else, is what any Django project has already and the
README leaves to the site (``SITE``, below): an app (``startapp myapp``), a templates folder, a
page rendering ``base.html``, the functions the README's job calls (``students_of``, ``write``),
and, so that two runs on one machine never share a broker queue or a worker name, a queue and a
worker name of its own; commands get ``--port``, ``--noinput`` where they would ask.

A README step that breaks fails here, naming the README's line. ``-m first_hour`` runs it
(``nox -s first_hour``, a step of ``scripts/test``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.first_hour import readme
from tests.wheels import build_wheel

pytestmark = pytest.mark.first_hour

ROOT = Path(__file__).resolve().parents[2]
IN_CI = bool(os.environ.get("CI"))
BROKER = ("127.0.0.1", 5672)  # the README's CELERY_BROKER_URL
PASSWORD = "first-hour-not-secret"

#: What the test adds to the new project, beside the README's blocks.
SITE_SETTINGS = """
# --- The first-hour test's own additions (tests/first_hour/test_readme.py) -------------------
INSTALLED_APPS += ["myapp"]  # python manage.py startapp myapp
TEMPLATES[0]["DIRS"] = [BASE_DIR / "templates"]  # where templates/base.html lives
CELERY_TASK_DEFAULT_QUEUE = {queue!r}  # a queue of this run's own on the shared broker
"""
SITE_URLS = """
# --- The first-hour test's own addition: a page rendering the base template ------------------
from django.views.generic import TemplateView

urlpatterns += [path("", TemplateView.as_view(template_name="base.html"))]
"""
SITE_CODE = """
# --- The first-hour test's own addition: the site's code the README's job calls --------------
import time


def students_of(year):
    return list(range(40))


def write(row):
    time.sleep(0.05)
"""
#: Every file a README block may name, and what the test does with it.
APPLIED_TARGETS = {
    ("mysite/settings.py", ""): "appended to the settings",
    ("mysite/settings.py", "in production"): "appended in the production step",
    ("mysite/urls.py", ""): "appended to the URLs",
    ("mysite/asgi.py", ""): "the whole file",
    ("mysite/celery.py", ""): "the whole file",
    ("mysite/__init__.py", ""): "the whole file",
    ("myapp/tasks.py", ""): "the whole file, with the site's code the job calls",
    ("myapp/views.py", ""): "the whole file",
    ("templates/base.html", ""): "the whole template",
    ("python manage.py shell", ""): "run in the shell",
}
PRODUCTION_HOSTS = '\nALLOWED_HOSTS = ["127.0.0.1"]  # the first-hour test\'s server\n'


def unavailable(message: str) -> None:
    if IN_CI:
        pytest.fail(f"{message} (CI is set: a missing service fails the test)", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Site:
    """The new project: its directory, its venv, and the processes started in it."""

    root: Path  # holds ./osis-async/dist, ./venv and ./mysite
    queue: str = field(default_factory=lambda: f"osis-async-first-hour-{uuid.uuid4().hex[:10]}")
    processes: list[tuple[str, subprocess.Popen[bytes], Path]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def project(self) -> Path:
        return self.root / "mysite"

    @property
    def venv(self) -> Path:
        return self.root / "venv"

    def env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"DJANGO_SETTINGS_MODULE", "PYTHONPATH", "PYTHONWARNINGS", "PYTHONHOME"}
        }
        env["VIRTUAL_ENV"] = str(self.venv)
        env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def run(
        self,
        command: str,
        what: str,
        *,
        cwd: Path | None = None,
        stdin: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 300,
    ) -> str:
        """Run ``command`` in bash with the venv first on PATH; fail naming ``what``."""
        started = time.monotonic()
        result = subprocess.run(
            ["bash", "-c", command],
            cwd=cwd or self.root,
            env={**self.env(), **(env or {})},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        self.timings[what] = self.timings.get(what, 0) + time.monotonic() - started
        if result.returncode != 0:
            pytest.fail(
                f"README step failed: {what}\n$ {command}\nexit {result.returncode}\n"
                f"--- stdout ---\n{result.stdout[-4000:]}\n--- stderr ---\n{result.stderr[-4000:]}",
                pytrace=False,
            )
        return result.stdout

    def manage(self, args: str, what: str, **kwargs: Any) -> str:
        return self.run(f"python manage.py {args}", what, cwd=self.project, **kwargs)

    def start(self, name: str, command: str, ready: str, *, timeout: float = 60) -> Path:
        """Start ``command`` in the project, in its own process group; wait for ``ready`` in its
        output."""
        log = self.root / f"{name}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                ["bash", "-c", f"exec {command}"],
                cwd=self.project,
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.processes.append((name, process, log))
        deadline = time.monotonic() + timeout
        while not re.search(ready, log.read_text(errors="replace")):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"README step failed: {name} did not start\n$ {command}\n"
                    f"--- its output ---\n{log.read_text(errors='replace')[-6000:]}",
                    pytrace=False,
                )
            time.sleep(0.1)
        return log

    def stop(self, name: str) -> None:
        for entry in [entry for entry in self.processes if entry[0] == name]:
            _, process, _ = entry
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # whatever is left of the group
            self.processes.remove(entry)

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")

    def task(self, task_uuid: str) -> dict[str, Any]:
        """The task's row, read from the project's SQLite file."""
        with contextlib.closing(sqlite3.connect(self.project / "db.sqlite3", timeout=20)) as db:
            db.row_factory = sqlite3.Row
            row = db.execute(
                "SELECT state, progression, traceback FROM osis_async_asynctask WHERE uuid = ?",
                [task_uuid.replace("-", "")],
            ).fetchone()
        assert row is not None, f"no task {task_uuid} in the project's database"
        return dict(row)


def append(path: Path, block: readme.Block | str) -> None:
    text = block.text if isinstance(block, readme.Block) else block
    with open(path, "a") as out:
        out.write("\n" + text)


def write(path: Path, block: readme.Block, extra: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(block.text + extra)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The new project, installed and migrated as the README's Install section says, with
    every block of the README applied."""
    site = Site(tmp_path_factory.mktemp("first-hour"))
    try:
        install(site)
        apply_blocks(site)
        migrate = readme.command("Install", r"python manage\.py migrate")
        site.run(migrate.shell, f"migrate, {migrate.where()}", cwd=site.project)
        createsuperuser = readme.command("Install", r"python manage\.py createsuperuser")
        site.manage(
            f"{createsuperuser.shell.removeprefix('python manage.py ')} --noinput "
            "--email alice@example.org",
            f"createsuperuser, {createsuperuser.where()}",
            env={"DJANGO_SUPERUSER_PASSWORD": PASSWORD},
        )
        yield site
    finally:
        for name, _, _ in list(site.processes):
            site.stop(name)
        print(
            "\nfirst-hour timings (s): "
            + json.dumps({key: round(value, 1) for key, value in site.timings.items()})
        )


def install(site: Site) -> None:
    """The wheel built once, a fresh venv, the README's install lines, startproject."""
    dist = site.root / "osis-async" / "dist"
    started = time.monotonic()
    wheel = build_wheel(ROOT, dist)
    site.timings["build the wheel"] = time.monotonic() - started
    wheel_line = readme.command("Install", r'pip install "\./osis-async/dist/.*\.whl\[')
    named = re.search(r"osis_async-[^\"\[ ]+\.whl", wheel_line.text)
    assert named and named.group() == wheel.name, (
        f"{wheel_line.where()} installs {named and named.group()!r}, but the wheel built is "
        f"{wheel.name!r}: update README.md (a new version?)"
    )
    site.run(f"{sys.executable} -m venv {site.venv}", "a fresh venv")
    for pattern in (
        r"python -m pip install --upgrade pip",
        r"pip install \./osis-async/dist/.*\.whl(\s|$)",
        r'pip install "\./osis-async/dist/.*\.whl\[',
    ):
        line = readme.command("Install", pattern)
        site.run(line.text, f"install, {line.where()}")
    line = readme.command("Run it in a worker", r"pip install ")
    site.run(line.text, f"the celery extra, {line.where()}")
    line = readme.command("Serve it", r'pip install "uvicorn')
    site.run(line.text, f"uvicorn, {line.where()}")
    site.run("django-admin startproject mysite", "django-admin startproject mysite")
    site.manage("startapp myapp", "startapp myapp")


def apply_blocks(site: Site) -> None:
    """Every file block of the README, applied to the new project."""
    project = site.project
    for block in readme.for_target("mysite/settings.py"):
        append(project / "mysite" / "settings.py", block)
    append(project / "mysite" / "settings.py", SITE_SETTINGS.format(queue=site.queue))
    for block in readme.for_target("mysite/urls.py"):
        append(project / "mysite" / "urls.py", block)
    append(project / "mysite" / "urls.py", SITE_URLS)
    for name in ("mysite/asgi.py", "mysite/celery.py", "mysite/__init__.py", "myapp/views.py"):
        write(project / name, readme.only(name))
    write(project / "myapp" / "tasks.py", readme.only("myapp/tasks.py"), SITE_CODE)
    write(project / "templates" / "base.html", readme.only("templates/base.html"))
    site.manage("check --fail-level WARNING", "manage.py check, with every README block applied")


# --- The steps -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def session_cookie(site: Site) -> str:
    """A session of alice's, as logging in makes one."""
    out = site.manage(
        "shell --verbosity 0 -c 'from django.contrib.auth import get_user_model\n"
        "from django.test import Client\n"
        "client = Client()\n"
        'client.force_login(get_user_model().objects.get(username="alice"))\n'
        'print(client.cookies["sessionid"].value)\'',
        "log alice in",
    )
    return out.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def readme_task(site: Site) -> str:
    """The task the README's "Create and update a task" block makes, in the shell."""
    block = readme.only("python manage.py shell")
    out = site.manage(
        "shell --verbosity 0",
        f"the shell block, {block.where()}",
        stdin=block.text + "print('TASK', task_uuid)\n",
    )
    match = re.search(r"^TASK (\S+)$", out, re.M)
    assert match, f"{block.where()} printed no task_uuid:\n{out}"
    return match.group(1)


def serve(site: Site, name: str) -> str:
    """The README's uvicorn command, on a free port; its base URL once it answers."""
    command = readme.command("Serve it", r"uvicorn ")
    port = free_port()
    site.start(name, f"{command.shell} --port {port}", r"Uvicorn running on")
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def server(site: Site, readme_task: str) -> Iterator[str]:
    yield serve(site, "uvicorn")
    site.stop("uvicorn")


@pytest.fixture(scope="module")
def http() -> Any:
    return pytest.importorskip("httpx")


def test_the_readme_task_is_done_in_the_list_endpoint(
    site: Site, server: str, session_cookie: str, readme_task: str, http: Any
) -> None:
    response = http.get(
        f"{server}/osis_async/tasks/",
        cookies={"sessionid": session_cookie},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == 1 and body["pending_count"] == 0
    (task,) = body["results"]
    assert (task["uuid"], task["name"], task["state"], task["progression"]) == (
        readme_task,
        "My task name",
        "DONE",
        100,
    )
    # Under the README's asgi.py, the list advertises the stream the widget follows.
    assert response.headers.get("Link") == '</osis_async/tasks/stream/>; rel="osis-async-stream"'
    assert http.get(f"{server}/osis_async/tasks/").status_code in (401, 403)


def test_the_schema_with_drf_default_settings(site: Site, server: str, http: Any) -> None:
    settings = (site.project / "mysite" / "settings.py").read_text()
    assert "REST_FRAMEWORK" not in settings, "the README now sets REST_FRAMEWORK: test without"
    response = http.get(
        f"{server}/osis_async/schema/", headers={"Accept": "application/vnd.oai.openapi+json"}
    )
    assert response.status_code == 200, response.text[-3000:]
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert "/osis_async/tasks/" in document["paths"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS

    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        unavailable(f"{CHROMIUM} is missing: apt-get install chromium")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@contextlib.contextmanager
def widget_page(browser: Any, base_url: str, session_cookie: str) -> Iterator[Any]:
    """The site's page in Chromium, logged in, its widget open; fails on any error the page
    reports and on any request that does not succeed (a static file's 404)."""
    context = browser.new_context(locale="en-GB")
    context.add_cookies([{"name": "sessionid", "value": session_cookie, "url": base_url}])
    context.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}") if message.type == "error" else None
        ),
    )
    page.on(
        "response",
        lambda response: (
            problems.append(f"{response.status} {response.url}") if response.status >= 400 else None
        ),
    )
    try:
        page.goto(base_url + "/")
        try:
            page.wait_for_selector(".osis-async__toggle", timeout=15_000)
        except Exception:
            blocks = ", ".join(
                readme.only(name).where() for name in ("templates/base.html", "mysite/asgi.py")
            )
            pytest.fail(
                f"The widget never appeared on the page built from {blocks} "
                f"({'; '.join(problems) or 'no error reported'}):\n{page.content()[:3000]}",
                pytrace=False,
            )
        page.click(".osis-async__toggle")
        yield page
        assert problems == [], "the page reported problems"
    finally:
        context.close()


def progress_bar(page: Any, task_name: str) -> Any:
    return page.get_by_role("progressbar", name=re.compile(re.escape(task_name)))


@pytest.fixture(scope="module")
def broker() -> None:
    with socket.socket() as sock:
        sock.settimeout(3)
        if sock.connect_ex(BROKER) != 0:
            unavailable(f"RabbitMQ, the README's broker, is not answering on {BROKER}")


@pytest.fixture(scope="module")
def workers(site: Site, broker: None) -> Iterator[None]:
    """The README's worker and beat commands (a worker name and a queue of this run's own)."""
    worker = readme.command("Run it in a worker", r"celery -A mysite worker")
    beat = readme.command("Run it in a worker", r"celery -A mysite beat")
    name = f"first-hour-{site.queue.rsplit('-', 1)[-1]}@%h"
    site.start("worker", f"{worker.shell} --hostname {name}", r" ready\.")
    site.start("beat", beat.shell, r"beat: Starting")
    yield
    site.stop("beat")
    site.stop("worker")
    with contextlib.suppress(Exception):
        from kombu import Connection

        with Connection("amqp://guest:guest@127.0.0.1:5672//", connect_timeout=3) as conn:
            conn.default_channel.queue_delete(site.queue)


def test_the_widget_shows_the_tasks_and_a_tracked_celery_job_live(
    site: Site,
    server: str,
    session_cookie: str,
    browser: Any,
    workers: None,
    http: Any,
) -> None:
    from playwright.sync_api import expect

    worker_log = site.log("worker")
    for registered in ("myapp.tasks.export_students", "osis_async.check_async_task_ttl"):
        assert f". {registered}" in worker_log, f"the worker does not know {registered}"
    with widget_page(browser, server, session_cookie) as page:
        # The README's shell task: done, a full progress bar.
        bar = progress_bar(page, "My task name")
        bar.wait_for(timeout=10_000)
        assert bar.get_attribute("aria-valuenow") == "100"

        # The README's view starts the tracked job (CSRF as a form would send it).
        token = "x" * 32
        response = http.post(
            f"{server}/export/",
            cookies={"sessionid": session_cookie, "csrftoken": token},
            headers={"X-CSRFToken": token},
        )
        assert response.status_code == 200, response.text[-3000:]
        task_uuid = response.json()["task"]

        # No task was pending, so the widget would not poll for 300 s: it hears of the job
        # through the stream (serve_streams, SQLite's polling source) and follows it to DONE.
        bar = progress_bar(page, "Students export")
        bar.wait_for(timeout=10_000)
        expect(bar).to_have_attribute("aria-valuenow", "100", timeout=30_000)
    deadline = time.monotonic() + 30
    while (row := site.task(task_uuid))["state"] not in ("DONE", "ERROR"):
        assert time.monotonic() < deadline, (
            f"the job is still {row['state']}:\n{site.log('worker')}"
        )
        time.sleep(0.2)
    assert (row["state"], row["progression"]) == ("DONE", 100), row["traceback"]
    assert re.search(
        rf"Task myapp\.tasks\.export_students\[{task_uuid}\] succeeded", site.log("worker")
    )


def test_production_static_files_with_whitenoise(
    site: Site, session_cookie: str, browser: Any, readme_task: str, http: Any
) -> None:
    # In the README's order: the production settings, then the install and collectstatic.
    for block in readme.for_target("mysite/settings.py", "in production"):
        append(site.project / "mysite" / "settings.py", block)
    append(site.project / "mysite" / "settings.py", PRODUCTION_HOSTS)
    line = readme.command("Serve it", r"pip install whitenoise")
    site.run(line.text, f"install whitenoise, {line.where()}")
    collectstatic = readme.command("Serve it", r"python manage\.py collectstatic")
    site.manage(
        f"{collectstatic.shell.removeprefix('python manage.py ')} --noinput",
        f"collectstatic, {collectstatic.where()}",
    )
    assert (site.project / "staticfiles" / "osis_async" / "osis-async.umd.js").is_file()
    base_url = serve(site, "uvicorn-production")
    try:
        script = http.get(f"{base_url}/static/osis_async/osis-async.umd.js")
        assert script.status_code == 200 and "OsisAsync" in script.text
        with widget_page(browser, base_url, session_cookie) as page:
            progress_bar(page, "My task name").wait_for(timeout=10_000)
    finally:
        site.stop("uvicorn-production")
    assert "Traceback" not in site.log("uvicorn-production")
