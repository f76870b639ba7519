"""The test project under an ASGI server, for the stream tests, wrapped as the docs say."""

import os

from django.core.asgi import get_asgi_application

from osis_async.asgi import serve_streams

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.stream_settings")
application = serve_streams(get_asgi_application())
