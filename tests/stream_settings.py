"""The test settings for an ASGI server process the stream tests start."""

import os

from tests.settings import *  # noqa: F403

OSIS_ASYNC_STREAM_KEEPALIVE = float(os.environ.get("OSIS_ASYNC_STREAM_KEEPALIVE", "15"))
OSIS_ASYNC_STREAM_MAX_AGE = float(os.environ.get("OSIS_ASYNC_STREAM_MAX_AGE", "300"))

# What the fault tests (tests/integration/test_faults.py) vary, when their environment says.
if "OSIS_ASYNC_CHANGE_SOURCE" in os.environ:
    OSIS_ASYNC_CHANGE_SOURCE = os.environ["OSIS_ASYNC_CHANGE_SOURCE"]
if "OSIS_ASYNC_REDIS_URL" in os.environ:
    OSIS_ASYNC_REDIS_URL = os.environ["OSIS_ASYNC_REDIS_URL"]
if "OSIS_ASYNC_DB_TIMEOUT" in os.environ:
    OSIS_ASYNC_DB_TIMEOUT = float(os.environ["OSIS_ASYNC_DB_TIMEOUT"])
if os.environ.get("OSIS_ASYNC_TEST_DB_POOL") == "1":
    # psycopg's pool, as docs/live-updates.md has ASGI processes take their connections.
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
    DATABASES["default"]["OPTIONS"] = {  # noqa: F405
        "pool": {"min_size": 2, "max_size": 4, "timeout": 30}
    }
