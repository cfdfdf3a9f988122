"""`make serve` (voucherhub/core/serve.py) for real: the web server with DEBUG off and the job cluster start,
the demo answers as its users see it (branded 404, static files through WhiteNoise), and SIGTERM stops both
cleanly: exit status 0, no "Segmentation fault", no RecursionError, the port closed."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent.parent
pytestmark = pytest.mark.postgres  # the cluster and the server use the test database (flushed after: transactional_db)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, **headers) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - our own server on 127.0.0.1
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def wait_until_up(url: str, process: subprocess.Popen, deadline: float) -> None:
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        try:
            get(url)
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    pytest.fail("the server did not answer in time")


def environment() -> dict:
    db = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        DEBUG="false",
        PYTHONUNBUFFERED="1",
        Q_WORKERS="1",
    )
    env.pop("CACHE_URL", None)  # local memory: no shared Redis database touched
    return env


@pytest.mark.slow
@pytest.mark.parametrize("how", ["script", "make", "ctrl-c"])
def test_serve_answers_with_debug_off_and_stops_cleanly_on_sigterm(transactional_db, how):
    port = free_port()
    host = f"127.0.0.1:{port}"
    if how == "script":  # SIGTERM to serve.py
        command = [sys.executable, "-m", "voucherhub.core.serve", host]
    else:  # SIGTERM to make; or SIGINT to make's whole process group, as a terminal's Ctrl-C sends it
        command = ["make", "--no-print-directory", "serve", f"HOST={host}", f"BIN={Path(sys.executable).parent}"]
    # its own session, as a terminal gives it: a "kill 0" in it must not reach this test process
    process = subprocess.Popen(
        command, cwd=ROOT, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        wait_until_up(f"http://{host}/accounts/login/", process, time.monotonic() + 40)
        status, body = get(f"http://{host}/s/no-such-shop/", **{"Accept-Language": "en"})
        assert status == 404 and 'data-testid="error-page"' in body and "Page not found" in body
        assert "Traceback" not in body and "DEBUG = True" not in body  # not the yellow debug page
        css, _text = get(f"http://{host}/static/core/voucherhub.css")
        assert css == 200  # WhiteNoise serves static files with DEBUG off
        time.sleep(1)  # the cluster is up too
    finally:
        if how == "ctrl-c":
            os.killpg(process.pid, signal.SIGINT)
        else:
            process.send_signal(signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # what was left of its session (the old Makefile left it all running)
            output, _ = process.communicate(timeout=10)
            pytest.fail("serve did not stop within 40 s:\n" + output)
    assert "Segmentation fault" not in output and "RecursionError" not in output, output
    assert "Traceback" not in output, output
    # make passes SIGTERM on to serve.py, which stops both children and exits 0; make itself then ends by the signal
    assert process.returncode in ((0,) if how == "script" else (0, -signal.SIGTERM, -signal.SIGINT, 2, 130)), (process.returncode, output)
    assert "VoucherHub stopped." in output
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
