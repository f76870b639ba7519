"""The benchmarks' project as an ASGI application, for ``bench/streams.py``'s uvicorn: wrapped in
``serve_streams`` as the docs say, unless ``STREAMS_SERVED_BY=django`` (Django serves the
streams itself, for comparison)."""

import os

from django.core.asgi import get_asgi_application

from osis_async.asgi import serve_streams

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.streams_settings")
application = get_asgi_application()
if os.environ.get("STREAMS_SERVED_BY") != "django":
    application = serve_streams(application)
