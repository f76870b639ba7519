"""The demo under an ASGI server (``uvicorn demo.asgi:application``): the task stream is on."""

import os

from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

from osis_async.asgi import serve_streams

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo.settings")
# On PostgreSQL, the web process takes its connections from psycopg's pool (demo/settings.py).
os.environ.setdefault("DEMO_DB_POOL", "1")
application = get_asgi_application()
if settings.DEBUG:
    # What runserver does for static files; a production site lets its web server do it.
    application = ASGIStaticFilesHandler(application)
# The task streams, served at their cheapest once Django has opened them.
application = serve_streams(application)
