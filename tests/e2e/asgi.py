"""The test project under an ASGI server, with its static files, for the browser tests
(``uvicorn tests.e2e.asgi:application``): uvicorn serves no static files of its own, and the
task streams are served by ``serve_streams`` as the docs say."""

import os

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

from osis_async.asgi import serve_streams

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.stream_settings")
application = serve_streams(ASGIStaticFilesHandler(get_asgi_application()))
