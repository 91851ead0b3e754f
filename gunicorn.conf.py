"""gunicorn settings of the web service (Dockerfile CMD, docker-compose.yml, and the production test in make test).

Everything that differs between machines comes from the environment, like the app's own settings.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 20
# Recycle workers now and then so a slow leak (a big import, a huge image) cannot grow forever.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = 200
accesslog = "-"
errorlog = "-"
# The proxy's address is in the access log; the client's (X-Forwarded-For) beside it.
access_log_format = '%(h)s %({x-forwarded-for}i)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'


def post_worker_init(worker):
    """Move everything loaded at start (Django, the apps, their modules: a few hundred thousand objects) out of the
    garbage collector's reach. A full collection otherwise walks them all, now and then in the middle of a request
    that allocates much (the case map's GeoJSON): about 70 ms on top of a 30 ms answer. Nothing frozen is freed."""
    import gc

    gc.freeze()
