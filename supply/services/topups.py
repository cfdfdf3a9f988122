"""The top-up state machine: request, submit, query, failover, exhaustion, the hold queue.

    PENDING --submit A1--> SUBMITTED --"processing"--> PROCESSING --success--> SUCCESS  (final)
                              |                          ^      --partial--> PARTIAL  (final)
          timeout, 5xx, "exists"                         |
                              v                          |
                           UNKNOWN --query with backoff--+  (or straight to a final answer)

        confirmed failure of An (failed, no balance, not found after the submit window):
            next product of the chain with tries left -> SUBMITTED (A<n+1>)   [after SUPPLY_FAILOVER_DELAY_SECONDS;
                                                                              at once after "no balance"]
            chain exhausted -> FAILED (policy REFUND, final)  or  ON_HOLD (policy HOLD)
        ON_HOLD --ops resubmit to an upstream--> SUBMITTED;  ON_HOLD --ops refund--> FAILED

Rules that keep a buyer from being topped up twice:
- one attempt at a time per top-up, each under its own number `<reference>-A<n>`;
- an attempt whose fate we do not know (timeout, unreadable answer, "number exists", "not found" inside the
  submit window) is queried, with backoff, until the supplier says something final; only a confirmed
  failure lets the next attempt start;
- a final attempt never moves again: duplicate and out-of-order callbacks change nothing, and a supplier
  that reports success for an attempt we counted as failed raises a RECONCILIATION alert instead;
- every transition locks the Topup row (then the attempt), re-reads it and writes a TopupEvent; supplier
  calls happen outside any transaction (lock, decide, commit, call, lock again, record).

Settlement hears of every final state through supply.signals.topup_finished (sent on commit).
"""

import logging
import time
from collections import Counter
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import Sku
from supply import conf
from supply.adapters.base import Answer, Outcome, SubmitRequest, adapter_for
from supply.errors import NoUpstream, TopupStateConflict
from supply.models import SupplyAlert, Topup, TopupAttempt, TopupEvent, TopupProfile, Upstream, UpstreamProduct
from supply.services.accounts import topup_account_check
from supply.services.outcomes import Verdict, verdict_of
from supply.services.upstreams import alert_raise, upstream_rate_check
from supply.signals import topup_finished
from voucherhub.core.audit import audit_record

Status = Topup.Status
Source = TopupEvent.Source
PENDING_SAFETY_NET_SECONDS = 60
ANNOUNCE_GRACE = timedelta(seconds=60)  # the on-commit announcement normally lands well within this
logger = logging.getLogger("supply")


# --- small helpers ----------------------------------------------------------------------------------------


def _topup_move(topup: Topup, to: str, *, source: str, attempt=None, actor=None, note: str = "") -> None:
    """Change a locked top-up's status (the caller saves it) and write the event."""
    if to not in Topup.TRANSITIONS[topup.status]:
        raise TopupStateConflict(from_status=topup.status, to_status=to)
    TopupEvent.objects.create(
        topup=topup, attempt=attempt, from_status=topup.status, to_status=to, source=source, actor=actor, note=note[:300]
    )
    topup.status = to


def _finished_announce(topup: Topup) -> None:
    """Tell settlement, once the caller commits, that the top-up reached a final state. A receiver that raises
    leaves the top-up unannounced (logged), and the poller tells it again."""
    transaction.on_commit(lambda: topup_announce(topup_id=topup.pk), robust=True)


def topup_announce(*, topup_id: int) -> bool:
    """Send supply.signals.topup_finished for a final top-up and mark it announced. Receivers must take a
    repeated announcement as a no-op (settlement's does). Raises what a receiver raised, leaving it unmarked."""
    topup = Topup.objects.get(pk=topup_id)
    if topup.status not in Topup.FINAL:
        return False
    topup_finished.send(
        sender=Topup,
        reference=topup.reference,
        status=str(topup.status),
        delivered_value=topup.delivered_value,
        face_value=topup.face_value,
        cost=topup.cost,
        upstream_id=topup.upstream_id,
    )
    Topup.objects.filter(pk=topup_id, announced_at__isnull=True).update(announced_at=timezone.now())
    return True


def callback_url(upstream: Upstream) -> str:
    return conf.callback_base_url() + reverse("supply:callback", kwargs={"upstream_id": upstream.pk})


def topup_chain(*, sku: Sku) -> list[UpstreamProduct]:
    """The SKU's failover chain: its active top-up products at active upstreams, in position order."""
    return list(
        UpstreamProduct.objects.filter(sku=sku, kind=UpstreamProduct.Kind.TOPUP, active=True, upstream__status=Upstream.Status.ACTIVE)
        .select_related("upstream")
        .order_by("position", "pk")
    )


# --- request ----------------------------------------------------------------------------------------------


def _submission_schedule(topup_id: int) -> None:
    if conf.sync():
        topup_submit(topup_id=topup_id)
    else:
        from django_q.tasks import async_task

        async_task("supply.tasks.topup_submit_task", topup_id, task_name=f"topup-submit-{topup_id}")


@transaction.atomic
def topup_request(*, reference: str, sku: Sku, account: str, region: str = "") -> Topup:
    """Record a top-up (PENDING) for an order and submit it once the caller's transaction commits.

    Settlement calls this inside its order transaction. Raises InvalidAccount / SupplyError naming the field."""
    account, region = topup_account_check(sku=sku, account=account, region=region)
    existing = Topup.objects.filter(reference=reference).first()
    if existing is not None:
        if (existing.sku_id, existing.account, existing.region) != (sku.pk, account, region):
            raise TopupStateConflict(_("This order number already has a different top-up."), field="reference")
        return existing
    topup = Topup.objects.create(
        reference=reference,
        sku=sku,
        account=account,
        region=region,
        face_value=sku.face_value,
        # the poller's safety net, should the queued submission be lost
        next_check_at=timezone.now() + timedelta(seconds=PENDING_SAFETY_NET_SECONDS),
    )
    # robust: trouble here must not fail the caller's committed order; the poller's safety net submits later
    transaction.on_commit(lambda: _submission_schedule(topup.pk), robust=True)
    return topup


# --- submit and failover ----------------------------------------------------------------------------------


def topup_submit(*, topup_id: int) -> None:
    """Start the next attempt of a top-up along its chain, or apply the exhaustion policy. Safe to run twice:
    it does nothing while an attempt is open or once the top-up is final or on hold."""
    attempt_id = _attempt_open_next(topup_id=topup_id)
    if attempt_id is not None:
        _attempt_send(attempt_id=attempt_id)


@transaction.atomic
def _attempt_open_next(*, topup_id: int) -> int | None:
    topup = Topup.objects.select_for_update(of=("self",)).select_related("sku").get(pk=topup_id)
    if topup.status not in Topup.WORKING | {Status.PENDING}:
        return None
    attempts = list(topup.attempts.all())
    if any(not attempt.is_final for attempt in attempts):
        return None
    product = _chain_next(topup, attempts)
    if product is None:
        _chain_exhausted(topup)
        return None
    return _attempt_create(topup, product, source=Source.SUBMIT).pk


def _chain_next(topup: Topup, attempts: list[TopupAttempt]) -> UpstreamProduct | None:
    """The first product of the chain with retries left; an upstream that said "no balance" is skipped."""
    used = Counter(attempt.product_id for attempt in attempts)
    broke = {attempt.upstream_id for attempt in attempts if attempt.outcome == Outcome.NO_BALANCE}
    for product in topup_chain(sku=topup.sku):
        if product.upstream_id not in broke and used[product.pk] < max(product.retries, 1):
            return product
    return None


def _chain_exhausted(topup: Topup) -> None:
    try:
        hold = topup.sku.topup_profile.on_exhausted == TopupProfile.OnExhausted.HOLD
    except TopupProfile.DoesNotExist:
        hold = False
    topup.next_check_at = None
    if hold:
        _topup_move(topup, Status.ON_HOLD, source=Source.SYSTEM, note=_("Every supplier failed: held for operations."))
        topup.save(update_fields=["status", "next_check_at"])
        return
    _topup_move(topup, Status.FAILED, source=Source.SYSTEM, note=_("Every supplier failed: refunded."))
    topup.finished_at = timezone.now()
    topup.save(update_fields=["status", "next_check_at", "finished_at"])
    _finished_announce(topup)


def _attempt_create(topup: Topup, product: UpstreamProduct, *, source: str, actor=None, note: str = "") -> TopupAttempt:
    """Open attempt n+1 of a locked top-up at `product`; the poller will query it should the call be lost."""
    n = topup.attempts_count + 1
    now = timezone.now()
    upstream = product.upstream
    attempt = TopupAttempt.objects.create(
        topup=topup,
        number=f"{topup.reference}-A{n}",
        n=n,
        upstream=upstream,
        product=product,
        status=TopupAttempt.Status.SUBMITTED,
        submitted_at=now,
        next_query_at=now + timedelta(seconds=upstream.timeout_seconds) + conf.query_backoff(0),
    )
    topup.attempts_count, topup.upstream, topup.next_check_at = n, upstream, None
    _topup_move(topup, Status.SUBMITTED, source=source, attempt=attempt, actor=actor, note=note or str(upstream))
    topup.save(update_fields=["attempts_count", "upstream", "next_check_at", "status"])
    return attempt


def _attempt_send(*, attempt_id: int) -> None:
    """Place the attempt at its upstream (outside any transaction) and record the answer."""
    attempt = TopupAttempt.objects.select_related("topup", "product", "upstream").get(pk=attempt_id)
    upstream, product, topup = attempt.upstream, attempt.product, attempt.topup
    request = SubmitRequest(
        number=attempt.number,
        product_id=product.their_product_id,
        account=topup.account,
        region=topup.region,
        face_value=product.face_value,
        max_price=product.max_price,
        notify_url=callback_url(upstream),
    )
    answer = adapter_for(upstream.protocol).submit(upstream.connection(), request)
    attempt_answer_apply(attempt_id=attempt.pk, answer=answer, source=Source.SUBMIT)


# --- answers (submit, query, callback) --------------------------------------------------------------------


def attempt_answer_apply(*, attempt_id: int, answer: Answer, source: str, now: datetime | None = None) -> Verdict:
    """Record what a supplier said about an attempt (its submit answer, a query, a callback).

    A final attempt never moves again (duplicate and out-of-order news change nothing). A confirmed failure
    starts the next attempt (at once when the supplier had no balance, else after the failover delay)."""
    now = now or timezone.now()
    verdict, topup_id, failed_over = _answer_record(attempt_id, answer, source, now)
    if verdict.final:
        upstream_rate_check(upstream_id=verdict.upstream_id, now=now)
    if failed_over:
        topup_submit(topup_id=topup_id)
    return verdict


@transaction.atomic
def _answer_record(attempt_id: int, answer: Answer, source: str, now: datetime) -> tuple[Verdict, int, bool]:
    topup_id = TopupAttempt.objects.values_list("topup_id", flat=True).get(pk=attempt_id)
    topup = Topup.objects.select_for_update().get(pk=topup_id)  # the top-up first, then its attempt
    attempt = TopupAttempt.objects.select_for_update(of=("self",)).select_related("product", "upstream").get(pk=attempt_id)
    verdict = verdict_of(attempt, answer, source=source, now=now, submit_window=conf.submit_window())
    if not verdict.changed:
        _attempt_wait(attempt, answer, verdict, now)
        if verdict.contradicts:
            _contradiction_alert(attempt, answer)
        return verdict, topup.pk, False
    _attempt_fields_set(attempt, answer, verdict, now)
    if verdict.status in TopupAttempt.FINAL:
        return verdict, topup.pk, _attempt_finished(topup, attempt, source=source, now=now)
    if topup.status in Topup.WORKING and topup.status != verdict.status:
        _topup_move(topup, verdict.status, source=source, attempt=attempt, note=answer.message)
        topup.save(update_fields=["status"])
    return verdict, topup.pk, False


def _attempt_fields_set(attempt: TopupAttempt, answer: Answer, verdict: Verdict, now: datetime) -> None:
    attempt.status = verdict.status
    attempt.outcome = str(answer.outcome)
    attempt.their_number = answer.their_number or attempt.their_number
    attempt.their_status = (answer.their_status or attempt.their_status)[:80]
    attempt.message = (answer.message or attempt.message)[:300]
    if verdict.final:
        attempt.finished_at, attempt.next_query_at = now, None
        if verdict.status != TopupAttempt.Status.FAILED:
            attempt.delivered_value = verdict.delivered_value
            attempt.cost = answer.cost if answer.cost is not None else attempt.product.cost
    else:
        attempt.next_query_at = verdict.next_query_at
    attempt.save()


def _attempt_wait(attempt: TopupAttempt, answer: Answer, verdict: Verdict, now: datetime) -> None:
    """Nothing moved: a still-open attempt keeps waiting, with its next query pushed back."""
    if attempt.is_final:
        return
    attempt.outcome = str(answer.outcome)
    attempt.their_number = answer.their_number or attempt.their_number
    attempt.next_query_at = verdict.next_query_at
    attempt.save(update_fields=["outcome", "their_number", "next_query_at"])


def _contradiction_alert(attempt: TopupAttempt, answer: Answer) -> None:
    """The supplier says it topped up an attempt we counted as failed (and failed over or refunded): the costly
    difference reconciliation looks for. The attempt stays as it is (a final attempt never moves); ops decide."""
    message = _("%(upstream)s reports attempt %(number)s of top-up %(reference)s as %(outcome)s; we counted it as failed.") % {
        "upstream": attempt.upstream,
        "number": attempt.number,
        "reference": attempt.topup.reference,
        "outcome": TopupAttempt.Status(answer.outcome).label if answer.outcome in TopupAttempt.Status.values else answer.outcome,
    }
    SupplyAlert.objects.create(upstream=attempt.upstream, kind=SupplyAlert.Kind.RECONCILIATION, message=message[:300])


def _attempt_finished(topup: Topup, attempt: TopupAttempt, *, source: str, now: datetime) -> bool:
    """A locked attempt just became final: finish the top-up, or prepare the failover. True to fail over now."""
    if topup.status not in Topup.WORKING:  # cannot happen with one open attempt at a time; never move a final top-up
        return False
    if attempt.status in (TopupAttempt.Status.SUCCESS, TopupAttempt.Status.PARTIAL):
        _topup_move(topup, attempt.status, source=source, attempt=attempt, note=attempt.message)
        topup.delivered_value, topup.cost, topup.finished_at = attempt.delivered_value, attempt.cost, now
        topup.upstream, topup.next_check_at = attempt.upstream, None
        topup.save(update_fields=["status", "delivered_value", "cost", "finished_at", "upstream", "next_check_at"])
        _finished_announce(topup)
        return False
    note = _("Attempt %(number)s failed at %(upstream)s: %(message)s") % {
        "number": attempt.number,
        "upstream": attempt.upstream,
        "message": attempt.message or attempt.their_status or _("no reason given"),
    }
    _topup_move(topup, topup.status, source=source, attempt=attempt, note=note)
    no_balance = attempt.outcome == Outcome.NO_BALANCE
    if no_balance:
        alert_raise(
            upstream=attempt.upstream,
            kind=SupplyAlert.Kind.NO_BALANCE,
            message=_("The supplier refused a top-up: our balance there ran out."),
        )
    delay = conf.failover_delay()
    topup.next_check_at = now + delay
    topup.save(update_fields=["status", "next_check_at"])
    return no_balance or not delay


# --- queries and the poller -------------------------------------------------------------------------------


def attempt_query(*, attempt_id: int, now: datetime | None = None) -> Verdict | None:
    """Ask the supplier about an open attempt and record the answer; None when the attempt is already final."""
    attempt = TopupAttempt.objects.select_related("upstream").get(pk=attempt_id)
    if attempt.is_final:
        return None
    TopupAttempt.objects.filter(pk=attempt_id).update(queries=F("queries") + 1)
    upstream = attempt.upstream
    answer = adapter_for(upstream.protocol).query(upstream.connection(), attempt.number)
    return attempt_answer_apply(attempt_id=attempt_id, answer=answer, source=Source.QUERY, now=now)


@transaction.atomic
def _attempts_due(now: datetime, limit: int) -> list[int]:
    """Claim the open attempts whose next query is due (pushed back a step, so a second poller skips them)."""
    rows = list(
        TopupAttempt.objects.select_for_update(skip_locked=True)
        .filter(status__in=TopupAttempt.OPEN, next_query_at__lte=now)
        .order_by("next_query_at", "pk")
        .values_list("pk", "queries")[:limit]
    )
    for pk, queries in rows:
        TopupAttempt.objects.filter(pk=pk).update(next_query_at=now + conf.query_backoff(queries))
    return [pk for pk, _queries in rows]


@transaction.atomic
def _topups_due(now: datetime, limit: int) -> list[int]:
    """Claim the top-ups waiting for their next attempt (failover delay) or for a lost submission."""
    ids = list(
        Topup.objects.select_for_update(skip_locked=True)
        .filter(status__in=Topup.WORKING | {Status.PENDING}, next_check_at__lte=now)
        .order_by("next_check_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    Topup.objects.filter(pk__in=ids).update(next_check_at=None)
    return ids


def topups_poll(*, now: datetime | None = None, limit: int = 200) -> int:
    """The poller (every minute): query the open attempts that are due (lost callbacks, timeouts) and start
    the next attempt of top-ups whose failover delay passed, `limit` at a time until none is due or the run's
    budget (SUPPLY_POLL_BUDGET_SECONDS) is spent. One row that fails is logged and retried on a later run.
    Returns how many it handled."""
    now = now or timezone.now()
    deadline = time.monotonic() + conf.poll_budget_seconds()
    handled = 0
    while time.monotonic() < deadline:
        batch = [(attempt_query, {"attempt_id": pk, "now": now}) for pk in _attempts_due(now, limit)]
        batch += [(topup_submit, {"topup_id": pk}) for pk in _topups_due(now, limit)]
        if not batch:
            break
        for service, kwargs in batch:
            try:
                service(**kwargs)
            except Exception:  # one supplier's or row's trouble must not stall every other top-up
                logger.exception("supply poller: %s(%s) failed", service.__name__, kwargs)
            handled += 1
    _stuck_alert(now)
    return handled + _unannounced_retell(now, limit)


def _stuck_alert(now: datetime) -> int:
    """Alert ops, per upstream, of attempts with no final answer for longer than SUPPLY_STUCK_ALERT_MINUTES. They
    stay open and queried (only a confirmed failure may move a top-up on: never topped up twice); the alert is
    for a supplier that went silent. Returns how many alerts were raised."""
    silent = TopupAttempt.objects.filter(status__in=TopupAttempt.OPEN, submitted_at__lt=now - conf.stuck_after())
    stuck = Counter(silent.values_list("upstream_id", flat=True))
    raised = 0
    for upstream in Upstream.objects.filter(pk__in=stuck):
        message = _("%(count)s top-ups at %(upstream)s have had no final answer for over %(minutes)s minutes; they are still queried.")
        text = message % {"count": stuck[upstream.pk], "upstream": upstream, "minutes": int(conf.stuck_after().total_seconds() // 60)}
        raised += alert_raise(upstream=upstream, kind=SupplyAlert.Kind.STUCK, message=text) is not None
    return raised


def _unannounced_retell(now: datetime, limit: int) -> int:
    """Tell settlement again of final top-ups whose announcement failed (once per run each)."""
    ids = list(
        Topup.objects.filter(status__in=Topup.FINAL, announced_at__isnull=True, finished_at__lte=now - ANNOUNCE_GRACE)
        .order_by("finished_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    for topup_id in ids:
        try:
            topup_announce(topup_id=topup_id)
        except Exception:
            logger.exception("supply poller: announcing top-up %s failed again", topup_id)
    return len(ids)


# --- the hold queue (压单) --------------------------------------------------------------------------------


def topup_hold_resubmit(*, topup: Topup, upstream: Upstream, actor, reason: str) -> Topup:
    """Operations send a held top-up to a supplier of their choice (any status: their call)."""
    with transaction.atomic():
        locked = Topup.objects.select_for_update().get(pk=topup.pk)
        if locked.status != Status.ON_HOLD:
            raise TopupStateConflict(_("Only a held top-up can be resubmitted."))
        product = UpstreamProduct.objects.filter(upstream=upstream, sku_id=locked.sku_id, kind=UpstreamProduct.Kind.TOPUP).first()
        if product is None:
            raise NoUpstream(_("This supplier does not serve this product."), field="upstream")
        attempt = _attempt_create(locked, product, source=Source.OPS, actor=actor, note=reason)
        audit_record(
            actor=actor,
            action="supply.topup.resubmit",
            obj=locked,
            reason=reason,
            data={"upstream": upstream.pk, "attempt": attempt.number},
        )
    _attempt_send(attempt_id=attempt.pk)
    return Topup.objects.get(pk=topup.pk)


@transaction.atomic
def topup_hold_refund(*, topup: Topup, actor, reason: str) -> Topup:
    """Operations give up on a held top-up: it fails and settlement refunds the buyer."""
    locked = Topup.objects.select_for_update().get(pk=topup.pk)
    if locked.status != Status.ON_HOLD:
        raise TopupStateConflict(_("Only a held top-up can be refunded."))
    _topup_move(locked, Status.FAILED, source=Source.OPS, actor=actor, note=reason)
    locked.finished_at = timezone.now()
    locked.save(update_fields=["status", "finished_at"])
    audit_record(actor=actor, action="supply.topup.refund", obj=locked, reason=reason)
    _finished_announce(locked)
    return locked
