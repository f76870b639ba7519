"""The task admin at 1280 px in Chromium: a short uuid on one line, bars coloured by state."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from osis_async.models import AsyncTask, TaskState
from osis_async.utils import update_task

pytestmark = pytest.mark.e2e

RED, GREEN, BLUE = "rgb(186, 33, 33)", "rgb(46, 125, 50)", "rgb(65, 118, 144)"


def test_the_list_at_1280_px(browser: Any, live_server: Any, transactional_db: None) -> None:
    admin = get_user_model().objects.create_superuser("root", "root@example.org", "pw")
    tasks: dict[TaskState, AsyncTask] = {}
    for state in (TaskState.PROCESSING, TaskState.DONE, TaskState.ERROR):
        task = AsyncTask.objects.create(name=f"{state.label} task", person=admin)
        update_task(task.uuid, state=TaskState.PROCESSING, progression=60)
        if state != TaskState.PROCESSING:
            update_task(task.uuid, state=state)
        tasks[state] = task
    client = Client()
    client.force_login(admin)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    try:
        page = context.new_page()
        page.goto(live_server.url + "/admin/osis_async/asynctask/")

        def bar_colour(task: AsyncTask) -> str:
            """The colour the bar is painted in, a few pixels into its filled part (60 %)."""
            bar = page.locator(f'tr:has([title="{task.uuid}"]) progress')
            png = base64.b64encode(bar.screenshot()).decode()
            return str(
                page.evaluate(
                    """async (png) => {
                        const image = new Image();
                        image.src = `data:image/png;base64,${png}`;
                        await image.decode();
                        const canvas = document.createElement('canvas');
                        canvas.width = image.width;
                        canvas.height = image.height;
                        const context = canvas.getContext('2d');
                        context.drawImage(image, 0, 0);
                        const [r, g, b] = context.getImageData(4, image.height >> 1, 1, 1).data;
                        return `rgb(${r}, ${g}, ${b})`;
                    }""",
                    png,
                )
            )

        assert bar_colour(tasks[TaskState.ERROR]) == RED
        assert bar_colour(tasks[TaskState.DONE]) == GREEN
        assert bar_colour(tasks[TaskState.PROCESSING]) == BLUE

        uuid_cell = page.locator(f'[title="{tasks[TaskState.DONE].uuid}"]')
        assert uuid_cell.inner_text() == tasks[TaskState.DONE].uuid.hex[:8]
        line_height = page.evaluate(
            "(el) => parseFloat(getComputedStyle(el).lineHeight) || 16",
            uuid_cell.element_handle(),
        )
        assert uuid_cell.bounding_box()["height"] < 1.5 * line_height, "one line"
        uuid_cell.click()
        page.wait_for_url(f"**/{tasks[TaskState.DONE].pk}/change/")
        assert page.locator('input[type="submit"]').count() == 0, "no Save buttons"
    finally:
        context.close()
