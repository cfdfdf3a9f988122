"""gunicorn settings for VoucherHub in production, for both entry points (docs/operations.md, "Web entry points"):

    gunicorn -c gunicorn.conf.py                                                  # the site: voucherhub.wsgi
    GUNICORN_BIND=0.0.0.0:8001 gunicorn -c gunicorn.conf.py voucherhub.api_wsgi   # the API, the proxy sends /api/ here

The API entry (voucherhub/api_wsgi.py) runs on its own settings module, voucherhub.settings.api_only: leave
DJANGO_SETTINGS_MODULE unset (or point it at a module that imports api_only) in that process's environment.

Each value can be overridden on the command line or with GUNICORN_CMD_ARGS. The access log never holds a
private link's token: `/my/<token>/` (a holder's codes), `/orders/report/<token>/`, `/join/<token>/` and
`/reset/<uid>/<token>/` are logged as `/my/***` and so on, in the request line, the path and the
referrer (voucherhub/core/gunicorn_logger.py; the same filter is on Django's own log handlers).
"""

import multiprocessing
import os

wsgi_app = "voucherhub.wsgi:application"
bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
timeout = 30
# Behind the TLS proxy: trust its X-Forwarded-* headers (settings.SECURE_PROXY_SSL_HEADER reads the scheme).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

accesslog = "-"
errorlog = "-"
# The combined format with the request time; %(r)s, %(U)s and %(f)s arrive with tokens masked.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'
logger_class = "voucherhub.core.gunicorn_logger.PrivatePathLogger"
