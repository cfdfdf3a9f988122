"""Django's Redis cache backend, with one redis-py client per connection pool instead of one per operation.

The built-in `django.core.cache.backends.redis.RedisCacheClient.get_client()` builds a new `redis.Redis`
object for every cache call. Building one sets up its ~150 response callbacks, which cost about as much
CPU as the round trip itself; a signed API request makes three or more cache calls. A `redis.Redis` is
thread-safe (each command borrows a connection from the pool) and its pool re-opens connections after a
fork, so one client per pool is enough. Everything else (key prefixes, versions, serialisation, timeouts,
the read replicas' random choice) is Django's own.

voucherhub/settings/database.py selects it when CACHE_URL is a redis:// address (django-environ maps that to the built-in
backend). A subclass of RedisCache, so code that checks `isinstance(backend, RedisCache)` (the risk
counters' Lua scripts) still finds its raw client through `backend._cache.get_client(...)`.
"""

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class ReusedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class ReusedClientRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient
