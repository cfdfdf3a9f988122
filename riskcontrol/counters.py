"""Window counters in the cache: atomic, shared by every process when the cache is Redis.

A counter is a sliding window made of two fixed buckets: the estimate is
`current + previous * (1 - elapsed fraction of the current bucket)`, so a burst at a bucket
boundary cannot pass twice the limit, and a window frees itself as time goes on.

Reserve, then commit: the increments come first and each returns its total after the increment;
a request that is refused gives its share back. Because every increment gets its own total from
Redis INCRBY (or the local-memory cache's locked incr), N parallel requests against a limit of L
let exactly L through.

With Redis (CACHE_URL=redis://...) all counters of one evaluation are one Lua script call: one
round trip, atomic as a whole (all keys of a call must live on one Redis node: no Redis Cluster).
`hit_decide` also gives the script the stakes of the evaluation (a `Verdict`): the script sees
which counters went over their limits, works out the outcome's severity exactly as
`Verdict.decide` does, and gives the increments back in the same call when that severity is one
that keeps nothing (challenge, block). A refused request therefore costs no second round trip,
and no other request ever sees its increments.

PostgreSQL is the record: each RiskEvent keeps the (bucket key, amount) pairs its evaluation reserved
and when they were given back. Redis holds a mark, `risk:c:loaded`, saying that it holds those counts.
The same script call checks the mark before it touches anything (no extra round trip); when the mark is
missing (a Redis restart or flush, an eviction) the script changes nothing, `counters_reload` sums the
live buckets from the RiskEvent rows of the longest window (one query) and writes each count only
where the bucket is still missing (one call, which sets the mark again), and the evaluation is retried.
"""

import functools
import hashlib
import threading
import time
from collections.abc import Callable
from typing import NamedTuple

from django.core.cache import cache, caches
from django.core.cache.backends.base import default_key_func
from hiredis import pack_command
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

# The wall clock. Tests move time by replacing this (the clock is the one thing outside our code here).
clock = time.time

PREFIX = "risk:c"
LOADED_KEY = f"{PREFIX}:loaded"  # Redis holds the counts PostgreSQL records (see counters_reload)
_RELOAD_ATTEMPTS = 3
_reload_lock = threading.Lock()  # one refill at a time per process; the threads that waited find the mark back


@functools.lru_cache(maxsize=65536)
def digest(value: str) -> str:
    """A short stable digest, so cache keys carry no phone numbers or emails and stay short."""
    return hashlib.blake2b(str(value).encode(), digest_size=10).hexdigest()


class Hit(NamedTuple):
    base: str  # identifies the counter: rule id and value digest
    window: int  # seconds
    amount: int  # how much this request adds
    limit: float | None = None  # over it when the sliding-window total including this request exceeds it
    score: int = 0  # what going over adds to the evaluation's score (see Verdict)
    severity: int = 0  # the severity going over asks for (see Verdict)


class HitResult(NamedTuple):
    key: str  # the bucket key that was incremented (for release)
    amount: int
    current: int  # this bucket's total after the increment
    previous: int  # the previous bucket's total
    estimate: float  # sliding-window total including this request
    over: bool  # estimate > the hit's limit


class Verdict(NamedTuple):
    """How one evaluation turns what matched into a severity (0 allow, 1 challenge, 2 review, 3 block).

    `score` and `severity` come from the rules decided before the counters (lists, thresholds);
    every counter over its limit adds its `Hit.score` and raises the severity to its `Hit.severity`.
    The total score then raises the severity to the first of `thresholds` ((severity, score),
    strongest first; a score of 0 is off) that it reaches, if that is stronger. A `waived`
    severity (a passed challenge) becomes 0. Increments are given back when the final severity is
    in `release`. The counter script does the same in Lua; keep the two in step.
    """

    score: int
    severity: int
    thresholds: tuple[tuple[int, int], ...]
    waived: int = -1
    release: frozenset[int] = frozenset()

    def decide(self, score: int, severity: int) -> tuple[int, tuple[int, int] | None]:
        """(final severity, the (severity, score) threshold that raised it or None) for a total score and rule severity."""
        raised = None
        for threshold_severity, threshold_score in self.thresholds:
            if threshold_score and score >= threshold_score:
                if threshold_severity > severity:
                    severity, raised = threshold_severity, (threshold_severity, threshold_score)
                break
        if severity == self.waived:
            severity = 0
        return severity, raised


def _bucket(window: int, now: float) -> tuple[int, float]:
    bucket = int(now // window)
    return bucket, (now - bucket * window) / window


def _keys(hit: Hit, now: float) -> tuple[str, str, float]:
    bucket, elapsed = _bucket(hit.window, now)
    return f"{PREFIX}:{hit.base}:{hit.window}:{bucket}", f"{PREFIX}:{hit.base}:{hit.window}:{bucket - 1}", elapsed


def _ttl(window: int) -> int:
    return int(window) * 2 + 60


# One atomic round trip per evaluation. For each counter: INCRBY the current bucket, give a new bucket
# its TTL, read the previous bucket (one MGET for all) and tell whether the sliding total is over the
# limit; then decide the severity as Verdict.decide does and, when it is one of the release severities,
# DECRBY every increment again. (Only this script writes counters up, and every bucket gets its TTL
# when it is created; the release script never creates a key.)
# First of all, the loaded mark: when it is missing the script changes nothing and returns 0 (reload, retry).
# KEYS = the N current buckets, then the N previous buckets, then the loaded mark
# ARGV = score, severity, waived, release mask (sum of 2^severity), threshold count T,
#        T pairs (severity, score), then per counter: amount, ttl, elapsed, limit ('-': none), score, severity
# Returns current1, previous1, over1, current2 ... and last 1 when the increments were given back.
# Numbers are compared as doubles parsed from Python's repr(), so `over` is bit for bit what Python computes.
_HIT_SCRIPT = """
if redis.call('EXISTS', KEYS[#KEYS]) == 0 then return 0 end
local score = tonumber(ARGV[1])
local severity = tonumber(ARGV[2])
local thresholds = tonumber(ARGV[5])
local n = (#KEYS - 1) / 2
local previous_values = redis.call('MGET', unpack(KEYS, n + 1, 2 * n))
local first = 6 + 2 * thresholds
local a = first
local out = {}
for i = 1, n do
  local amount = tonumber(ARGV[a])
  local total = redis.call('INCRBY', KEYS[i], amount)
  if total == amount then redis.call('EXPIRE', KEYS[i], ARGV[a + 1]) end
  local previous = tonumber(previous_values[i] or '0')
  local limit = tonumber(ARGV[a + 3])
  local over = 0
  if limit and total + previous * (1.0 - tonumber(ARGV[a + 2])) > limit then
    over = 1
    score = score + tonumber(ARGV[a + 4])
    severity = math.max(severity, tonumber(ARGV[a + 5]))
  end
  out[#out + 1] = total
  out[#out + 1] = previous
  out[#out + 1] = over
  a = a + 6
end
for t = 0, thresholds - 1 do
  local threshold = tonumber(ARGV[7 + 2 * t])
  if threshold > 0 and score >= threshold then
    severity = math.max(severity, tonumber(ARGV[6 + 2 * t]))
    break
  end
end
if severity == tonumber(ARGV[3]) then severity = 0 end
local released = 0
if math.floor(tonumber(ARGV[4]) / 2 ^ severity) % 2 == 1 then
  a = first
  for i = 1, n do
    redis.call('DECRBY', KEYS[i], ARGV[a])
    a = a + 6
  end
  released = 1
end
out[#out + 1] = released
return out
"""
# Give back, but never create a bucket that has expired already.
_RELEASE_SCRIPT = """
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('DECRBY', KEYS[i], ARGV[i]) end
end
return 1
"""
# Refill after a loss: set each bucket only where it is still missing (a request since the reload may have
# made it), with the time to live it has left, then the mark. KEYS = the mark, then the buckets;
# ARGV = per bucket: count, seconds to live. Returns how many buckets it wrote.
_LOAD_SCRIPT = """
local written = 0
for i = 2, #KEYS do
  if redis.call('SET', KEYS[i], ARGV[2 * i - 3], 'NX', 'EX', ARGV[2 * i - 2]) then written = written + 1 end
end
redis.call('SET', KEYS[1], '1')
return written
"""


class _RedisTools(NamedTuple):
    key: Callable[[str], str]  # cache key -> Redis key (the cache's prefix and version)
    head: str | None  # what key() puts before a name, when it only does that (Django's default key function)
    client: object  # the cache's redis-py client
    hit: object  # the registered scripts (redis.commands.core.Script: sha and text)
    release: object
    load: object


def _redis() -> _RedisTools | None:
    """The Redis key function, client and scripts of Django's RedisCache, or None for other caches.

    Kept on the backend object (one per thread), so they are built once.
    """
    from django.core.cache.backends.redis import RedisCache

    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    tools = getattr(backend, "_vh_counter_tools", None)
    if tools is None:
        client = backend._cache.get_client(None, write=True)
        head = f"{backend.key_prefix}:{backend.version}:" if backend.key_func is default_key_func else None
        tools = _RedisTools(
            backend.make_key,
            head,
            client,
            client.register_script(_HIT_SCRIPT),
            client.register_script(_RELEASE_SCRIPT),
            client.register_script(_LOAD_SCRIPT),
        )
        backend._vh_counter_tools = tools
    return tools


def _evalsha(tools: _RedisTools, script, keys: list[str], args: list):
    """Run a registered script on a connection of the cache's pool, straight: one EVALSHA, one reply.

    redis-py's command layer (retry wrapper, metrics hooks, response callbacks, argument checks)
    costs as much CPU as the script does in Redis; this skips it. A server that lost its scripts
    (a restart, SCRIPT FLUSH) is given the script again.
    """
    try:
        return _evalsha_once(tools, script, keys, args)
    except NoScriptError:
        script.sha = tools.client.script_load(script.script)
        return _evalsha_once(tools, script, keys, args)


def _evalsha_once(tools: _RedisTools, script, keys: list[str], args: list):
    pool = tools.client.connection_pool
    command = [pack_command(("EVALSHA", script.sha, len(keys), *keys, *args))]
    connection = pool.get_connection()
    try:
        try:
            connection.send_packed_command(command)
        except (RedisConnectionError, RedisTimeoutError):
            # Nothing ran; redis-py closed the connection and the next send opens a new one. A failure
            # after this point is raised as it is: the increments may have happened, never run them twice.
            connection.send_packed_command(command)
        return connection.read_response()
    finally:
        pool.release(connection)


_NO_VERDICT = Verdict(score=0, severity=0, thresholds=())


def hit_many(hits: list[Hit], *, now: float | None = None) -> list[HitResult]:
    """Increment every counter and read its previous bucket, atomically. Nothing is given back."""
    return hit_decide(hits, verdict=_NO_VERDICT, now=now)[0]


def hit_decide(hits: list[Hit], *, verdict: Verdict, now: float | None = None) -> tuple[list[HitResult], bool]:
    """Increment every counter, tell which went over, and give everything back at once when the
    severity `verdict` decides is one of its release severities. Returns (results, given back)."""
    if not hits:
        return [], False
    now = clock() if now is None else now
    redis_tools = _redis()
    if redis_tools is None:
        return _hit_decide_local(hits, verdict, now)
    key, redis_head = redis_tools.key, redis_tools.head
    keys: list[str] = []
    previous_keys: list[str] = []
    args: list = [verdict.score, verdict.severity, verdict.waived, sum(1 << level for level in verdict.release), len(verdict.thresholds)]
    for threshold in verdict.thresholds:
        args += threshold
    planned = []
    buckets: dict[int, tuple[int, float, str]] = {}  # window -> bucket, elapsed fraction, its repr (a few windows serve many rules)
    for hit in hits:
        window = hit.window
        found = buckets.get(window)
        if found is None:
            bucket, elapsed = _bucket(window, now)
            found = buckets[window] = (bucket, elapsed, repr(elapsed))
        bucket, elapsed, elapsed_text = found
        head = f"{PREFIX}:{hit.base}:{window}:"
        current_key = f"{head}{bucket}"
        if redis_head is not None:
            keys.append(f"{redis_head}{current_key}")
            previous_keys.append(f"{redis_head}{head}{bucket - 1}")
        else:
            keys.append(key(current_key))
            previous_keys.append(key(f"{head}{bucket - 1}"))
        limit = "-" if hit.limit is None else repr(float(hit.limit))
        args += (hit.amount, window * 2 + 60, elapsed_text, limit, hit.score, hit.severity)
        planned.append((current_key, elapsed))
    keys += previous_keys
    keys.append(f"{redis_head}{LOADED_KEY}" if redis_head is not None else key(LOADED_KEY))
    raw = _evalsha(redis_tools, redis_tools.hit, keys, args)
    attempts = 1
    while raw == 0:  # the loaded mark is missing: Redis lost the counts; nothing was incremented
        if attempts == _RELOAD_ATTEMPTS:
            raise CountersNotLoaded(attempts)
        _reload_once(redis_tools, keys[-1], now)
        raw = _evalsha(redis_tools, redis_tools.hit, keys, args)
        attempts += 1
    results = []
    for index, (hit, (current_key, elapsed)) in enumerate(zip(hits, planned, strict=True)):
        current, previous, over = int(raw[3 * index]), int(raw[3 * index + 1] or 0), raw[3 * index + 2] == 1
        results.append(HitResult(current_key, hit.amount, current, previous, current + previous * (1.0 - elapsed), over))
    return results, raw[-1] == 1


class CountersNotLoaded(RuntimeError):
    """Redis lost the counters again each time they were reloaded (it is being flushed or restarted over and over)."""

    def __init__(self, attempts: int):
        super().__init__(f"the risk counters were reloaded {attempts - 1} times and Redis lost them again each time")


def _reload_once(redis_tools: _RedisTools, mark: str, now: float) -> None:
    """Refill unless another thread of this process did while this one waited for the lock."""
    with _reload_lock:
        if not redis_tools.client.exists(mark):
            counters_reload(now=now)


def counters_reload(*, now: float | None = None) -> int:
    """Refill the live buckets of the risk rule counters from PostgreSQL, then set the loaded mark.

    Sums the amounts every evaluation of the longest rule window reserved and kept (released ones are
    not counted; refused ones reserved nothing), keeps the buckets that are current or previous for their
    window now, and writes each one only where Redis does not have it. Returns the buckets written.
    Costs one query and one Redis call, once after each loss. (Evaluations running while Redis lost its
    data and writing their rows after the query are missed: at most a fraction of a second of them.)
    """
    from riskcontrol import engine, selectors
    from riskcontrol.models import RiskRule

    redis_tools = _redis()
    if redis_tools is None:
        return 0
    now = clock() if now is None else now
    windows = [rule.window_seconds for rule in engine.rules_snapshot().rules if rule.kind in RiskRule.COUNTER_KINDS and rule.window_seconds]
    found = selectors.risk_counters_reserved(seconds=2 * max(windows)) if windows else {}
    keys, args = [redis_tools.key(LOADED_KEY)], []
    for name, amount in found.items():
        try:
            _base, window_text, bucket_text = name.rsplit(":", 2)
            window, bucket = int(window_text), int(bucket_text)
        except ValueError:
            continue
        current, _elapsed = _bucket(window, now)
        ttl = int((bucket + 2) * window - now) + 60
        if amount <= 0 or bucket not in (current, current - 1):
            continue
        keys.append(redis_tools.key(name))
        args += (amount, ttl)
    return int(_evalsha(redis_tools, redis_tools.load, keys, args))


def _hit_decide_local(hits: list[Hit], verdict: Verdict, now: float) -> tuple[list[HitResult], bool]:
    """The same for a cache without scripts (local memory: one process, so give-back right after is as good)."""
    backend = caches["default"]
    planned = [(hit, *_keys(hit, now)) for hit in hits]
    previous = backend.get_many([p[2] for p in planned])
    results = []
    score, severity = verdict.score, verdict.severity
    for hit, current_key, previous_key, elapsed in planned:
        current = _incr(backend, current_key, hit.amount, _ttl(hit.window))
        before = int(previous.get(previous_key) or 0)
        estimate = current + before * (1.0 - elapsed)
        over = hit.limit is not None and estimate > hit.limit
        if over:
            score += hit.score
            severity = max(severity, hit.severity)
        results.append(HitResult(current_key, hit.amount, current, before, estimate, over))
    final, _raised = verdict.decide(score, severity)
    if final in verdict.release:
        release([(result.key, result.amount) for result in results])
        return results, True
    return results, False


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
        key = redis_tools.key
        _evalsha(redis_tools, redis_tools.release, [key(name) for name, _amount in reserved], [amount for _name, amount in reserved])
        return
    for name, amount in reserved:
        try:
            cache.decr(name, amount)
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


def rebuild_if_missing(hit: Hit, *, count_between: Callable[[float, float], int], now: float | None = None) -> bool:
    """Fill a counter's two buckets from the durable record when the cache has neither of them.

    Both missing means the counter was not used for a whole window, or the cache lost it (a Redis restart
    or flush). `count_between(start, end)` counts what the database holds for [start, end) (timestamps of
    this module's clock). Buckets are written with add (SET NX), so one a concurrent request created
    meanwhile is kept. One cache read, and a database read only on a miss. Returns whether it filled any.
    """
    now = clock() if now is None else now
    current_key, previous_key, _elapsed = _keys(hit, now)
    if cache.get_many([current_key, previous_key]):
        return False
    bucket, _fraction = _bucket(hit.window, now)
    start = bucket * hit.window
    filled = False
    for key, begin, end in ((previous_key, start - hit.window, start), (current_key, start, now)):
        amount = int(count_between(begin, end))
        if amount:
            filled = cache.add(key, amount, _ttl(hit.window)) or filled
    return filled
