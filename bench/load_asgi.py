"""The demo as an ASGI application, for ``bench/load_profile.py``'s uvicorn (no static files)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.load_settings")
application = get_asgi_application()
