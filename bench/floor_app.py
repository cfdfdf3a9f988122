"""The least a Python endpoint can do per redemption: a WSGI app without Django (bench/http_floor.py).

POST / with {"id": n}: one prepared `UPDATE … RETURNING` by primary key on the thread's own psycopg
connection (autocommit, like a redemption's commit), answered with a small JSON body. No signature, no
idempotency, no risk control, no routing: what gunicorn, the WSGI call and one statement cost together.
"""

import json
import os
import threading

import psycopg

SQL = "UPDATE catalog_cardcode SET status = 'redeemed', status_changed_at = now() WHERE id = %s AND status = 'sold' RETURNING id"
_local = threading.local()


def _connection():
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = psycopg.connect(os.environ["FLOOR_DATABASE_URL"], autocommit=True)
    return conn


def application(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    data = json.loads(environ["wsgi.input"].read(length))
    row = _connection().execute(SQL, (int(data["id"]),), prepare=True).fetchone()
    status, body = ("201 Created", {"id": row[0], "status": "redeemed"}) if row else ("409 Conflict", {"error": {"code": "gone"}})
    payload = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]
