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

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from catalog.codetext import text_code_guard
from riskcontrol import counters, engine, eventlog
from riskcontrol.challenge import Challenge, challenge_new, challenge_verify
from riskcontrol.decision import Decision, Reason, RiskContext
from riskcontrol.devices import device_of
from riskcontrol.errors import ChallengeRequired, LockedOut, NotUnderReview, RevealLimitExceeded, ReviewAlreadyDecided, RiskBlocked
from riskcontrol.models import (
    SEVERITY,
    Action,
    Dimension,
    Outcome,
    RiskEvent,
    RiskList,
    RiskListEntry,
    RiskRule,
    RiskSettings,
    normalize_value,
)
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
from voucherhub.core.net import client_ip

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
    "list_entries_remove",
    "list_entry_add",
    "login_screen",
    "list_entry_save",
    "list_save",
    "lists_delete",
    "lockout_check",
    "register_reveal_guard",
    "reveal_guard",
    "reveal_screen",
    "review_decide",
    "risk_evaluate",
    "risk_release",
    "risk_rules_changed",
    "rule_save",
    "rules_activate",
    "rules_deactivate",
    "rules_delete",
    "second_factor_verify",
    "settings_update",
    "success_record",
    "withdrawal_screen",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_SEVERITY_OUTCOME = {level: outcome for outcome, level in SEVERITY.items()}
_CHALLENGE, _REVIEW, _BLOCK = SEVERITY[Outcome.CHALLENGE], SEVERITY[Outcome.REVIEW], SEVERITY[Outcome.BLOCK]
# Refused requests (challenge, block) keep no counters: the counter script gives them back in its own call.
_RELEASED = frozenset({_CHALLENGE, _BLOCK})
_CENTS = Decimal(100)
_ALLOWLIST, _BLOCK_ACTION = RiskRule.Kind.ALLOWLIST, RiskRule.RuleAction.BLOCK
_UNITS, _AMOUNT = RiskRule.Measure.UNITS, RiskRule.Measure.AMOUNT

_PURCHASE = Action.PURCHASE
# Redemptions, logins, reveals and withdrawals happen far more often than purchases and their own apps keep
# their records (redemption attempts, the login log, the audit log, withdrawal rows). Their evaluation leaves
# a RiskEvent only when a rule matched (a list hit, a score, a refusal): an allowed one that no rule noticed
# is not written, and when no active rule applies to the action at all, risk_evaluate returns this at once
# (one dictionary lookup: the redeem path pays nothing until ops add a rule for redemptions).
_ALLOWED_UNRECORDED = Decision(outcome=Outcome.ALLOW)

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


def _lists_checked(plan, values: dict, address, sku_id, now_ts) -> tuple[list[Reason], list[Reason], int, int, bool, bool]:
    """The list rules that match the request: (reasons, matched, score, severity, allowlisted, list_blocked).
    An allowlist hit is a reason without a score; a blocklist hit scores and may block outright."""
    reasons: list[Reason] = []
    matched: list[Reason] = []  # reasons that carry a score and an action
    score = severity = 0
    allowlisted = list_blocked = False
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
    return reasons, matched, score, severity, allowlisted, list_blocked


def _counter_hits(plan, values: dict, ctx: RiskContext, sku_id, amount: Decimal) -> tuple[list, list]:
    """The counters this request adds to: (the counter rules, their hits), each hit counting units, cents of the
    amount, or one request, under the rule's key for the request's value of its dimension."""
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
        key = rule.counter_head + counters.digest(value)
        hits.append(counters.Hit(key, rule.window_seconds, units, rule.counter_limit, rule.score, rule.severity))
    return counted, hits


def risk_evaluate(*, ctx: RiskContext) -> Decision:
    """Evaluate a request against the active rules, record it (RiskEvent) and return the decision.

    Counters of purchase limits and velocity rules are reserved by this call and kept when the
    outcome is allow or review; on challenge or block they are given back within the same atomic
    Redis call that took them. A caller whose request then fails for another reason gives them
    back with `risk_release(decision=...)`.
    """
    snapshot = engine.rules_snapshot()
    plan = snapshot.plan_for(ctx.action, ctx.channel)
    quiet = ctx.action != _PURCHASE  # see _ALLOWED_UNRECORDED
    if quiet and plan.empty:
        return _ALLOWED_UNRECORDED
    now = timezone.now()
    now_ts = counters.clock()
    values, address = _context_values(ctx)
    sku_id = ctx.sku_id

    # 1. Lists first: an allowlist skips limits and thresholds, a blocklist always applies.
    reasons, matched, score, severity, allowlisted, list_blocked = _lists_checked(plan, values, address, sku_id, now_ts)

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
        counted, hits = _counter_hits(plan, values, ctx, sku_id, amount)
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

    if quiet and not reasons and severity == 0:
        return Decision(outcome=outcome, reserved=reserved)  # nothing to tell a reviewer (see _ALLOWED_UNRECORDED)
    event_id = _event_record(
        ctx=ctx, values=values, address=address, outcome=outcome, score=score, reasons=reasons, reserved=reserved, now=now
    )
    return Decision(outcome=outcome, score=score, reasons=tuple(reasons), event_id=event_id, reserved=reserved)


def _refuse_blocked(decision: Decision) -> Decision:
    if decision.blocked:
        raise RiskBlocked(decision=decision)
    return decision


def _user_context(user) -> dict:
    if user is None or not getattr(user, "pk", None):
        return {}
    return {"account_id": user.pk, "email": getattr(user, "email", "") or "", "account_created_at": getattr(user, "date_joined", None)}


def login_screen(*, request, username, challenge_passed: bool = False) -> Decision:
    """Evaluate a login attempt (action "login") before its password is checked: the address, the browser's
    device id, and the account, e-mail and age of the user the name belongs to (if any). Returns the decision
    (riskcontrol.auth.RiskLoginBackend refuses on block; a caller that can show the picture challenge asks
    again with `challenge_passed` once it is solved). No rule for logins: no lookup, nothing recorded."""
    if engine.rules_snapshot().plan_for(Action.LOGIN).empty:
        return _ALLOWED_UNRECORDED
    username = str(username or "")
    user_model = get_user_model()
    user = user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).first() if username else None
    ctx = RiskContext(
        action=Action.LOGIN,
        ip=client_ip(request),
        device=device_of(request),
        extra={"username": username[:150]},
        challenge_passed=challenge_passed,
        **_user_context(user),
    )
    return risk_evaluate(ctx=ctx)


def reveal_screen(*, actor, count: int, ip=None) -> Decision:
    """Evaluate a reveal of `count` codes by `actor` (action "reveal"); RiskBlocked (403) on block.
    Called by reveal_guard (catalog's REVEAL_GUARDS), before the hourly reveal limit is taken."""
    ctx = RiskContext(action=Action.REVEAL, quantity=max(0, int(count or 0)), ip=str(ip or ""), **_user_context(actor))
    return _refuse_blocked(risk_evaluate(ctx=ctx))


def withdrawal_screen(*, actor, distributor_id: int, amount: Decimal, ip=None, reference: str = "") -> Decision:
    """Evaluate a withdrawal request (action "withdrawal"); RiskBlocked (403) on block. Call it before your
    transaction opens (a refusal's event must not roll back with it). Finance decides every withdrawal anyway,
    so a challenge or review outcome is recorded and the request goes on."""
    ctx = RiskContext(
        action=Action.WITHDRAWAL,
        reference=reference,
        amount=amount,
        ip=str(ip or ""),
        distributor_id=distributor_id,
        **_user_context(actor),
    )
    return _refuse_blocked(risk_evaluate(ctx=ctx))


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
            "action": _storable(str(ctx.action))[:16],  # RiskEvent.action (was cut at 12: "campaign_ord")
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


def risk_release(*, decision: Decision | None = None, event_id: int | None = None) -> bool:
    """Give back the counters a decision reserved (the purchase did not go through). Once per event.

    Pass the decision when you have it: it works even if the event row was rolled back with your
    transaction. Returns True when something was given back.
    """
    event_id = event_id if event_id is not None else (decision.event_id if decision is not None else None)
    reserved = [tuple(item) for item in (decision.reserved if decision is not None else ())]
    if event_id is not None:
        claimed = RiskEvent.objects.filter(pk=event_id, released_at__isnull=True).update(released_at=timezone.now())
        if claimed == 0 and RiskEvent.objects.filter(pk=event_id).exists():
            return False  # released before
        if not reserved and claimed:
            reserved = [tuple(item) for item in RiskEvent.objects.filter(pk=event_id).values_list("counters", flat=True).first() or []]
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
            new_list = RiskList(
                name=f"review-{dimension}",
                list_type=RiskList.ListType.BLOCK,
                dimension=dimension,
                description="Added from the review queue.",
            )
            risk_list = list_save(risk_list=new_list, actor=actor)
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


# --- What ops configure: rules, lists and their entries, the settings --------------------------------
# Every change goes through these (the admin's save_model, delete and actions call them): it is validated,
# written, audited (risk.rule.*, risk.list.*, risk.settings.change) and every process reloads its snapshot.


def _field_values(obj) -> dict:
    return {field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields if field.attname != "updated_at"}


def _changes(before: dict | None, obj) -> dict:
    """{field: [old, new]} of what the save changes (every field when the object is new), as text."""
    after = _field_values(obj)
    return {
        name: [None if before is None or before.get(name) is None else str(before[name]), None if value is None else str(value)]
        for name, value in after.items()
        if name != "id" and (before is None or before.get(name) != value)
    }


def _stored(obj) -> dict | None:
    if obj.pk is None:
        return None
    row = type(obj).objects.filter(pk=obj.pk).first()
    return None if row is None else _field_values(row)


@transaction.atomic
def rule_save(*, rule: RiskRule, actor, ip: str | None = None) -> RiskRule:
    """Create or change a rule (validated first), audited as risk.rule.create / risk.rule.change."""
    before = _stored(rule)
    rule.full_clean()
    changes = _changes(before, rule)
    rule.save()
    action = "risk.rule.create" if before is None else "risk.rule.change"
    audit_record(actor=actor, action=action, obj=rule, ip=ip, data={"changes": changes})
    risk_rules_changed()
    return rule


@transaction.atomic
def rules_delete(*, rules, actor, ip: str | None = None) -> int:
    """Delete rules, one risk.rule.delete audit row each (with what the rule was)."""
    rows = list(RiskRule.objects.select_for_update().filter(pk__in=[rule.pk for rule in rules]).order_by("pk"))
    for rule in rows:
        was = {name: None if value is None else str(value) for name, value in _field_values(rule).items() if name != "id"}
        audit_record(actor=actor, action="risk.rule.delete", obj=rule, ip=ip, data={"was": was})
    RiskRule.objects.filter(pk__in=[rule.pk for rule in rows]).delete()
    risk_rules_changed()
    return len(rows)


def _rules_set_active(*, rules, active: bool, action: str, actor, ip) -> int:
    rows = list(RiskRule.objects.select_for_update().filter(pk__in=[rule.pk for rule in rules]).exclude(active=active).order_by("pk"))
    for rule in rows:
        rule.active = active
        rule.save(update_fields=["active", "updated_at"])
        audit_record(actor=actor, action=action, obj=rule, ip=ip)
    risk_rules_changed()
    return len(rows)


@transaction.atomic
def rules_activate(*, rules, actor, ip: str | None = None) -> int:
    """Turn rules on (risk.rule.activate per rule that was off). Returns how many changed."""
    return _rules_set_active(rules=rules, active=True, action="risk.rule.activate", actor=actor, ip=ip)


@transaction.atomic
def rules_deactivate(*, rules, actor, ip: str | None = None) -> int:
    """Turn rules off (risk.rule.deactivate per rule that was on). Returns how many changed."""
    return _rules_set_active(rules=rules, active=False, action="risk.rule.deactivate", actor=actor, ip=ip)


@transaction.atomic
def list_save(*, risk_list: RiskList, actor, ip: str | None = None) -> RiskList:
    """Create or change a list's name, type or kind, audited as risk.list.create / risk.list.change."""
    before = _stored(risk_list)
    risk_list.full_clean()
    changes = _changes(before, risk_list)
    risk_list.save()
    action = "risk.list.create" if before is None else "risk.list.change"
    audit_record(actor=actor, action=action, obj=risk_list, ip=ip, data={"changes": changes})
    risk_rules_changed()
    return risk_list


@transaction.atomic
def lists_delete(*, risk_lists, actor, ip: str | None = None) -> int:
    """Delete lists with their entries (risk.list.delete each). A list a rule uses is protected (ProtectedError)."""
    rows = list(RiskList.objects.select_for_update().filter(pk__in=[item.pk for item in risk_lists]).order_by("pk"))
    for risk_list in rows:
        data = {"name": risk_list.name, "type": risk_list.list_type, "dimension": risk_list.dimension, "entries": risk_list.entries.count()}
        audit_record(actor=actor, action="risk.list.delete", obj=risk_list, ip=ip, data=data)
    RiskList.objects.filter(pk__in=[item.pk for item in rows]).delete()
    risk_rules_changed()
    return len(rows)


@transaction.atomic
def list_entry_save(*, entry: RiskListEntry, actor, ip: str | None = None) -> RiskListEntry:
    """Add an entry (risk.list.add) or change one (risk.list.entry_change); the value is normalized and checked."""
    before = _stored(entry)
    if entry.created_by_id is None and getattr(actor, "is_authenticated", False):
        entry.created_by = actor
    entry.full_clean()
    changes = _changes(before, entry)
    entry.save()
    data = {"list": entry.risk_list.name, "dimension": entry.risk_list.dimension, "changes": changes}
    audit_record(actor=actor, action="risk.list.add" if before is None else "risk.list.entry_change", obj=entry, ip=ip, data=data)
    risk_rules_changed()
    return entry


@transaction.atomic
def list_entries_remove(*, entries, actor, ip: str | None = None) -> int:
    """Take values off their lists (risk.list.remove each)."""
    rows = list(
        RiskListEntry.objects.select_for_update(of=("self",))
        .select_related("risk_list")
        .filter(pk__in=[entry.pk for entry in entries])
        .order_by("pk")
    )
    for entry in rows:
        audit_record(actor=actor, action="risk.list.remove", obj=entry, ip=ip, data={"list": entry.risk_list.name, "value": entry.value})
    RiskListEntry.objects.filter(pk__in=[entry.pk for entry in rows]).delete()
    risk_rules_changed()
    return len(rows)


@transaction.atomic
def settings_update(*, values: RiskSettings, actor, ip: str | None = None) -> RiskSettings:
    """Store the risk settings (the one row, pk=1) from `values`, validated, audited as risk.settings.change."""
    values.pk = 1
    before = _stored(values)
    values.full_clean()
    changes = _changes(before, values)
    values.save()
    audit_record(actor=actor, action="risk.settings.change", obj=values, ip=ip, data={"changes": changes})
    risk_rules_changed()
    return values
