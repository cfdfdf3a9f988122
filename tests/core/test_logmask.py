"""Private links in logs: Django's own log lines and gunicorn's access log drop the token of /my/<token>/."""

import io
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from voucherhub.core.logmask import message_masked, private_paths_masked

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "Zm9vYmFyYmF6cXV4MTIzNDU2.AbCdEfGhIjKlMnOpQrStUvWxYz0"


def test_private_paths_lose_their_token():
    assert private_paths_masked(f"GET /my/{TOKEN}/reveal/3/ HTTP/1.1") == "GET /my/***/reveal/3/ HTTP/1.1"
    assert private_paths_masked(f"https://x.example/orders/report/{TOKEN}/") == "https://x.example/orders/report/***/"
    assert private_paths_masked(f"/join/{TOKEN}/") == "/join/***/"
    assert private_paths_masked("/reset/MQ/abc-123def/") == "/reset/***/"
    assert private_paths_masked("/portal/orders/SO123/") == "/portal/orders/SO123/"


def test_messages_lose_links_and_codes():
    text = f"Your code ABCD-1234-EFGH is on https://x.example/my/{TOKEN}/ and /my/{TOKEN}/ (order SO26120700001)."
    masked = message_masked(text)
    assert TOKEN not in masked and TOKEN.split(".")[0] not in masked
    assert "ABCD-1234-EFGH" not in masked and "SO26120700001" not in masked
    assert "https://x.example/my/***" in masked and "Your code *** is on" in masked


@pytest.mark.django_db
def test_djangos_not_found_warning_holds_no_token(client):
    # the project's console handler (settings.LOGGING) carries the filter
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    stream = io.StringIO()
    old = handler.setStream(stream)
    try:
        assert client.get(f"/my/{TOKEN}/").status_code == 404
        assert client.get(f"/orders/report/{TOKEN}/").status_code == 404
    finally:
        handler.setStream(old)
    logged = stream.getvalue()
    assert "Not Found: /my/***/" in logged and "Not Found: /orders/report/***/" in logged
    assert TOKEN not in logged and TOKEN.split(".")[0] not in logged


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_gunicorn_access_log_drops_the_token(tmp_path):
    # given gunicorn started with the project's gunicorn.conf.py, as in production
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "DJANGO_SETTINGS_MODULE": "voucherhub.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
    }
    log = open(tmp_path / "gunicorn.log", "w+")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()
                time.sleep(0.3)
        # when a holder opens a private link (and a page from it, which sends it as the referrer)
        for path, referrer in ((f"/my/{TOKEN}/", None), ("/static/core/favicon.svg", f"https://x.example/my/{TOKEN}/")):
            request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Referer": referrer} if referrer else {})
            try:
                urllib.request.urlopen(request, timeout=60).close()
            except urllib.error.HTTPError:
                pass
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
    logged = (tmp_path / "gunicorn.log").read_text()
    # then the access log has both requests, with the token dropped
    assert '"GET /my/***/ HTTP/1.1"' in logged and "https://x.example/my/***/" in logged, logged
    assert TOKEN not in logged and TOKEN.split(".")[0] not in logged
