"""The floor of a flash-sale buy: a bare WSGI app (no Django) answering the buy request with one Redis command.

POST /s/<slug>/flash/<id>/buy/ (any path): reads the body, runs one `DECR` of a stock counter on the thread's
redis-py client and answers 201 {"order": n} while the counter stays >= 0, else 409 {"code": "sold_out"}. No
session, no CSRF, no database: what gunicorn, the WSGI call and one Redis round trip cost together
(bench/flash_sale.py serves it under the same gunicorn settings as the site and sends it the same requests).
"""

import json
import os
import threading

import redis

KEY = os.environ.get("FLOOR_REDIS_KEY", "flash-floor:left")
_local = threading.local()


def _client():
    client = getattr(_local, "client", None)
    if client is None:
        client = _local.client = redis.Redis.from_url(os.environ["FLOOR_REDIS_URL"])
    return client


def application(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    environ["wsgi.input"].read(length)
    left = _client().execute_command("DECR", KEY)
    status, body = ("201 Created", {"order": f"F{left}", "pay_url": "/pay/"}) if left >= 0 else ("409 Conflict", {"code": "sold_out"})
    payload = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]
