"""Settings of the server ``bench/streams.py`` starts: the benchmarks' settings, with the stream's
keep-alive period and process cap from the environment."""

import os

from bench.settings import *  # noqa: F403
from bench.settings import DATABASES

DATABASES["default"]["CONN_MAX_AGE"] = 0
OSIS_ASYNC_STREAM_KEEPALIVE = float(os.environ.get("STREAMS_KEEPALIVE", "50"))
OSIS_ASYNC_STREAM_MAX_PER_PROCESS = int(os.environ.get("STREAMS_PER_PROCESS", "10000"))
