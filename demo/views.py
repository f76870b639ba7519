from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from demo import jobs


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "demo/index.html", {"jobs": jobs.JOBS.values()})


@login_required
@require_POST
def start(request: HttpRequest) -> HttpResponse:
    key = request.POST.get("job", "")
    job = jobs.JOBS.get(key)
    if job is None:
        allowed = ", ".join(jobs.JOBS)
        # The value is the client's: escaped, it is shown and never run.
        return HttpResponseBadRequest(
            format_html("Unknown job {}; allowed: {}.", repr(key), allowed)
        )
    jobs.start(job, request.user)
    messages.success(request, _("“%(name)s” started.") % {"name": job.name})
    return redirect("demo-home")
