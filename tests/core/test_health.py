"""/healthz (liveness) and /readyz (readiness): no login, no session, a tiny JSON body; readiness names each failing
dependency. Redis runs on a server of the test's own (tests/conftest.py `own_redis`), configured unsafely on purpose."""

import socket

import pytest
import redis
from django.db import connections

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_asking_anything(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert not response.cookies  # no session, no CSRF cookie


def test_readyz_is_ready_with_a_database_and_a_safe_redis(own_redis, client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok"}}
    assert not response.cookies
    assert "no-cache" in response["Cache-Control"]


def test_readyz_refuses_a_redis_that_evicts_keys(own_redis, client):
    # given a Redis that drops keys under memory pressure (lockout copies and counters with them)
    redis.Redis.from_url(own_redis.url).config_set("maxmemory-policy", "allkeys-lru")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "checks": {"database": "ok", "cache": "eviction policy allkeys-lru"}}


def test_readyz_refuses_a_redis_that_restores_old_snapshots(own_redis, client):
    server = redis.Redis.from_url(own_redis.url)
    server.config_set("save", "3600 1")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "cache": "RDB snapshots without an append-only file"}
    # an append-only file makes it safe
    server.config_set("appendonly", "yes")
    assert client.get("/readyz").status_code == 200


def test_readyz_says_when_redis_does_not_answer(own_redis, client):
    own_redis.stop()
    try:
        response = client.get("/readyz")
    finally:
        own_redis.start()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["cache"].startswith("ConnectionError")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.django_db(transaction=True)
def test_readyz_says_when_the_database_does_not_answer(own_redis, client):
    # given the database settings pointing at a port nobody listens on
    database = connections["default"]
    saved = dict(database.settings_dict)
    database.close()
    database.settings_dict.update(HOST="127.0.0.1", PORT=str(_closed_port()))
    try:
        response = client.get("/readyz")
    finally:
        database.close()
        database.settings_dict.update(saved)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["cache"] == "ok"
    assert body["checks"]["database"].startswith("OperationalError")
