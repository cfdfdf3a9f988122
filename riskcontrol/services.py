"""Risk control's interface for other apps, and its writes.

    from riskcontrol.services import RiskContext, risk_evaluate, risk_release
    decision = risk_evaluate(ctx=RiskContext(action="purchase", sku_id=sku.pk, quantity=2, amount=total, ip=ip, ...))
    decision.raise_if_refused()        # RiskBlocked (403) on block, ChallengeRequired (428) on challenge
    if decision.held_for_review: ...   # hold the order; `review_decided` (riskcontrol.signals) tells you later
    ... if the purchase does not go through after all: risk_release(decision=decision)

Code protection (redemption, catalog): lockout_check / failure_record / success_record,
reveal_guard, second_factor_verify, challenge_new / challenge_verify. See docs/riskcontrol.md.
"""

import ipaddress
import logging
import math
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from catalog.codetext import text_code_guard
from riskcontrol import counters, engine, eventlog
from riskcontrol.challenge import Challenge, challenge_new, challenge_verify
from riskcontrol.decision import Decision, Reason, RiskContext
from riskcontrol.errors import ChallengeRequired, LockedOut, NotUnderReview, RevealLimitExceeded, ReviewAlreadyDecided, RiskBlocked
from riskcontrol.models import SEVERITY, Dimension, Outcome, RiskEvent, RiskList, RiskListEntry, RiskRule, normalize_value
from riskcontrol.protection import (
    failure_record,
    lockout_check,
    register_reveal_guard,
    reveal_guard,
    second_factor_verify,
    success_record,
)
from riskcontrol.signals import review_decided
from voucherhub.core.audit import audit_record

__all__ = [
    "Challenge",
    "ChallengeRequired",
    "Decision",
    "LockedOut",
    "Reason",
    "RevealLimitExceeded",
    "RiskBlocked",
    "RiskContext",
    "challenge_new",
    "challenge_verify",
    "failure_record",
    "list_entry_add",
    "lockout_check",
    "register_reveal_guard",
    "reveal_guard",
    "review_decide",
    "risk_evaluate",
    "risk_events_flush",
    "risk_release",
    "risk_rules_changed",
    "second_factor_verify",
    "success_record",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_SEVERITY_OUTCOME = {level: outcome for outcome, level in SEVERITY.items()}
_CHALLENGE, _REVIEW, _BLOCK = SEVERITY[Outcome.CHALLENGE], SEVERITY[Outcome.REVIEW], SEVERITY[Outcome.BLOCK]
# Refused requests (challenge, block) keep no counters: the counter script gives them back in its own call.
_RELEASED = frozenset({_CHALLENGE, _BLOCK})
_CENTS = Decimal(100)
_ALLOWLIST, _BLOCK_ACTION = RiskRule.Kind.ALLOWLIST, RiskRule.RuleAction.BLOCK
_UNITS, _AMOUNT = RiskRule.Measure.UNITS, RiskRule.Measure.AMOUNT

logger = logging.getLogger(__name__)


def risk_rules_changed() -> None:
    """Make every process reload the rules once the current transaction commits."""
    transaction.on_commit(engine.rules_changed)


def _context_values(ctx: RiskContext) -> tuple[dict[str, str], IPAddress | None]:
    """The context's values normalized per dimension, and the IP address parsed (None when it is not one)."""
    ip_text = str(ctx.ip or "").strip()
    address = None
    if ip_text:
        try:
            address = ipaddress.ip_address(ip_text)
            ip_text = str(address)
        except ValueError:
            ip_text = normalize_value(Dimension.IP, ip_text)
    email = normalize_value(Dimension.EMAIL, ctx.email)
    values = {
        Dimension.IP: ip_text,
        Dimension.DEVICE: str(ctx.device or "").strip(),
        Dimension.ACCOUNT: "" if ctx.account_id in (None, "") else str(ctx.account_id),
        Dimension.PHONE: normalize_value(Dimension.PHONE, ctx.phone),
        Dimension.EMAIL: email,
        Dimension.EMAIL_DOMAIN: email.rsplit("@", 1)[1] if "@" in email else "",
        Dimension.DISTRIBUTOR: "" if ctx.distributor_id is None else str(ctx.distributor_id),
        Dimension.STOREFRONT: "" if ctx.storefront_id is None else str(ctx.storefront_id),
    }
    return values, address


def _reason(rule: engine.CompiledRule, code: str, params: dict) -> Reason:
    return Reason(code=code, params=params, rule_id=rule.id, rule_name=rule.name, score=rule.score, action=rule.action)


def _money_text(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'))}"


def _counter_reason(rule: engine.CompiledRule, result: counters.HitResult) -> Reason:
    if rule.measure == _AMOUNT:
        count = _money_text(Decimal(math.ceil(result.estimate)) / _CENTS)
        return _reason(
            rule,
            "limit_amount",
            {"dimension": rule.dimension, "limit": _money_text(rule.amount_threshold), "window": rule.window_seconds, "count": count},
        )
    return _reason(
        rule,
        "limit",
        {
            "dimension": rule.dimension,
            "limit": rule.limit,
            "measure": rule.measure,
            "window": rule.window_seconds,
            "count": math.ceil(result.estimate),
        },
    )


def _check_simple(rule: engine.CompiledRule, ctx: RiskContext, now, amount: Decimal) -> Reason | None:
    """Amount thresholds and new-account restrictions: no counters involved."""
    if rule.kind == RiskRule.Kind.AMOUNT:
        if rule.amount_threshold is not None and amount >= rule.amount_threshold:
            return _reason(rule, "amount", {"amount": _money_text(amount), "threshold": _money_text(rule.amount_threshold)})
        return None
    if rule.kind == RiskRule.Kind.NEW_ACCOUNT:
        created = ctx.account_created_at
        age = rule.account_age_hours * 3600
        if created is None or (now - created).total_seconds() >= age:
            return None
        if rule.amount_threshold is not None:
            if amount < rule.amount_threshold:
                return None
            params = {"age": age, "amount": _money_text(amount), "threshold": _money_text(rule.amount_threshold)}
            return _reason(rule, "new_account_amount", params)
        if rule.limit:
            if ctx.quantity <= rule.limit:
                return None
            return _reason(rule, "new_account_quantity", {"age": age, "quantity": ctx.quantity, "limit": rule.limit})
        return _reason(rule, "new_account", {"age": age})
    return None


def risk_evaluate(*, ctx: RiskContext) -> Decision:
    """Evaluate a request against the active rules, record it (RiskEvent) and return the decision.

    Counters of purchase limits and velocity rules are reserved by this call and kept when the
    outcome is allow or review; on challenge or block they are given back within the same atomic
    Redis call that took them. A caller whose request then fails for another reason gives them
    back with `risk_release(decision=...)`.
    """
    snapshot = engine.rules_snapshot()
    plan = snapshot.plan_for(ctx.action, ctx.channel)
    now = timezone.now()
    now_ts = counters.clock()
    values, address = _context_values(ctx)
    sku_id = ctx.sku_id

    reasons: list[Reason] = []
    matched: list[Reason] = []  # reasons that carry a score and an action
    score = severity = 0
    allowlisted = list_blocked = False

    # 1. Lists first: an allowlist skips limits and thresholds, a blocklist always applies.
    for rule, compiled in plan.lists:
        if rule.sku_id and rule.sku_id != sku_id:
            continue
        value = values.get(compiled.dimension)
        if not value or not compiled.match(value, now_ts, address):
            continue
        reason = _reason(rule, rule.kind, {"dimension": compiled.dimension, "list": compiled.name})
        if rule.kind == _ALLOWLIST:
            allowlisted = True
            reasons.append(reason)
        else:
            matched.append(reason)
            score += rule.score
            severity = max(severity, rule.severity)
            list_blocked = list_blocked or rule.action == _BLOCK_ACTION

    # 2. Thresholds, then the counters: all of them in one atomic round trip that also gives them back
    #    when the outcome turns out to be challenge or block (the Verdict tells the script how to decide).
    levels = snapshot.settings
    verdict = counters.Verdict(
        score=score,
        severity=severity,
        thresholds=((_BLOCK, levels.block_score), (_REVIEW, levels.review_score), (_CHALLENGE, levels.challenge_score)),
        waived=_CHALLENGE if ctx.challenge_passed else -1,
        release=_RELEASED,
    )
    results: list[counters.HitResult] = []
    released = False
    if not allowlisted and not list_blocked:
        amount = Decimal(ctx.amount or 0)
        for rule in plan.simple:
            if rule.sku_id and rule.sku_id != sku_id:
                continue
            reason = _check_simple(rule, ctx, now, amount)
            if reason is not None:
                matched.append(reason)
                score += rule.score
                severity = max(severity, rule.severity)
        counted: list[engine.CompiledRule] = []
        hits: list[counters.Hit] = []
        cents = None
        for rule in plan.counters:
            if rule.sku_id and rule.sku_id != sku_id:
                continue
            value = values.get(rule.dimension)
            if not value:
                continue
            if rule.measure == _UNITS:
                units = int(ctx.quantity)
            elif rule.measure == _AMOUNT:
                if cents is None:
                    cents = int((amount * _CENTS).to_integral_value())
                units = cents
            else:
                units = 1
            if units <= 0:
                continue
            counted.append(rule)
            hits.append(
                counters.Hit(
                    rule.counter_head + counters.digest(value), rule.window_seconds, units, rule.counter_limit, rule.score, rule.severity
                )
            )
        if hits:
            verdict = verdict._replace(score=score, severity=severity)
            results, released = counters.hit_decide(hits, verdict=verdict, now=now_ts)
            for rule, result in zip(counted, results, strict=True):
                if result.over:
                    matched.append(_counter_reason(rule, result))
                    score += rule.score
                    severity = max(severity, rule.severity)

    # 3. The outcome: the strongest rule action, or the score threshold reached, whichever is stronger.
    severity, raised = verdict.decide(score, severity)
    if raised is not None:
        raised_outcome = _SEVERITY_OUTCOME[raised[0]]
        matched.append(Reason(code="score", params={"score": score, "outcome": raised_outcome, "threshold": raised[1]}))
    outcome = _SEVERITY_OUTCOME[severity]
    reasons.extend(matched)

    reserved = () if released else tuple((result.key, result.amount) for result in results)
    if reserved and severity in _RELEASED:
        # The script decides with the same rules as Verdict.decide; should the two ever part, keep the counts right.
        logger.error("risk counters: the counter script kept what a %s gives back; releasing now", outcome)
        counters.release(list(reserved))
        reserved = ()

    event_id = _event_record(
        ctx=ctx, values=values, address=address, outcome=outcome, score=score, reasons=reasons, reserved=reserved, now=now
    )
    return Decision(outcome=outcome, score=score, reasons=tuple(reasons), event_id=event_id, reserved=reserved)


def _storable(value):
    """`value` without NUL characters, which PostgreSQL text and JSON cannot hold (a storefront's
    device fingerprint or a caller's extra may carry one; the row would be refused)."""
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_storable(item) for item in value]
    return value


def _event_record(*, ctx, values, address, outcome, score, reasons, reserved, now) -> int:
    extra = _storable(dict(ctx.extra)) if ctx.extra else {}
    ip = values[Dimension.IP] if address is not None else None
    if values[Dimension.IP] and ip is None:
        extra["ip_raw"] = _storable(str(ctx.ip))[:100]
    if ctx.channel:
        extra["channel"] = _storable(str(ctx.channel))[:20]  # a reviewer sees where the purchase came in
    return eventlog.event_write(
        {
            "created_at": now,
            "action": _storable(str(ctx.action))[:12],
            "outcome": outcome,
            "score": score,
            "reasons": [reason.to_json() for reason in reasons],
            "reference": _storable(str(ctx.reference or ""))[:100],
            "sku_id": ctx.sku_id,
            "quantity": max(0, int(ctx.quantity)),
            "amount": Decimal(ctx.amount or 0),
            "ip": ip,
            "device": _storable(values[Dimension.DEVICE])[:128],
            "account_id": _storable(values[Dimension.ACCOUNT])[:64],
            "phone": values[Dimension.PHONE][:32],
            "email": _storable(values[Dimension.EMAIL])[:254],
            "distributor_id": ctx.distributor_id,
            "storefront_id": ctx.storefront_id,
            "account_created_at": ctx.account_created_at,
            "challenge_passed": ctx.challenge_passed,
            "extra": extra,
            "counters": reserved,  # (key, amount) pairs: tuples of plain values, which the GC stops tracking
            "released_at": None,
            "review_status": RiskEvent.ReviewStatus.PENDING if outcome == Outcome.REVIEW else RiskEvent.ReviewStatus.NONE,
            "reviewed_by_id": None,
            "reviewed_at": None,
            "review_note": "",
        }
    )


def risk_events_flush() -> int:
    """Write the allowed events still queued in this process (see riskcontrol.eventlog) now.

    Tests call it before looking up an allowed event; shutdown hooks may call it (atexit does).
    """
    return eventlog.events_flush()


def risk_release(*, decision: Decision | None = None, event_id: int | None = None) -> bool:
    """Give back the counters a decision reserved (the purchase did not go through). Once per event.

    Pass the decision when you have it: it works even if the event row was rolled back with your
    transaction. Returns True when something was given back.
    """
    event_id = event_id if event_id is not None else (decision.event_id if decision is not None else None)
    reserved = [tuple(item) for item in (decision.reserved if decision is not None else ())]
    if event_id is not None:
        # An allowed event may still wait in this process's queue (riskcontrol.eventlog): claim it there.
        queued = eventlog.event_mark_released(event_id, timezone.now())
        if queued is False:
            return False  # released before
        if queued is None:
            claimed = RiskEvent.objects.filter(pk=event_id, released_at__isnull=True).update(released_at=timezone.now())
            if claimed == 0 and RiskEvent.objects.filter(pk=event_id).exists():
                return False  # released before
            if not reserved and claimed:
                reserved = [tuple(item) for item in RiskEvent.objects.filter(pk=event_id).values_list("counters", flat=True).first() or []]
        elif not reserved:
            reserved = [tuple(item) for item in (eventlog.event_queued(event_id) or {}).get("counters") or []]
    if not reserved:
        return False
    counters.release(reserved)
    return True


@transaction.atomic
def review_decide(*, event_id: int, approve: bool, actor, note: str = "", block: tuple[str, ...] = (), ip: str | None = None) -> RiskEvent:
    """Approve or reject an event held for review, and tell the caller through `review_decided`.

    Rejecting gives back its counters and may add its IP, device, account, phone or email
    (`block`, dimension names) to the blocklist of that kind. Receivers of `review_decided` run
    inside this transaction: their writes commit or roll back with the decision.
    """
    text_code_guard(text=note, field="note")  # the note is shown to the buyer's side and in the audit log
    event = RiskEvent.objects.select_for_update().filter(pk=event_id).first()
    if event is None:
        raise NotUnderReview()
    if event.review_status in (RiskEvent.ReviewStatus.APPROVED, RiskEvent.ReviewStatus.REJECTED):
        raise ReviewAlreadyDecided()
    if event.review_status != RiskEvent.ReviewStatus.PENDING:
        raise NotUnderReview()
    event.review_status = RiskEvent.ReviewStatus.APPROVED if approve else RiskEvent.ReviewStatus.REJECTED
    event.reviewed_by = actor if getattr(actor, "is_authenticated", False) else None
    event.reviewed_at = timezone.now()
    event.review_note = (note or "")[:500]
    event.save(update_fields=["review_status", "reviewed_by", "reviewed_at", "review_note"])
    if not approve:
        event_pk = event.pk
        transaction.on_commit(lambda: risk_release(event_id=event_pk))
        _block_from_event(event=event, dimensions=block, actor=actor)
    audit_record(
        actor=actor,
        action="risk.review.approve" if approve else "risk.review.reject",
        obj=event,
        ip=ip,
        reason=note or "",
        data={"reference": event.reference, "outcome": event.outcome, "score": event.score, "blocked": list(block)},
    )
    review_decided.send(
        sender=RiskEvent,
        event=event,
        decision="approved" if approve else "rejected",
        reference=event.reference,
        note=event.review_note,
        actor=actor,
    )
    return event


_BLOCK_FIELDS = {
    Dimension.IP: "ip",
    Dimension.DEVICE: "device",
    Dimension.ACCOUNT: "account_id",
    Dimension.PHONE: "phone",
    Dimension.EMAIL: "email",
}


def _block_from_event(*, event: RiskEvent, dimensions, actor) -> None:
    for dimension in dimensions:
        field_name = _BLOCK_FIELDS.get(dimension)
        value = getattr(event, field_name, "") if field_name else ""
        if not value:
            continue
        risk_list = RiskList.objects.filter(list_type=RiskList.ListType.BLOCK, dimension=dimension).order_by("id").first()
        if risk_list is None:
            risk_list = RiskList.objects.create(
                name=f"review-{dimension}",
                list_type=RiskList.ListType.BLOCK,
                dimension=dimension,
                description="Added from the review queue.",
            )
        list_entry_add(risk_list=risk_list, value=str(value), note=f"review #{event.pk}", actor=actor)


def list_entry_add(*, risk_list: RiskList, value: str, note: str = "", actor=None, expires_at=None) -> RiskListEntry:
    """Add (or refresh) a value on a list and make every process see it."""
    normalized = normalize_value(risk_list.dimension, value)
    entry, _created = RiskListEntry.objects.update_or_create(
        risk_list=risk_list,
        value=normalized,
        defaults={"note": note[:300], "expires_at": expires_at, "created_by": actor if getattr(actor, "is_authenticated", False) else None},
    )
    audit_record(actor=actor, action="risk.list.add", obj=entry, data={"list": risk_list.name, "dimension": risk_list.dimension})
    risk_rules_changed()
    return entry
