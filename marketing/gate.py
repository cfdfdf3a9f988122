"""The flash-sale admission gate: one atomic Redis step in front of the database reservation.

A burst of buyers for a flash sale would otherwise all queue on one row (the slot's `taken`). The gate
answers most of them from Redis: one Lua script call checks and takes, in one step, a place of the slot's
stock and the consumer's count against the campaign's per-consumer limit, and answers

* ADMITTED: the places were taken in Redis; go on to the database reservation (marketing.services.flash),
  which checks both rules again and is the truth. An order that fails after admission gives its places
  back (`gate_give_back`).
* SOLD_OUT: no place left in this slot.
* LIMIT: the consumer already holds the campaign's limit (across all its slots).

Keys (one campaign's keys share the hash tag `{c<id>}`, so a Redis Cluster keeps them on one node):

    flash:{c<id>}:s<slot>:left   places left in a slot
    flash:{c<id>}:n              hash: consumer id -> places held or paid in the campaign ("_" keeps it alive)
    flash:{c<id>}:ok             the loaded mark: the keys above hold what the database holds
    flash:{c<id>}:lock           taken while one process rebuilds the keys

All of them expire an hour after the campaign ends. When the loaded mark is missing (Redis restarted or was
flushed, the keys expired, ops changed a slot: `gate_reset`) the script changes nothing and answers NOT_LOADED;
the caller then rebuilds the keys from the database (`gate_rebuild`, under the lock, one process at a time;
the others wait for the mark) and asks again. `manage.py flash_gate_rebuild` does the same for every running or
coming flash sale.

The gate may be wrong in one direction only for a moment: a rebuild that runs while an admitted order is still
in its transaction does not see it, so the gate may then admit a few more buyers than places are left; the
database reservation refuses them (SoldOut / LimitReached). It never refuses a buyer the database would take,
except for a place whose order is still deciding.

Without Redis (the laptop's local-memory cache, `make run`) there is no gate: every attempt goes to the
database reservation, which alone keeps the stock and the limit exact (slower under a burst, never wrong).
"""

import enum
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.db.models import Sum

from marketing.models import Campaign, FlashReservation, FlashSlot

logger = logging.getLogger(__name__)

KEEP_AFTER_END = timedelta(hours=1)  # the keys outlive the campaign by this much (late releases find them)
LOCK_MS = 10_000  # a rebuild that takes longer than this lets another process try
WAIT_FOR_REBUILD_S = 5.0  # how long a process waits for another's rebuild before it rebuilds itself


class Gate(enum.IntEnum):
    ADMITTED = 0
    SOLD_OUT = 1
    LIMIT = 2
    NOT_LOADED = -1
    OFF = 3  # no Redis: the database decides alone


# KEYS: left (this slot), counts (the campaign's hash), loaded mark. ARGV: consumer id, quantity, limit.
# Nothing is written unless the consumer stays within the limit and the slot has the places.
_TAKE = """
if redis.call('EXISTS', KEYS[3]) == 0 then return -1 end
local quantity = tonumber(ARGV[2])
local had = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if had + quantity > tonumber(ARGV[3]) then return 2 end
local left = tonumber(redis.call('GET', KEYS[1]) or '0')
if left < quantity then return 1 end
redis.call('DECRBY', KEYS[1], quantity)
redis.call('HINCRBY', KEYS[2], ARGV[1], quantity)
return 0
"""

# KEYS: left, counts, loaded mark. ARGV: consumer id, places back to the slot, places back off the consumer's
# count. A gate that lost its mark since (the next take rebuilds it from the database) is left alone.
_GIVE_BACK = """
if redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
if tonumber(ARGV[2]) > 0 then redis.call('INCRBY', KEYS[1], ARGV[2]) end
if tonumber(ARGV[3]) > 0 and redis.call('HINCRBY', KEYS[2], ARGV[1], -tonumber(ARGV[3])) <= 0 then
  redis.call('HDEL', KEYS[2], ARGV[1])
end
return 1
"""

# KEYS: the lock. ARGV: the holder's token. Deletes the lock only when it is still ours.
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class _Tools:
    client: object
    make_key: object
    take: object
    give_back: object
    unlock: object


def _tools() -> _Tools | None:
    """The default cache's redis-py client and the registered scripts, or None without Redis.

    Kept on the cache backend object (one per thread), so the scripts are registered once."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    tools = getattr(backend, "_vh_flash_gate", None)
    if tools is None:
        client = backend._cache.get_client(None, write=True)
        tools = _Tools(
            client, backend.make_key, client.register_script(_TAKE), client.register_script(_GIVE_BACK), client.register_script(_UNLOCK)
        )
        backend._vh_flash_gate = tools
    return tools


def gate_enabled() -> bool:
    """True when the cache is Redis and the gate runs; False on a laptop's local-memory cache."""
    return _tools() is not None


def _keys(tools: _Tools, campaign_id: int) -> dict[str, str]:
    head = f"flash:{{c{campaign_id}}}"
    return {name: tools.make_key(f"{head}:{name}") for name in ("n", "ok", "lock")}


def _left_key(tools: _Tools, campaign_id: int, slot_id: int) -> str:
    return tools.make_key(f"flash:{{c{campaign_id}}}:s{slot_id}:left")


def place_text(*, slot: FlashSlot, consumer_id: int, quantity: int) -> str:
    """How an admitted place travels (FlashTake.gate_places, Offer.gate_places): 'campaign:slot:consumer:quantity'."""
    return f"{slot.campaign_id}:{slot.pk}:{consumer_id}:{quantity}"


def gate_take(*, slot: FlashSlot, consumer_id: int, quantity: int, limit: int) -> Gate:
    """Check and take `quantity` places of `slot` for the consumer in one atomic step (see the module).

    Answers ADMITTED, SOLD_OUT, LIMIT, or OFF when there is no Redis (the database decides alone).
    Rebuilds the keys from the database when they are missing, then asks again."""
    tools = _tools()
    if tools is None:
        return Gate.OFF
    keys = _keys(tools, slot.campaign_id)
    script_keys = [_left_key(tools, slot.campaign_id, slot.pk), keys["n"], keys["ok"]]
    for _attempt in range(3):
        answer = Gate(int(tools.take(keys=script_keys, args=[consumer_id, quantity, limit])))
        if answer != Gate.NOT_LOADED:
            return answer
        _rebuild_or_wait(tools, slot.campaign_id)
    raise RuntimeError(f"the flash gate of campaign {slot.campaign_id} could not be loaded")  # Redis lost it three times


def gate_give_back(places) -> None:
    """Give admitted places back (an order that failed after admission, or a reservation released).

    `places` are place_text() strings; safe to call with an empty tuple and without Redis."""
    for place in places:
        _give_back(place, to_slot=True, off_consumer=True)


def gate_refused(place: str, refusal: Gate) -> None:
    """The database refused a place the gate admitted: the gate counted wrong (a rebuild ran while admitted
    orders were still in their transactions). It learns from the refusal instead of taking the place back
    whole: SOLD_OUT keeps the slot's places taken (there were fewer than it thought) and gives the consumer's
    count back; LIMIT gives the slot's places back and keeps the consumer's count (they hold more than it thought)."""
    _give_back(place, to_slot=refusal != Gate.SOLD_OUT, off_consumer=refusal != Gate.LIMIT)


def _give_back(place: str, *, to_slot: bool, off_consumer: bool) -> None:
    tools = _tools()
    if tools is None:
        return
    campaign_id, slot_id, consumer_id, quantity = (int(part) for part in place.split(":"))
    keys = _keys(tools, campaign_id)
    tools.give_back(
        keys=[_left_key(tools, campaign_id, slot_id), keys["n"], keys["ok"]],
        args=[consumer_id, quantity if to_slot else 0, quantity if off_consumer else 0],
    )


def gate_left(*, slot: FlashSlot) -> int | None:
    """Places left in `slot` as the gate sees them; None without Redis or when the gate is not loaded."""
    tools = _tools()
    if tools is None:
        return None
    keys = _keys(tools, slot.campaign_id)
    pipe = tools.client.pipeline(transaction=False)
    pipe.exists(keys["ok"])
    pipe.get(_left_key(tools, slot.campaign_id, slot.pk))
    loaded, left = pipe.execute()
    return max(int(left), 0) if loaded and left is not None else None


def gate_counts(*, campaign: Campaign) -> dict[int, int] | None:
    """The gate's places per consumer id for a campaign (None without Redis or when not loaded)."""
    tools = _tools()
    if tools is None:
        return None
    keys = _keys(tools, campaign.pk)
    if not tools.client.exists(keys["ok"]):
        return None
    return {int(k): int(v) for k, v in tools.client.hgetall(keys["n"]).items() if k != b"_" and int(v) > 0}


def gate_reset(*, campaign: Campaign) -> None:
    """Forget a campaign's gate (ops changed its slots or limit): the next take rebuilds it from the database."""
    tools = _tools()
    if tools is not None:
        tools.client.delete(_keys(tools, campaign.pk)["ok"])


def gate_rebuild(*, campaign: Campaign, only_when_missing: bool = False) -> bool:
    """Set the campaign's gate from the database, under the Redis lock: each slot's places left (stock - taken),
    each consumer's places held or paid, the loaded mark. False when another process holds the lock (it is
    rebuilding) or there is no Redis. `only_when_missing`: leave a gate that got its mark meanwhile (the
    attempts that found it missing together rebuild it once, not once each)."""
    tools = _tools()
    if tools is None:
        return False
    keys = _keys(tools, campaign.pk)
    token = secrets.token_hex(8)
    if not tools.client.set(keys["lock"], token, nx=True, px=LOCK_MS):
        return False
    try:
        if not (only_when_missing and tools.client.exists(keys["ok"])):
            _write_from_database(tools, campaign, keys)
    finally:
        tools.unlock(keys=[keys["lock"]], args=[token])
    return True


def _write_from_database(tools: _Tools, campaign: Campaign, keys: dict[str, str]) -> None:
    campaign = Campaign.objects.get(pk=campaign.pk)
    slots = list(FlashSlot.objects.filter(campaign=campaign).values_list("pk", "stock", "taken"))
    counts = (
        FlashReservation.objects.filter(slot__campaign=campaign, status__in=[FlashReservation.Status.HELD, FlashReservation.Status.PAID])
        .values_list("consumer_id")
        .annotate(n=Sum("quantity"))
        .order_by()
    )
    expire_at = campaign.ends_at + KEEP_AFTER_END
    pipe = tools.client.pipeline(transaction=True)  # MULTI/EXEC: a take never sees half a rebuild
    pipe.delete(keys["n"])
    pipe.hset(keys["n"], mapping={"_": 0, **{str(consumer_id): n for consumer_id, n in counts}})
    for slot_id, stock, taken in slots:
        pipe.set(_left_key(tools, campaign.pk, slot_id), max(stock - taken, 0), exat=expire_at)
    pipe.expireat(keys["n"], expire_at)
    pipe.set(keys["ok"], "1", exat=expire_at)
    pipe.execute()
    logger.info("flash gate of campaign %s rebuilt from the database (%s slots)", campaign.pk, len(slots))


def _rebuild_or_wait(tools: _Tools, campaign_id: int) -> None:
    """Rebuild the missing keys, or wait while another process does (its lock), then return to ask again."""
    campaign = Campaign.objects.get(pk=campaign_id)
    deadline = time.monotonic() + WAIT_FOR_REBUILD_S
    mark = _keys(tools, campaign_id)["ok"]
    while not tools.client.exists(mark) and not gate_rebuild(campaign=campaign, only_when_missing=True):
        time.sleep(0.01)
        if time.monotonic() > deadline:
            return
