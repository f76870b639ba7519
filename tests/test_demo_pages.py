from __future__ import annotations

import html

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_home_needs_login() -> None:
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_home_mounts_the_widget_as_the_seed_says(user_client: Client) -> None:
    html = user_client.get("/").content.decode()
    assert '<div id="async-tasks-viewer" data-url="/osis_async/tasks/" data-interval="300">' in html
    assert 'href="/static/osis_async/osis-async.css"' in html
    assert html.rstrip().endswith(
        '<script type="text/javascript" src="/static/osis_async/osis-async.umd.js"></script>\n'
        "</body>\n</html>"
    )


def test_unknown_job_is_refused_naming_the_allowed_ones(user_client: Client) -> None:
    response = user_client.post("/start/", {"job": "rm -rf"})
    assert response.status_code == 400
    assert "Unknown job 'rm -rf'; allowed: report, export, import, stuck." in html.unescape(
        response.content.decode()
    )


def test_login_page_names_the_demo_login() -> None:
    assert "demo / demo" in Client().get("/accounts/login/").content.decode()


def test_an_unknown_job_is_echoed_escaped(user_client: Client) -> None:
    response = user_client.post("/start/", {"job": "<script>alert(1)</script>"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "<script" not in body and "</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert html.unescape(body).startswith("Unknown job '<script>alert(1)</script>'; allowed:")


def test_the_home_page_is_french_for_a_french_visitor(user_client: Client) -> None:
    page = user_client.get("/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Lancez une tâche : elle s’exécute en arrière-plan" in page
    assert "Dépasse sa durée de vie d’une minute" in page
    assert "Exporte 12\u00a0000 étudiants vers un tableur." in page
    for english in ("Start a job", "Outlives", "Exports 12,000", "About "):
        assert english not in page
