"""The test settings for an ASGI server process the stream tests start."""

import os

from tests.settings import *  # noqa: F403

OSIS_ASYNC_STREAM_KEEPALIVE = float(os.environ.get("OSIS_ASYNC_STREAM_KEEPALIVE", "15"))
OSIS_ASYNC_STREAM_MAX_AGE = float(os.environ.get("OSIS_ASYNC_STREAM_MAX_AGE", "300"))
