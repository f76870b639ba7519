"""Test-only host pages: the widget among Bootstrap 3, Bootstrap 5, nothing, or the seed's stack.

Third-party files are served from the widget's ``frontend/node_modules`` (its npm
devDependencies), so no page loads anything from outside the test server.
"""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

NODE_MODULES = Path(__file__).resolve().parents[2] / "frontend" / "node_modules"

VENDOR_FILES = {
    "bootstrap3.css": "bootstrap/dist/css/bootstrap.min.css",
    "bootstrap3.js": "bootstrap/dist/js/bootstrap.min.js",
    "bootstrap5.css": "bootstrap5/dist/css/bootstrap.min.css",
    "bootstrap5.js": "bootstrap5/dist/js/bootstrap.bundle.min.js",
    "jquery.js": "jquery/dist/jquery.min.js",
    "vue.js": "vue/dist/vue.global.prod.js",
}

FLAVOURS = ("plain", "bootstrap3", "bootstrap5", "seed")


def vendor(request: HttpRequest, name: str) -> FileResponse:
    relative = VENDOR_FILES.get(name)
    if relative is None or not (NODE_MODULES / relative).is_file():
        raise Http404(name)
    content_type = "text/css" if name.endswith(".css") else "text/javascript"
    return FileResponse((NODE_MODULES / relative).open("rb"), content_type=content_type)


@login_required
def host(request: HttpRequest, flavour: str) -> HttpResponse:
    if flavour not in FLAVOURS:
        raise Http404(flavour)
    return render(
        request,
        f"e2e/{flavour}.html",
        {"tasks_url": reverse("osis_async:task-list"), "lang": request.GET.get("lang", "en")},
    )
