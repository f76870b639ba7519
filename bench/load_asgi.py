"""The demo as an ASGI application for the load benchmarks' uvicorn (``bench/load_profile.py``,
``bench/load_list.py``): the documented set-up, the streams served by ``serve_streams``; no
static files."""

import os

from django.core.asgi import get_asgi_application

from osis_async.asgi import serve_streams

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.load_settings")
application = serve_streams(get_asgi_application())
