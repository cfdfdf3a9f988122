"""bench/floor_app.py as an ASGI app, for `python bench/http_floor.py --asgi` (gunicorn with uvicorn's worker).

The same request and the same statement: POST / with {"id": n}, one prepared `UPDATE … RETURNING` by primary key
(autocommit), a small JSON answer. Each worker process keeps up to four async psycopg connections, as the WSGI
floor keeps one per thread. It measures what a different HTTP stack (uvloop, httptools' C parser) costs per
request on this machine; it is not a way the project serves requests.
"""

import asyncio
import json
import os

import psycopg

SQL = "UPDATE catalog_cardcode SET status = 'redeemed', status_changed_at = now() WHERE id = %s AND status = 'sold' RETURNING id"
CONNECTIONS = 4
_idle: asyncio.Queue | None = None
_opened = 0


async def _connection() -> psycopg.AsyncConnection:
    global _idle, _opened
    if _idle is None:
        _idle = asyncio.Queue()
    if _idle.empty() and _opened < CONNECTIONS:
        _opened += 1
        return await psycopg.AsyncConnection.connect(os.environ["FLOOR_DATABASE_URL"], autocommit=True)
    return await _idle.get()


async def application(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    data = json.loads(body)
    conn = await _connection()
    try:
        cursor = await conn.execute(SQL, (int(data["id"]),), prepare=True)
        row = await cursor.fetchone()
    finally:
        _idle.put_nowait(conn)
    status, answer = (201, {"id": row[0], "status": "redeemed"}) if row else (409, {"error": {"code": "gone"}})
    payload = json.dumps(answer).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
