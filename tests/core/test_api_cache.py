"""voucherhub/core/cache.py: Django's Redis cache with one redis-py client per pool, same semantics."""

import os
import uuid

import pytest
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from voucherhub.core.cache import ReusedClientRedisCache

REDIS_URL = os.environ.get("CACHE_URL", "")


@pytest.fixture
def backend():
    if not REDIS_URL.startswith("redis"):
        pytest.skip("needs CACHE_URL=redis://...")
    cache = ReusedClientRedisCache(REDIS_URL, {"KEY_PREFIX": f"cachetest-{uuid.uuid4().hex[:8]}"})
    yield cache
    client = cache._cache.get_client(write=True)
    keys = list(client.scan_iter(match=f"{cache.key_prefix}:*"))
    if keys:
        client.delete(*keys)


def test_settings_select_it_for_redis():
    if REDIS_URL.startswith("redis"):
        assert isinstance(caches["default"], ReusedClientRedisCache)
        assert isinstance(caches["default"], RedisCache)  # the risk counters' isinstance check still holds


def test_one_client_per_pool(backend):
    first = backend._cache.get_client("a", write=True)
    assert backend._cache.get_client("b", write=False) is first
    assert backend._cache.get_client() is first


def test_prefix_version_timeout_and_add_semantics(backend):
    assert backend.add("nonce", 1, timeout=30) is True
    assert backend.add("nonce", 1, timeout=30) is False
    backend.set("k", {"v": 1}, version=2)
    assert backend.get("k") is None and backend.get("k", version=2) == {"v": 1}
    assert backend.get_many(["k", "nonce"], version=2) == {"k": {"v": 1}}
    raw = backend._cache.get_client().get(backend.make_and_validate_key("k", version=2))
    assert raw is not None  # stored under Django's "<prefix>:<version>:<key>"
    assert backend.incr("nonce") == 2
    backend.set("gone", 1, timeout=0)
    assert backend.get("gone") is None
    backend.delete("k", version=2)
    assert backend.get("k", version=2) is None


def test_threads_share_the_client_safely(backend):
    from concurrent.futures import ThreadPoolExecutor

    def work(n):
        backend.set(f"t{n}", n)
        return backend.get(f"t{n}")

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(work, range(200))) == list(range(200))
