"""Gunicorn settings for conservancy in production.

    conservancy serve --config deploy/gunicorn.conf.py

``conservancy serve`` builds the app itself (no ``wsgi_app`` here); this file sets
how gunicorn runs it. --host/--port/--workers on the command line win over the
``bind`` and ``workers`` below.
"""

import multiprocessing
import os

# Behind nginx on the same host (deploy/nginx.conf): listen on loopback only.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")

# Sync workers, two per core plus one: a request holds its worker while it waits on
# PostgreSQL, and the slow work (PDFs, mail, the books) is off the request anyway
# (the courier thread, or RQ with CONSERVANCY_REDIS_URL).
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"

# A request that takes longer is killed and logged; Stripe retries a webhook that got no
# answer. Statements for a long period are drawn in parts well within this.
timeout = 60
graceful_timeout = 30
keepalive = 5

# Restart each worker now and then, jittered so they do not all restart at once.
max_requests = 2000
max_requests_jitter = 200

# Only nginx on this host may say the client's address and scheme (X-Forwarded-For,
# X-Forwarded-Proto). Add the proxy's address if it runs elsewhere; never "*" when
# the port is reachable from outside.
forwarded_allow_ips = "127.0.0.1,::1"

# Access log on stdout (journald keeps it): no query strings, no sign-in or reset
# tokens (they are in the path; conservancy.web.access_log writes them as [token]),
# no cookies or other headers.
accesslog = "-"
errorlog = "-"
loglevel = "info"
logger_class = "conservancy.web.access_log.RedactingLogger"
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)s "%(f)s" "%(a)s"'

# Gunicorn's own request limits, below nginx's client_max_body_size refusal.
limit_request_line = 8190
limit_request_fields = 100

# gunicorn 24+ opens a control socket in $HOME; the service has no writable home
# (ProtectHome) and nothing here uses gunicornc. Restart with systemctl instead.
control_socket_disable = True
