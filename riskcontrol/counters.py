"""Window counters in the cache: atomic, shared by every process when the cache is Redis.

A counter is a sliding window made of two fixed buckets: the estimate is
`current + previous * (1 - elapsed fraction of the current bucket)`, so a burst at a bucket
boundary cannot pass twice the limit, and a window frees itself as time goes on.

Reserve, then commit: `hit_many` increments first and returns the totals after the increment; a
caller over its limit (or whose request is refused for another reason) gives its share back with
`release`. Because every increment gets its own total from Redis INCRBY (or the local-memory
cache's locked incr), N parallel requests against a limit of L let exactly L through.

With Redis (CACHE_URL=redis://...) all counters of one evaluation are one Lua script call: one
round trip, atomic as a whole (all keys of a call must live on one Redis node: no Redis Cluster).
"""

import functools
import hashlib
import time
from dataclasses import dataclass

from django.core.cache import cache, caches

# The wall clock. Tests move time by replacing this (the clock is the one thing outside our code here).
clock = time.time

PREFIX = "risk:c"


@functools.lru_cache(maxsize=65536)
def digest(value: str) -> str:
    """A short stable digest, so cache keys carry no phone numbers or emails and stay short."""
    return hashlib.blake2b(str(value).encode(), digest_size=10).hexdigest()


@dataclass(frozen=True)
class Hit:
    base: str  # identifies the counter: rule id and value digest
    window: int  # seconds
    amount: int  # how much this request adds


@dataclass(frozen=True)
class HitResult:
    key: str  # the bucket key that was incremented (for release)
    amount: int
    current: int  # this bucket's total after the increment
    previous: int  # the previous bucket's total
    estimate: float  # sliding-window total including this request


def _keys(hit: Hit, now: float) -> tuple[str, str, float]:
    bucket = int(now // hit.window)
    elapsed = (now - bucket * hit.window) / hit.window
    return f"{PREFIX}:{hit.base}:{hit.window}:{bucket}", f"{PREFIX}:{hit.base}:{hit.window}:{bucket - 1}", elapsed


def _ttl(window: int) -> int:
    return int(window) * 2 + 60


# One atomic round trip per evaluation: for each counter, INCRBY the current bucket, give a new
# bucket its TTL, and read the previous bucket. (Only this script and the release script, which never
# creates a key, write counters, so every bucket gets its TTL when it is created.)
# KEYS = cur1, prev1, cur2, prev2 ...; ARGV = amount1, ttl1, amount2, ttl2 ...
_HIT_SCRIPT = """
local out = {}
for i = 1, #KEYS, 2 do
  local n = (i + 1) / 2
  local amount = tonumber(ARGV[2 * n - 1])
  local total = redis.call('INCRBY', KEYS[i], amount)
  if total == amount then redis.call('EXPIRE', KEYS[i], ARGV[2 * n]) end
  out[#out + 1] = total
  out[#out + 1] = tonumber(redis.call('GET', KEYS[i + 1]) or '0')
end
return out
"""
# Give back, but never create a bucket that has expired already.
_RELEASE_SCRIPT = """
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('DECRBY', KEYS[i], ARGV[i]) end
end
return 1
"""


def _redis():
    """(make_key, hit script, release script) for Django's RedisCache, or None for other caches.

    Kept on the backend object (one per thread), so the client and scripts are built once.
    """
    from django.core.cache.backends.redis import RedisCache

    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    tools = getattr(backend, "_vh_counter_tools", None)
    if tools is None:
        client = backend._cache.get_client(None, write=True)
        tools = (backend.make_key, client.register_script(_HIT_SCRIPT), client.register_script(_RELEASE_SCRIPT))
        backend._vh_counter_tools = tools
    return tools


def hit_many(hits: list[Hit], *, now: float | None = None) -> list[HitResult]:
    """Increment every counter and read its previous bucket, atomically."""
    if not hits:
        return []
    now = clock() if now is None else now
    planned = [(hit, *_keys(hit, now)) for hit in hits]
    redis_tools = _redis()
    if redis_tools is not None:
        make_key, hit_script, _release = redis_tools
        keys, args = [], []
        for hit, current_key, previous_key, _elapsed in planned:
            keys += [make_key(current_key), make_key(previous_key)]
            args += [hit.amount, _ttl(hit.window)]
        raw = hit_script(keys=keys, args=args)
        values = [(int(raw[i * 2]), int(raw[i * 2 + 1] or 0)) for i in range(len(planned))]
    else:
        backend = caches["default"]
        previous = backend.get_many([p[2] for p in planned])
        values = []
        for hit, current_key, previous_key, _elapsed in planned:
            values.append((_incr(backend, current_key, hit.amount, _ttl(hit.window)), int(previous.get(previous_key) or 0)))
    results = []
    for (hit, current_key, _previous_key, elapsed), (current, previous) in zip(planned, values, strict=True):
        estimate = current + previous * (1.0 - elapsed)
        results.append(HitResult(key=current_key, amount=hit.amount, current=current, previous=previous, estimate=estimate))
    return results


def _incr(backend, key: str, amount: int, ttl: int) -> int:
    for _attempt in range(3):
        backend.add(key, 0, ttl)
        try:
            return backend.incr(key, amount)
        except ValueError:  # expired between add and incr
            continue
    backend.set(key, amount, ttl)
    return amount


def release(reserved: list[tuple[str, int]]) -> None:
    """Give back what hit_many added (keys as returned in HitResult.key)."""
    reserved = [(key, amount) for key, amount in reserved if amount]
    if not reserved:
        return
    redis_tools = _redis()
    if redis_tools is not None:
        make_key, _hit, release_script = redis_tools
        release_script(keys=[make_key(key) for key, _amount in reserved], args=[amount for _key, amount in reserved])
        return
    for key, amount in reserved:
        try:
            cache.decr(key, amount)
        except ValueError:  # the bucket expired already: nothing left to give back
            pass


def peek(hit: Hit, *, now: float | None = None) -> float:
    """The sliding-window estimate without adding anything."""
    now = clock() if now is None else now
    current_key, previous_key, elapsed = _keys(hit, now)
    values = cache.get_many([current_key, previous_key])
    return int(values.get(current_key) or 0) + int(values.get(previous_key) or 0) * (1.0 - elapsed)


def reset(hit: Hit, *, now: float | None = None) -> None:
    now = clock() if now is None else now
    current_key, previous_key, _elapsed = _keys(hit, now)
    cache.delete_many([current_key, previous_key])
