"""The rule snapshot: active rules, their lists and the settings, compiled once and kept in memory.

Evaluations read the snapshot, never the database. Each process re-checks a version token in the
cache at most every RISK_RULES_RECHECK_SECONDS (default 1 s) and reloads when ops changed a rule,
a list or the settings (`risk_rules_changed()` sets a new token); it also reloads every
RISK_RULES_MAX_AGE_SECONDS (default 60 s) in case a change bypassed the services.
"""

import ipaddress
import threading
import time
import uuid
from dataclasses import dataclass, field, fields
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone

from riskcontrol.models import SEVERITY, Action, Channel, Dimension, Outcome, RiskList, RiskListEntry, RiskRule, RiskSettings

VERSION_KEY = "risk:rules:version"
_IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_CENTS = Decimal(100)

# The outcome a rule's action asks for, and its severity (models.SEVERITY).
RULE_OUTCOME = {
    RiskRule.RuleAction.SCORE: Outcome.ALLOW,
    RiskRule.RuleAction.CHALLENGE: Outcome.CHALLENGE,
    RiskRule.RuleAction.REVIEW: Outcome.REVIEW,
    RiskRule.RuleAction.BLOCK: Outcome.BLOCK,
}


@dataclass(frozen=True)
class CompiledList:
    id: int
    name: str
    list_type: str
    dimension: str
    values: dict  # normalized value -> expiry timestamp or None
    networks: tuple  # ((network, expiry timestamp or None), ...)

    def match(self, value: str, now: float, address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None) -> bool:
        """Is `value` (normalized) on the list? Pass `address`, the value parsed, to spare parsing it again."""
        expiry = self.values.get(value, False)
        if expiry is not False and (expiry is None or expiry > now):
            return True
        if self.networks and self.dimension == Dimension.IP:
            if address is None:
                try:
                    address = ipaddress.ip_address(value)
                except ValueError:
                    return False
            for network, net_expiry in self.networks:
                if address.version == network.version and address in network and (net_expiry is None or net_expiry > now):
                    return True
        return False


@dataclass(frozen=True)
class CompiledRule:
    id: int
    name: str
    kind: str
    applies_to: str
    dimension: str
    sku_id: int | None
    window_seconds: int
    limit: int
    measure: str
    amount_threshold: Decimal | None
    account_age_hours: int
    list_id: int | None
    score: int
    action: str
    severity: int = 0  # SEVERITY of the outcome its action asks for
    counter_limit: float = 0.0  # purchase limits and velocity: the limit in the counter's unit (cents for amounts)
    counter_head: str = ""  # the start of its counters' names
    channels: frozenset = frozenset()  # purchases through these channels only; empty: every channel

    def for_channel(self, channel: str) -> bool:
        """Does the rule apply to a request through `channel`? A request naming no channel meets every rule."""
        return not channel or not self.channels or channel in self.channels


@dataclass(frozen=True)
class Plan:
    """The active rules of one action kind, sorted for risk_evaluate (each group in priority order)."""

    lists: tuple[tuple[CompiledRule, CompiledList], ...] = ()  # blocklists and allowlists with their list
    simple: tuple[CompiledRule, ...] = ()  # amount thresholds and new-account restrictions
    counters: tuple[CompiledRule, ...] = ()  # purchase limits and velocity

    @property
    def empty(self) -> bool:
        """No rule looks at this action: risk_evaluate answers allow without touching Redis or the table."""
        return not (self.lists or self.simple or self.counters)


@dataclass(frozen=True)
class SettingsValues:
    challenge_score: int = 40
    review_score: int = 70
    block_score: int = 100
    bf_window_minutes: int = 10
    bf_terminal_failures: int = 5
    bf_ip_failures: int = 10
    bf_store_failures: int = 30
    bf_lockout_minutes: int = 15
    reveal_limit_per_hour: int = 50
    second_factor_failures: int = 5
    spike_window_minutes: int = 10
    block_spike_threshold: int = 50
    failure_spike_threshold: int = 50
    login_failure_spike_threshold: int = 30
    alert_cooldown_minutes: int = 30
    event_retention_days: int = 180

    @classmethod
    def from_row(cls, row: RiskSettings | None) -> "SettingsValues":
        if row is None:
            return cls()
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})


@dataclass(frozen=True)
class Snapshot:
    version: str
    loaded_at: float
    rules: tuple[CompiledRule, ...]
    lists: dict
    settings: SettingsValues
    _by_action: dict = field(default_factory=dict)
    _plans: dict = field(default_factory=dict)  # (action, channel) -> Plan, for every action and known channel

    def rules_for(self, action: str, channel: str = "") -> tuple[CompiledRule, ...]:
        found = self._by_action.get(action)
        if found is None:
            found = tuple(rule for rule in self.rules if rule.applies_to in (action, RiskRule.ANY))
        if channel:
            found = tuple(rule for rule in found if rule.for_channel(channel))
        return found

    def plan_for(self, action: str, channel: str = "") -> Plan:
        """The rules `risk_evaluate` runs for `action` through `channel` ("" when the request names none):
        compiled with the snapshot, so the channel scope costs a request one dictionary lookup."""
        found = self._plans.get((action, channel))
        if found is None:
            found = _plan(self.rules_for(action, channel), self.lists)
        return found


_LIST_KINDS = (RiskRule.Kind.BLOCKLIST, RiskRule.Kind.ALLOWLIST)


def _plan(rules: tuple[CompiledRule, ...], lists: dict) -> Plan:
    return Plan(
        lists=tuple((rule, lists[rule.list_id]) for rule in rules if rule.kind in _LIST_KINDS and rule.list_id in lists),
        simple=tuple(rule for rule in rules if rule.kind not in _LIST_KINDS and rule.kind not in RiskRule.COUNTER_KINDS),
        counters=tuple(rule for rule in rules if rule.kind in RiskRule.COUNTER_KINDS),
    )


def _counter_limit(row: RiskRule) -> float:
    if row.measure == RiskRule.Measure.AMOUNT:
        return float((row.amount_threshold or Decimal(0)) * _CENTS)
    return float(row.limit or 0)


def _timestamp(value) -> float | None:
    return value.timestamp() if value is not None else None


def _compile_lists(list_ids: set[int]) -> dict[int, CompiledList]:
    if not list_ids:
        return {}
    now = timezone.now()
    values: dict[int, dict] = {pk: {} for pk in list_ids}
    networks: dict[int, list] = {pk: [] for pk in list_ids}
    heads = {row.pk: row for row in RiskList.objects.filter(pk__in=list_ids)}
    entries = (
        RiskListEntry.objects.filter(risk_list_id__in=list_ids)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .values_list("risk_list_id", "value", "expires_at")
    )
    for list_id, value, expires_at in entries.iterator(chunk_size=5000):
        head = heads[list_id]
        if head.dimension == Dimension.IP and "/" in value:
            try:
                networks[list_id].append((ipaddress.ip_network(value, strict=False), _timestamp(expires_at)))
                continue
            except ValueError:
                pass
        values[list_id][value] = _timestamp(expires_at)
    return {
        pk: CompiledList(
            id=pk,
            name=head.name,
            list_type=head.list_type,
            dimension=head.dimension,
            values=values[pk],
            networks=tuple(networks[pk]),
        )
        for pk, head in heads.items()
    }


def snapshot_load(version: str) -> Snapshot:
    rows = list(RiskRule.objects.filter(active=True).order_by("priority", "id"))
    rules = tuple(
        CompiledRule(
            id=row.pk,
            name=row.name,
            kind=row.kind,
            applies_to=row.applies_to,
            dimension=row.dimension,
            sku_id=row.sku_id,
            window_seconds=row.window_seconds or 0,
            limit=row.limit or 0,
            measure=row.measure,
            amount_threshold=row.amount_threshold,
            account_age_hours=row.account_age_hours or 0,
            list_id=row.risk_list_id,
            score=row.score,
            action=row.action,
            severity=SEVERITY[RULE_OUTCOME.get(row.action, Outcome.ALLOW)],
            counter_limit=_counter_limit(row),
            counter_head=f"r{row.pk}:",
            channels=frozenset(row.channels or ()),
        )
        for row in rows
    )
    lists = _compile_lists({rule.list_id for rule in rules if rule.list_id})
    by_action = {action: tuple(rule for rule in rules if rule.applies_to in (action, RiskRule.ANY)) for action in Action.values}
    return Snapshot(
        version=version,
        loaded_at=time.monotonic(),
        rules=rules,
        lists=lists,
        settings=SettingsValues.from_row(RiskSettings.objects.filter(pk=1).first()),
        _by_action=by_action,
        _plans={
            (action, channel): _plan(tuple(rule for rule in found if rule.for_channel(channel)), lists)
            for action, found in by_action.items()
            for channel in ("", *Channel.values)
        },
    )


class _Local:
    snapshot: Snapshot | None = None
    checked: float = 0.0


_local = _Local()
_load_lock = threading.Lock()


def _current_version() -> str:
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, uuid.uuid4().hex, None)
        version = cache.get(VERSION_KEY) or "unversioned"
    return version


def rules_snapshot() -> Snapshot:
    """The compiled rules, settings and lists, fresh within RISK_RULES_RECHECK_SECONDS of a change."""
    snapshot = _local.snapshot
    now = time.monotonic()
    if snapshot is not None and now - _local.checked < getattr(settings, "RISK_RULES_RECHECK_SECONDS", 1.0):
        return snapshot
    version = _current_version()
    max_age = getattr(settings, "RISK_RULES_MAX_AGE_SECONDS", 60.0)
    if snapshot is None or snapshot.version != version or now - snapshot.loaded_at > max_age:
        with _load_lock:
            snapshot = snapshot_load(version)
            _local.snapshot = snapshot
    _local.checked = now
    return snapshot


def rules_changed() -> None:
    """Tell every process to reload the snapshot (call after changing rules, lists or settings)."""
    cache.set(VERSION_KEY, uuid.uuid4().hex, None)
    _local.snapshot = None
