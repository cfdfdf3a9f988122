"""Issue 12 item 1: a signed quota transfer replayed byte for byte after Redis lost its data changes nothing.

The test runs its own redis-server (a unix socket under tmp_path, no persistence) as the whole cache, so it
may restart and FLUSHALL it without touching the Redis database other tests share.
"""

import json
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from django.core.cache import caches

from channels import services
from channels.models import Quota
from tests import factories
from tests.conftest import IN_CI
from voucherhub.core import apisign, roles
from voucherhub.core.models import SpentNonce

REDIS_SERVER = shutil.which("redis-server")


class OwnRedis:
    """A redis-server of this test alone: `restart()` loses everything (no RDB, no AOF), as in the incident."""

    def __init__(self, directory):
        self.socket = directory / "redis.sock"
        self.directory = directory
        self.process = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}?db=0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()  # SIGKILL: nothing is saved on the way out
            self.process.wait(timeout=10)
            self.process = None
        self.socket.unlink(missing_ok=True)

    def restart(self) -> None:
        self.stop()
        caches["default"].close()  # drop the pooled connections to the old process
        self.start()

    def flushall(self) -> None:
        caches["default"]._cache.get_client(None, write=True).flushall()


@pytest.fixture
def own_redis(settings):
    if REDIS_SERVER is None:
        message = "redis-server is not installed (Debian package redis-server)"
        if IN_CI:
            pytest.fail(message + ": CI=true, so this test must run")
        pytest.skip(message)
    directory = tempfile.TemporaryDirectory(prefix="vh-redis-", dir="/tmp")  # a unix socket path holds ~100 bytes at most
    server = OwnRedis(Path(directory.name))
    server.start()
    settings.CACHES = {"default": {"BACKEND": "voucherhub.core.cache.ReusedClientRedisCache", "LOCATION": server.url}}
    yield server
    caches["default"].close()
    server.stop()
    directory.cleanup()


@pytest.fixture
def funded(tree, sku):
    ops = factories.UserFactory(username="ops-replay", role=roles.OPS, is_staff=True)
    services.quota_allocate(distributor=tree.top, sku=sku, quantity=30, actor=ops)
    return services.api_key_issue(distributor=tree.top, label="ERP")


def transfer_request(key_and_secret, payload, *, idempotency_key):
    """The bytes and headers of one signed transfer: sent again unchanged, it is a replay."""
    key, secret = key_and_secret
    path = "/api/v1/quotas/transfers/"
    body = json.dumps(payload).encode()
    headers = apisign.signed_headers(key_id=key.key_id, secret=secret, method="POST", path=path, body=body)
    headers["Idempotency-Key"] = idempotency_key
    return path, body, headers


def send(client, request):
    path, body, headers = request
    return client.post(path, data=body, content_type="application/json", headers=headers)


def balance(distributor, sku) -> int:
    return Quota.objects.filter(distributor=distributor, sku=sku).values_list("balance", flat=True).first() or 0


@pytest.mark.postgres
def test_a_replay_after_redis_restart_and_flushall_is_refused_and_changes_nothing(client, own_redis, funded, tree, sku):
    # given a transfer of 2 units that went through once
    request = transfer_request(funded, {"to_distributor": tree.leaf.pk, "sku": sku.code, "quantity": 2}, idempotency_key=str(uuid.uuid4()))
    first = send(client, request)
    assert first.status_code == 201, first.json()
    assert (balance(tree.leaf, sku), balance(tree.top, sku)) == (2, 28)
    replayed = send(client, request)
    assert (replayed.status_code, replayed.json()["error"]["code"]) == (401, "replayed_nonce")

    # when Redis restarts without persistence, then loses everything again to FLUSHALL
    for lose_the_cache in (own_redis.restart, own_redis.flushall):
        lose_the_cache()
        assert caches["default"].get(f"vh:apinonce:{funded[0].key_id}:{request[2]['X-VH-Nonce']}") is None
        again = send(client, request)
        # then the same bytes are still a replay, and no quota moved
        assert (again.status_code, again.json()["error"]["code"]) == (401, "replayed_nonce")
        assert (balance(tree.leaf, sku), balance(tree.top, sku)) == (2, 28)


@pytest.mark.postgres
def test_a_retry_with_a_new_signature_after_a_cache_loss_gets_the_first_answer(client, own_redis, funded, tree, sku):
    # given a transfer whose answer the client never saw (a timeout, say)
    key = str(uuid.uuid4())
    payload = {"to_distributor": tree.leaf.pk, "sku": sku.code, "quantity": 2}
    first = send(client, transfer_request(funded, payload, idempotency_key=key))
    assert first.status_code == 201
    own_redis.flushall()

    # when it retries the same body under the same Idempotency-Key (a new timestamp and nonce, as it must)
    retry = send(client, transfer_request(funded, payload, idempotency_key=key))

    # then it gets the first answer, marked as replayed, and the quota moved once
    assert (retry.status_code, retry.json(), retry.headers["Idempotent-Replayed"]) == (201, first.json(), "true")
    assert (balance(tree.leaf, sku), balance(tree.top, sku)) == (2, 28)
    assert "Idempotent-Replayed" not in first.headers


def test_only_the_nonces_of_state_changing_requests_are_kept_in_the_database(client, funded, tree, sku):
    key, secret = funded
    headers = apisign.signed_headers(key_id=key.key_id, secret=secret, method="GET", path="/api/v1/quotas/")
    assert client.get("/api/v1/quotas/", headers=headers).status_code == 200
    assert not SpentNonce.objects.exists()

    request = transfer_request(funded, {"to_distributor": tree.leaf.pk, "sku": sku.code, "quantity": 1}, idempotency_key="k-1")
    assert send(client, request).status_code == 201
    assert list(SpentNonce.objects.values_list("key_id", "nonce")) == [(key.key_id, request[2]["X-VH-Nonce"])]


def test_a_nonce_spent_in_the_database_alone_is_refused(client, funded, tree, sku):
    # given a nonce the cache never saw (it was lost) but the database kept
    request = transfer_request(funded, {"to_distributor": tree.leaf.pk, "sku": sku.code, "quantity": 1}, idempotency_key="k-1")
    assert apisign.nonce_record(key_id=funded[0].key_id, nonce=request[2]["X-VH-Nonce"]) is True

    response = send(client, request)

    assert (response.status_code, response.json()["error"]["code"]) == (401, "replayed_nonce")
    assert balance(tree.leaf, sku) == 0


def test_spent_nonces_are_pruned_once_their_timestamps_are_stale(db):
    from datetime import timedelta

    from django.utils import timezone

    from voucherhub.core.tasks import api_nonces_prune

    now = timezone.now()
    SpentNonce.objects.create(key_id="vhk_a", nonce="old", created_at=now - timedelta(seconds=apisign.NONCE_SECONDS + 1))
    SpentNonce.objects.create(key_id="vhk_a", nonce="recent", created_at=now - timedelta(seconds=apisign.WINDOW_SECONDS * 2))

    assert api_nonces_prune() == "nonces pruned=1"

    assert list(SpentNonce.objects.values_list("nonce", flat=True)) == ["recent"]


def test_the_nonce_prune_job_is_scheduled_once(db):
    from django_q.models import Schedule

    from voucherhub.core.tasks import NONCE_PRUNE_SCHEDULE, schedules_ensure

    schedules_ensure()
    schedules_ensure()

    schedule = Schedule.objects.get(name=NONCE_PRUNE_SCHEDULE)
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == ("voucherhub.core.tasks.api_nonces_prune", Schedule.MINUTES, 10)
