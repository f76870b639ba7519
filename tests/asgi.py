"""The test project under an ASGI server, for the stream tests."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.stream_settings")
application = get_asgi_application()
