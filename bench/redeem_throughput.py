"""Redeem throughput through the signed API, against raw single-row UPDATEs and the bare HTTP floor.

    python bench/redeem_throughput.py [--threads 4] [--seconds 8] [--workers 2] [--worker-threads 4]

1. Creates a scratch PostgreSQL database (next to DATABASE_URL's, default postgres://postgres@127.0.0.1:5432),
   migrates it, and fills it: one merchant and store, one signed terminal per client thread, a SKU and
   enough sold codes (sealed in the vault like any other) for the run.
2. Starts the app under gunicorn (production settings: DEBUG off; Redis cache when it answers) on a free port.
3. API: `--threads` client threads, each with a keep-alive connection and its own terminal, redeem
   distinct codes with signed POST /api/v1/redemptions/ (a fresh Idempotency-Key each).
4. Floor: bench/floor_app.py (a WSGI app without Django doing one prepared raw UPDATE by primary key) behind
   gunicorn with the same settings, the same client and headers of a signed request's size: what any
   Python endpoint on this stack can reach (bench/http_floor.py measures it alone).
5. Raw: the same number of psycopg connections run `UPDATE … SET status='redeemed' … WHERE id=%s
   RETURNING id` on distinct rows (autocommit, like one redemption's commit).
   3, 4 and 5 alternate in `--rounds` rounds adding up to `--seconds` each, so all meet the same load.
6. Contention check: 40 codes, each sent by every thread at once; exactly one redemption each must win.
7. Prints details, then as the last line:
   redeem_ratio=<api/raw> redeem_vs_floor=<api/floor> api_redeems_per_s=<n> floor_per_s=<n>
   raw_updates_per_s=<n> double_redeemed=<n>
   The target is redeem_vs_floor >= 0.15 with double_redeemed=0 (issue 14; the raw ratio is context).

The scratch database is dropped at the end (keep it with --keep).
"""

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VENV_BIN = Path(sys.executable).parent


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=4, help="client threads = terminals = raw connections")
    parser.add_argument("--seconds", type=float, default=10.0, help="time spent on each of the two measurements")
    parser.add_argument("--rounds", type=int, default=5, help="the measurements alternate in this many rounds")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--worker-threads", type=int, default=4, help="threads per gunicorn worker (gthread)")
    parser.add_argument("--worker-class", default="gthread", help="gunicorn worker class (gthread keeps connections alive)")
    parser.add_argument("--codes", type=int, default=0, help="sold codes to prepare (default: enough for ~2500/s)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--entry", choices=sorted(ENTRIES), default="api", help="the WSGI entry gunicorn serves")
    parser.add_argument(
        "--settings", default="", help="Django settings module of the API server (default: the entry's own; to compare a setting A/B)"
    )
    return parser.parse_args()


def server_url() -> str:
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/voucherhub")
    if not url.startswith(("postgres://", "postgresql://")):
        url = "postgres://postgres@127.0.0.1:5432/voucherhub"
    return url


def with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def psycopg_url(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_url() -> str | None:
    url = os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/14")
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        return url
    except Exception:
        return None


def prepare(db_url: str, threads: int, codes: int):
    """Migrate and fill the scratch database. Returns (terminals [(key, secret)], plaintext codes, raw row ids).

    The raw rows (6 per code) are sold codes of their own, for the raw and floor phases."""
    env = {**os.environ, "DATABASE_URL": db_url, "DJANGO_SETTINGS_MODULE": "voucherhub.settings"}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    os.environ.update({"DATABASE_URL": db_url, "DJANGO_SETTINGS_MODULE": "voucherhub.settings"})
    import django

    django.setup()
    from decimal import Decimal

    from django.db import connection

    from catalog import codegen, vault
    from catalog.models import CardCode, CodeBatch, Product, Sku, Supplier
    from catalog.services import NewCode, batch_create, codes_insert
    from redemption import services

    supplier = Supplier.objects.create(name="bench supplier")
    product = Product.objects.create(supplier=supplier, name="bench coffee", category=Product.Category.COFFEE)
    merchant = services.merchant_create(name="bench merchant", code="bench")
    store = services.store_create(merchant=merchant, name="bench store", code="bench-1")
    sku = Sku.objects.create(
        product=product,
        code="BENCH-COFFEE",
        name="bench coffee voucher",
        face_value=Decimal("35.00"),
        cost_price=Decimal("20.00"),
        valid_days=365,
        allowed_merchant_ids=[merchant.pk],
    )
    services.sku_price_set(merchant=merchant, sku=sku, settlement_price=Decimal("28.00"))
    terminals = []
    for index in range(threads):
        terminal, secret = services.terminal_create(store=store, name=f"bench POS {index}")
        terminals.append((terminal.key_id, secret))

    batch = batch_create(sku=sku, source=CodeBatch.Source.GENERATED, label="bench")
    plaintexts = [codegen.new_code() for _ in range(codes)]
    from django.utils import timezone

    expires = timezone.now() + timezone.timedelta(days=30)
    codes_insert(batch=batch, codes=[NewCode(sealed=vault.seal(p), expires_at=expires) for p in plaintexts])
    CardCode.objects.filter(batch=batch).update(status=CardCode.Status.SOLD)

    # Rows for the raw phase: same table, same indexes, sold codes of their own.
    raw_batch = batch_create(sku=sku, source=CodeBatch.Source.GENERATED, label="bench raw")
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO catalog_cardcode (sku_id, batch_id, ciphertext, key_id, blind_index, hint, serial, status,
                                          order_ref, created_at, status_changed_at, expires_at)
            SELECT %s, %s, '\\x00'::bytea, 'raw', md5('raw' || g) || md5('x' || g), '••••', '', 'sold', '', now(), now(),
                   now() + interval '30 days'
            FROM generate_series(1, %s) AS g
            """,
            [sku.pk, raw_batch.pk, codes * 6],
        )
        cursor.execute("ANALYZE catalog_cardcode")
    raw_ids = list(CardCode.objects.filter(batch=raw_batch).order_by("pk").values_list("pk", flat=True))
    connection.close()
    return terminals, plaintexts, raw_ids


# The proxy routes /api/ to the API entry in production (docs/operations.md); --entry site measures the site's.
ENTRIES = {
    "api": ("voucherhub.api_wsgi:application", "voucherhub.settings.api_only"),
    "site": ("voucherhub.wsgi:application", "voucherhub.settings"),
}


def start_gunicorn(
    db_url: str,
    port: int,
    workers: int,
    worker_threads: int,
    cache_url: str | None,
    worker_class: str = "gthread",
    entry: str = "api",
    settings: str = "",
):
    app, settings_module = ENTRIES[entry]
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "DJANGO_SETTINGS_MODULE": settings or settings_module,
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CONN_MAX_AGE": "600",
    }
    if cache_url:
        env["CACHE_URL"] = cache_url
    else:
        env.pop("CACHE_URL", None)
    command = [
        str(VENV_BIN / "gunicorn"),
        app,
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--threads",
        str(worker_threads),
        "--keep-alive",
        "30",
        "--log-level",
        "warning",
    ]
    process = spawn(command, cwd=ROOT, env=env)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return process
        except OSError:
            time.sleep(0.2)
    stop(process)
    raise SystemExit("gunicorn did not start")


# What a signed redeem carries besides the body (sizes as in the API; the floor app ignores them).
FLOOR_HEADERS = {
    "Content-Type": "application/json",
    "X-VH-Key": "vht_" + "k" * 22,
    "X-VH-Timestamp": "1764547200",
    "X-VH-Nonce": "n" * 32,
    "X-VH-Signature": "s" * 64,
    "Idempotency-Key": "i" * 32,
}


def start_floor(db_url: str, port: int, workers: int, worker_threads: int, worker_class: str = "gthread", app: str = ""):
    """bench/floor_app.py (or `app`, "module:callable" in bench/) under gunicorn with the API's settings."""
    env = {**os.environ, "FLOOR_DATABASE_URL": psycopg_url(db_url)}
    command = [
        str(VENV_BIN / "gunicorn"), app or "floor_app:application", "--chdir", str(ROOT / "bench"),
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--worker-class", worker_class,
        "--threads", str(worker_threads), "--keep-alive", "30", "--log-level", "warning",
    ]  # fmt: skip
    server = spawn(command, cwd=ROOT, env=env)
    deadline = time.time() + 30
    while True:
        probe = KeepAliveHttp(port, timeout=2)
        try:
            probe.request("POST", "/", FLOOR_HEADERS, b'{"id": 0}')
            return server
        except OSError:
            if time.time() > deadline:
                stop(server)
                raise SystemExit("gunicorn (floor) did not start") from None
            time.sleep(0.2)
        finally:
            probe.close()


def floor_phase(port, slices, seconds, warn=True):
    """Each thread posts its own row ids to the floor app until the time is up. Returns (done, seconds)."""
    done = [0] * len(slices)

    def work(index, http, deadline):
        for row_id in slices[index]:
            status, _body = http.request("POST", "/", FLOOR_HEADERS, json.dumps({"id": row_id}).encode())
            done[index] += status == 201
            if time.perf_counter() >= deadline:
                break
        else:
            if warn:
                print(f"floor thread {index} ran out of rows", file=sys.stderr)
        http.close()

    elapsed = timed_threads(len(slices), seconds, work, setup=lambda _index: KeepAliveHttp(port))
    return sum(done), elapsed


def spawn(command: list[str], **kwargs) -> subprocess.Popen:
    """A server (gunicorn) in its own process group, which `stop` ends as a whole; on Linux it is also sent
    SIGTERM when the bench that started it dies, even by SIGKILL (PR_SET_PDEATHSIG), so no server outlives it."""
    return subprocess.Popen(command, start_new_session=True, preexec_fn=_end_with_parent, **kwargs)


def _end_with_parent() -> None:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: `stop` and the signal handlers still end the servers


def teardown(servers, admin_url: str, scratch: str, keep: bool) -> None:
    """The end of a bench run, whatever happened: every server stopped, Django's connections closed, and the
    scratch database dropped unless the caller keeps it (--keep)."""
    import psycopg

    for server in servers:  # each one stopped whatever happens to the others
        stop(server)
    from django.db import connections

    try:
        connections.close_all()
    except Exception:
        pass
    if not keep:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


def stop(process) -> None:
    """End a server's whole process group (master and workers): SIGTERM, then SIGKILL after 15 s."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def end_on_signals() -> None:
    """SIGTERM and SIGHUP (a `timeout`, a closed terminal) end the bench through its `finally` blocks, which
    stop the servers and drop the scratch database; Python's default would exit without running them."""

    def leave(signum, _frame):
        raise SystemExit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, leave)


class NoDelayConnection(http.client.HTTPConnection):
    """http.client sends headers and body in two writes; without TCP_NODELAY (which urllib3 and every
    POS HTTP library set) Nagle's algorithm and delayed ACKs add ~40 ms to each request."""

    def connect(self):
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class HttpError(Exception):
    pass


class KeepAliveHttp:
    """A minimal HTTP/1.1 client on one keep-alive socket: one sendall per request, the reply read by Content-Length.

    The load generator shares the 2 cores with the server it measures; http.client parses every reply's headers
    with the email package and costs the machine ~0.25 ms of CPU per request, this about a fifth of that. It
    reopens the socket when the server closes it (a "Connection: close" reply, or a dropped keep-alive).
    """

    def __init__(self, port: int, timeout: float = 30):
        self.port, self.timeout = port, timeout
        self.sock = None
        self.buffer = b""

    def _connect(self):
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise HttpError("connection closed by the server")
        self.buffer += chunk

    def request(self, method: str, path: str, headers: dict, body: bytes = b"") -> tuple[int, bytes]:
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        message = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        for attempt in range(2):
            fresh = self.sock is None
            if fresh:
                self._connect()
            try:
                self.sock.sendall(message)
                return self._response()
            except (HttpError, OSError):
                self.close()
                if attempt or fresh:
                    raise
        raise RuntimeError("unreachable")

    def _response(self) -> tuple[int, bytes]:
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            self._fill()
        head, self.buffer = self.buffer[:end].decode("latin-1"), self.buffer[end + 4 :]
        status_line, *header_lines = head.split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        fields = {}
        for line in header_lines:
            name, _sep, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        if "content-length" not in fields:
            raise HttpError(f"reply without Content-Length: {head!r}")
        length = int(fields["content-length"])
        while len(self.buffer) < length:
            self._fill()
        content, self.buffer = self.buffer[:length], self.buffer[length:]
        if fields.get("connection", "").lower() == "close":
            self.close()
        return status, content


class Client:
    """One keep-alive connection signing every request like a POS terminal (a fresh nonce and signature each)."""

    def __init__(self, port: int, key_id: str, secret: str):
        from voucherhub.core.apisign import signed_headers

        self.sign = signed_headers
        self.port, self.key_id, self.secret = port, key_id, secret
        self.http = KeepAliveHttp(port)

    def redeem(self, code: str) -> tuple[int, dict]:
        path = "/api/v1/redemptions/"
        body = json.dumps({"code": code}).encode()
        headers = self.sign(key_id=self.key_id, secret=self.secret, method="POST", path=path, body=body)
        headers.update({"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex})
        status, content = self.http.request("POST", path, headers, body)
        return status, json.loads(content or b"{}")

    def close(self):
        self.http.close()


def timed_threads(count: int, seconds: float, work, setup=None) -> float:
    """Run `work(index, context, deadline)` in `count` threads that start together once each has run its
    `setup(index)` (a client, say; its result is the context) and stop at the deadline; the seconds they ran."""
    barrier = threading.Barrier(count + 1)
    deadline = [0.0]

    def run(index):
        context = setup(index) if setup else None
        barrier.wait()
        work(index, context, deadline[0])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    deadline[0] = time.perf_counter() + seconds
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def api_phase(port, terminals, slices, seconds, warn=True):
    """Each thread redeems codes from its own iterator until the time is up. Returns (ok, failed, statuses, seconds)."""
    done = [0] * len(terminals)
    failures = [0] * len(terminals)
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def work(index, client, deadline):
        for code in slices[index]:
            status, _body = client.redeem(code)
            if status == 201:
                done[index] += 1
            else:
                failures[index] += 1
                with lock:
                    statuses[status] = statuses.get(status, 0) + 1
            if time.perf_counter() >= deadline:
                break
        else:
            if warn:
                print(f"thread {index} ran out of codes: raise --codes", file=sys.stderr)
        client.close()

    elapsed = timed_threads(len(terminals), seconds, work, setup=lambda index: Client(port, *terminals[index]))
    return sum(done), sum(failures), statuses, elapsed


def contention_phase(port, terminals, codes):
    """Every thread sends each code at the same moment; exactly one may win per code."""
    wins = {code: 0 for code in codes}
    lock = threading.Lock()
    clients = [Client(port, *t) for t in terminals]
    for code in codes:
        barrier = threading.Barrier(len(clients))

        def shoot(client, code=code, barrier=barrier):
            barrier.wait()
            status, _ = client.redeem(code)
            if status == 201:
                with lock:
                    wins[code] += 1

        threads = [threading.Thread(target=shoot, args=(c,)) for c in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return wins


RAW_SQL = "UPDATE catalog_cardcode SET status = 'redeemed', status_changed_at = now() WHERE id = %s AND status = 'sold' RETURNING id"


def raw_phase(conns, slices, seconds, sql=RAW_SQL):
    """The baseline: each connection updates its own rows by primary key until the time is up."""
    done = [0] * len(conns)

    def work(index, _context, deadline):
        conn = conns[index]
        for row_id in slices[index]:
            if conn.execute(sql, (row_id,), prepare=True).fetchone() is not None:
                done[index] += 1
            if time.perf_counter() >= deadline:
                break
        else:
            print(f"raw thread {index} ran out of rows", file=sys.stderr)

    elapsed = timed_threads(len(conns), seconds, work)
    return sum(done), elapsed


def _process_cpu(pid) -> tuple[int, float]:
    """(process group, user + system CPU seconds) of one process, or (-1, 0.0) when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return -1, 0.0
    return int(fields[2]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # pgrp, utime, stime


def cpu_seconds(pgid: int) -> float:
    """User + system CPU of every process in a process group (the gunicorn master and workers)."""
    return sum(cpu for group, cpu in map(_process_cpu, filter(str.isdigit, os.listdir("/proc"))) if group == pgid)


class PostgresCpu:
    """CPU spent by the PostgreSQL backends serving the scratch database (found through pg_stat_activity)."""

    def __init__(self, admin, name: str):
        self.admin, self.name = admin, name
        self.start = self._now()

    def _now(self) -> dict[int, float]:
        rows = self.admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [self.name]).fetchall()
        return {pid: _process_cpu(pid)[1] for (pid,) in rows}

    def lap(self) -> float:
        """Seconds of CPU since the last lap (a backend that started meanwhile counts from zero)."""
        now = self._now()
        spent = sum(cpu - self.start.get(pid, 0.0) for pid, cpu in now.items())
        self.start = now
        return spent


def double_redeemed(db_url) -> int:
    import psycopg

    with psycopg.connect(psycopg_url(db_url)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM (SELECT code_id FROM redemption_redemption WHERE status = 'completed' "
            "GROUP BY code_id HAVING count(*) > 1) AS doubles"
        ).fetchone()
        return int(row[0])


def main():
    args = parse_args()
    end_on_signals()
    import psycopg

    base = server_url()
    name = f"vh_bench_redeem_{os.getpid()}"
    admin = psycopg.connect(psycopg_url(with_db(base, "postgres")), autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    db_url = with_db(base, name)
    process = floor = None
    try:
        codes_needed = args.codes or int(2500 * args.seconds) + 2000
        print(f"preparing {name}: {codes_needed} sold codes, {args.threads} terminals", flush=True)
        terminals, plaintexts, raw_ids = prepare(db_url, args.threads, codes_needed)
        cache_url = redis_url()
        port, floor_port = free_port(), free_port()
        process = start_gunicorn(db_url, port, args.workers, args.worker_threads, cache_url, args.worker_class, args.entry, args.settings)
        floor = start_floor(db_url, floor_port, args.workers, args.worker_threads, args.worker_class)
        print(
            f"gunicorn {args.worker_class} {args.workers}x{args.worker_threads} on :{port} ({args.entry} entry; floor :{floor_port}), "
            f"cache {'redis' if cache_url else 'local memory'}, "
            f"{os.cpu_count()} CPUs",
            flush=True,
        )
        contention_codes, timed_codes = plaintexts[:40], plaintexts[40:]
        api_slices = [iter(timed_codes[i :: args.threads]) for i in range(args.threads)]
        floor_ids, raw_ids = raw_ids[: len(raw_ids) // 3], raw_ids[len(raw_ids) // 3 :]
        floor_slices = [iter(floor_ids[i :: args.threads]) for i in range(args.threads)]
        raw_slices = [iter(raw_ids[i :: args.threads]) for i in range(args.threads)]
        raw_conns = [psycopg.connect(psycopg_url(db_url), autocommit=True) for _ in range(args.threads)]
        for conn in raw_conns:
            conn.execute("SELECT 1")
        # warm-up: a few redemptions per terminal (imports, connections, first queries), a few floor requests
        api_phase(port, terminals, [[next(it) for _ in range(5)] for it in api_slices], 60, warn=False)
        floor_phase(floor_port, [[next(it) for _ in range(20)] for it in floor_slices], 30, warn=False)

        # The three measurements alternate in short rounds, so all meet the same background load.
        redeemed = failed = raw_done = floor_done = 0
        api_elapsed = raw_elapsed = floor_elapsed = 0.0
        statuses: dict[int, int] = {}
        server_cpu = client_cpu = api_pg_cpu = raw_client_cpu = raw_pg_cpu = floor_cpu = 0.0
        for _round in range(args.rounds):
            postgres = PostgresCpu(admin, name)
            before, client_before = cpu_seconds(process.pid), time.process_time()
            ok, bad, round_statuses, elapsed = api_phase(port, terminals, api_slices, args.seconds / args.rounds)
            server_cpu += cpu_seconds(process.pid) - before
            client_cpu += time.process_time() - client_before
            api_pg_cpu += postgres.lap()
            redeemed, failed, api_elapsed = redeemed + ok, failed + bad, api_elapsed + elapsed
            for status, count in round_statuses.items():
                statuses[status] = statuses.get(status, 0) + count
            before = cpu_seconds(floor.pid)
            done, elapsed = floor_phase(floor_port, floor_slices, args.seconds / args.rounds)
            floor_cpu += cpu_seconds(floor.pid) - before
            floor_done, floor_elapsed = floor_done + done, floor_elapsed + elapsed
            postgres.lap()
            client_before = time.process_time()
            done, elapsed = raw_phase(raw_conns, raw_slices, args.seconds / args.rounds)
            raw_client_cpu += time.process_time() - client_before
            raw_pg_cpu += postgres.lap()
            raw_done, raw_elapsed = raw_done + done, raw_elapsed + elapsed
        for conn in raw_conns:
            conn.close()
        api_rate = redeemed / api_elapsed
        floor_rate = floor_done / floor_elapsed
        raw_rate = raw_done / raw_elapsed
        print(
            f"api: {redeemed} redeemed in {api_elapsed:.2f}s, {failed} failed {statuses}; "
            f"server CPU {1000 * server_cpu / max(redeemed, 1):.2f} ms per redeem "
            f"(client {1000 * client_cpu / max(redeemed, 1):.2f} ms, PostgreSQL {1000 * api_pg_cpu / max(redeemed, 1):.2f} ms)",
            flush=True,
        )
        print(
            f"floor: {floor_done} requests in {floor_elapsed:.2f}s, gunicorn CPU {1000 * floor_cpu / max(floor_done, 1):.2f} ms each",
            flush=True,
        )
        print(
            f"raw: {raw_done} updates in {raw_elapsed:.2f}s (client CPU {1000 * raw_client_cpu / max(raw_done, 1):.3f} ms, "
            f"PostgreSQL {1000 * raw_pg_cpu / max(raw_done, 1):.3f} ms per update); load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )

        wins = contention_phase(port, terminals, contention_codes)
        lost = [c for c, n in wins.items() if n != 1]
        print(f"contention: {len(contention_codes)} codes x {args.threads} terminals at once -> wins per code {sorted(set(wins.values()))}")

        if any(wins[c] == 0 for c in lost):
            print(f"contention: {sum(1 for c in lost if wins[c] == 0)} codes were not redeemed at all", file=sys.stderr)
        doubles = double_redeemed(db_url)
        print(
            f"redeem_ratio={api_rate / raw_rate:.3f} redeem_vs_floor={api_rate / floor_rate:.3f} api_redeems_per_s={api_rate:.0f} "
            f"floor_per_s={floor_rate:.0f} raw_updates_per_s={raw_rate:.0f} double_redeemed={doubles}",
            flush=True,
        )
    finally:
        for server in (process, floor):
            if server is not None:
                stop(server)
        if not args.keep:
            from django.db import connections

            connections.close_all()
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


if __name__ == "__main__":
    main()
