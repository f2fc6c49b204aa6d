"""gunicorn settings for the portal: `gunicorn -c gunicorn.conf.py wsgi:app`.

Threaded workers (gthread): a client that sends its request slowly ties up one thread, not a
whole worker; with the sync worker two slow connections stalled the portal for 30 s. In production
nginx (or any buffering proxy) in front reads each request in full before passing it on.
Every value can be changed from the environment, the way gunicorn's own GUNICORN_CMD_ARGS allows.
"""

from __future__ import annotations

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# A request that has not been answered in 30 s is a stuck worker: restart it.
timeout = 30
graceful_timeout = 30
keepalive = 5
# Headers bigger than this are refused before Flask sees them (413 for bodies is MAX_REQUEST_BYTES).
limit_request_line = 8190
limit_request_fields = 100
accesslog = "-"
# One-time links carry their token in the path: the access log shows the path without it.
logger_class = "portal.web.access_log.RedactingLogger"
