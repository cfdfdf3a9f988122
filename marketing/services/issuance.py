"""Targeted issuance (定向发放): prepare a list, preview it, confirm, issue in a background job, notify by SMS.

The life of an issuance: PREVIEW (recipients written, bad rows reported; the operator confirms or cancels)
-> QUEUED -> RUNNING (the job, with a heartbeat) -> DONE; FAILED when the job gave up.

Rules:
* `issuance_prepare` writes the issuance and all its good recipients in one transaction, or nothing (an
  unusable file, a bad choice: a CampaignError naming the field). Bad rows are kept in `params` for the
  preview, with their row numbers and reasons; confirming issues to the good rows only.
* `issuance_run` issues in batches of MARKETING_ISSUANCE_BATCH recipients, each batch one transaction that
  also moves the issuance's done / failed counters, so a worker that dies leaves a consistent row: its
  recipients still PENDING are the remainder, and the next attempt (the sweeper's requeue, or a redelivered
  task taking over the stale heartbeat) goes on from them. Nobody gets two gifts.
* Coupons: one coupon of the campaign per recipient (`coupons.coupons_issue`, which keeps the campaign's
  coupon total under its row lock), never more than the budget could honour (`_coupon_budget_check`); the
  consumer is created by phone when new. Free codes: the campaign's
  budget is taken for the code's list price on the campaign's storefront (`campaigns.campaign_budget_take`) and settlement is asked,
  after the batch commits, to place a zero-price order (`signals.free_codes_wanted`); it answers with
  `recipient_order_set`. A paused or ended campaign stops the run (FAILED, retryable; the rest PENDING).
  Either way, the budget stops the run exactly: the recipient it refuses and every
  one after it are FAILED "budget used up".
* After each batch, each issued recipient gets an SMS (redemption.notify.message_send) with the link to
  `/me/`; a failed notification is recorded on the recipient and retried by `issuance_notices_retry`.
"""

import logging
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from marketing import signals
from marketing.errors import BudgetExhausted, CampaignError, CampaignNotLive, SoldOut
from marketing.models import Campaign, CampaignUse, Consumer, Issuance, IssuanceRecipient
from marketing.services import issuance_lists as lists
from voucherhub.core.audit import audit_record
from voucherhub.core.errors import DomainError
from voucherhub.core.jobs import JobHeartbeat, JobLost, JobNotRetryable, job_claim, job_take_over

logger = logging.getLogger(__name__)

Status = Issuance.Status
RStatus = IssuanceRecipient.Status
BUDGET_USED_UP = "budget used up"
COUPON_KINDS = (Campaign.Kind.TARGETED, Campaign.Kind.COUPON)


def batch_size() -> int:
    return int(getattr(settings, "MARKETING_ISSUANCE_BATCH", 200))


def notify_max_attempts() -> int:
    return int(getattr(settings, "MARKETING_ISSUANCE_NOTIFY_ATTEMPTS", 5))


# --- Preparing, previewing, confirming ------------------------------------------------------------------


def _campaign_check(campaign: Campaign, gift: str) -> None:
    if gift not in Issuance.Gift.values:
        raise CampaignError(_("Choose what to give."), field="gift")
    if campaign.status == Campaign.Status.ENDED or campaign.ends_at <= timezone.now():
        raise CampaignError(_("This campaign has ended."), field="campaign")
    if gift == Issuance.Gift.COUPON and campaign.kind not in COUPON_KINDS:
        raise CampaignError(_("Coupons come from a targeted-issuance or coupon campaign."), field="campaign")
    if gift == Issuance.Gift.COUPON and not campaign.discount_kind:
        raise CampaignError(_("This campaign has no coupon discount set."), field="campaign")
    if gift == Issuance.Gift.FREE_CODE and campaign.sku_id is None:
        raise CampaignError(_("Free codes need a campaign with a SKU."), field="campaign")
    if gift == Issuance.Gift.FREE_CODE and _listed(campaign) is None:
        raise CampaignError(_("Free codes are given from the campaign's storefront, where its SKU must be on sale."), field="campaign")


def _listed(campaign: Campaign):
    """The campaign's SKU as its storefront lists it (the free code's list price), or None."""
    from channels.models import StorefrontItem

    if campaign.storefront_id is None or campaign.sku_id is None:
        return None
    return StorefrontItem.objects.filter(storefront_id=campaign.storefront_id, sku_id=campaign.sku_id, listed=True).first()


def _file_bytes(file) -> bytes:
    if file is None:
        raise CampaignError(_("Choose a file."), field="file")
    if isinstance(file, bytes):
        return file
    if getattr(file, "size", 0) and file.size > lists.max_bytes():
        raise lists.file_rejected(_("The file is larger than %(mb)s MB: split it.") % {"mb": lists.max_bytes() // (1024 * 1024)})
    return file.read(lists.max_bytes() + 1)


def _recipients_read(*, source: str, file, distributor_ids, segment) -> tuple[lists.RecipientList, dict]:
    if source == Issuance.Source.FILE:
        return lists.recipients_from_file(_file_bytes(file), filename=getattr(file, "name", "") or ""), {}
    if source == Issuance.Source.DISTRIBUTORS:
        return lists.recipients_of_distributors(distributor_ids), {"distributor_ids": sorted({int(pk) for pk in distributor_ids})}
    if source == Issuance.Source.SEGMENT:
        return lists.recipients_of_segment(segment or {}), {"segment": dict(segment or {})}
    raise CampaignError(_("Choose who receives it."), field="source")


@transaction.atomic
def issuance_prepare(*, campaign: Campaign, source: str, gift: str, file=None, distributor_ids=(), segment=None, actor) -> Issuance:
    """A new issuance in PREVIEW with its good recipients written and its bad rows reported (in `params`),
    or nothing at all: a CampaignError naming the field (campaign, gift, source, file, distributors, segment,
    sku, category, days)."""
    _campaign_check(campaign, gift)
    found, params = _recipients_read(source=source, file=file, distributor_ids=distributor_ids, segment=segment)
    params.update(
        bad_rows=found.bad_rows,
        bad_count=found.bad_count,
        language=translation.get_language() or settings.LANGUAGE_CODE,
    )
    issuance = Issuance.objects.create(
        campaign=campaign,
        source=source,
        gift=gift,
        params=params,
        file_name=(getattr(file, "name", "") or "")[:200] if source == Issuance.Source.FILE else "",
        total=len(found.recipients),
        created_by=actor,
    )
    _recipients_insert(issuance, found.recipients)
    audit_record(
        actor=actor,
        action="marketing.issuance.prepare",
        obj=issuance,
        data={"campaign": campaign.pk, "source": source, "gift": gift, "recipients": issuance.total, "bad_rows": found.bad_count},
    )
    return issuance


def _recipients_insert(issuance: Issuance, recipients: list[lists.Recipient]) -> None:
    """Write the recipients, PENDING. On PostgreSQL one INSERT ... SELECT unnest(...) per 20,000 rows: 100,000
    numbers in about 3 s where bulk_create took about 20 s (building and quoting 100,000 model instances),
    measured on the shared 2-core test machine; elsewhere (SQLite in development) bulk_create."""
    if connection.vendor != "postgresql":
        rows = (IssuanceRecipient(issuance=issuance, phone=r.phone, distributor_id=r.distributor_id) for r in recipients)
        IssuanceRecipient.objects.bulk_create(rows, batch_size=2000)
        return
    table = IssuanceRecipient._meta.db_table
    sql = (
        f"INSERT INTO {table} (issuance_id, phone, distributor_id, status, order_ref, notify_attempts, notify_error, error) "
        "SELECT %s, phone, distributor_id, %s, '', 0, '', '' FROM unnest(%s::varchar[], %s::bigint[]) AS r(phone, distributor_id)"
    )
    with connection.cursor() as cursor:
        for start in range(0, len(recipients), 20_000):
            chunk = recipients[start : start + 20_000]
            cursor.execute(sql, [issuance.pk, RStatus.PENDING, [r.phone for r in chunk], [r.distributor_id for r in chunk]])


@dataclass(frozen=True)
class Preview:
    count: int
    sample: list[str]  # masked phones
    bad_rows: list[dict]
    bad_count: int
    budget_left: Decimal | int | None  # money or count the campaign's budget still allows; None: no budget
    coupons_left: int | None  # coupons the campaign may still hand out; None: no cap


def issuance_preview(issuance: Issuance, *, sample_size: int = 10) -> Preview:
    """What confirming would do: how many recipients, a masked sample, the bad rows and the budget left."""
    campaign = issuance.campaign
    phones = issuance.recipients.order_by("pk").values_list("phone", flat=True)[:sample_size]
    budget_left = None
    if campaign.budget_kind == Campaign.BudgetKind.MONEY and campaign.budget_amount is not None:
        budget_left = campaign.budget_amount - campaign.spent_amount
    elif campaign.budget_kind == Campaign.BudgetKind.COUNT and campaign.budget_count is not None:
        budget_left = campaign.budget_count - campaign.spent_count
    coupons_left = None if campaign.coupons_total is None else campaign.coupons_total - campaign.coupons_issued
    return Preview(
        count=issuance.total,
        sample=[lists.phone_masked(p) for p in phones],
        bad_rows=list(issuance.params.get("bad_rows", [])),
        bad_count=int(issuance.params.get("bad_count", 0)),
        budget_left=budget_left,
        coupons_left=coupons_left,
    )


def _locked(issuance: Issuance) -> Issuance:
    return Issuance.objects.select_for_update().select_related("campaign").get(pk=issuance.pk)


def _enqueue(issuance_id: int) -> None:
    from django_q.tasks import async_task

    async_task("marketing.tasks_issuance.issuance_run_task", issuance_id)


@transaction.atomic
def issuance_confirm(*, issuance: Issuance, actor) -> Issuance:
    """PREVIEW -> QUEUED: the job is queued once this commits. Only a preview with recipients."""
    issuance = _locked(issuance)
    if issuance.status != Status.PREVIEW:
        raise CampaignError(_("This issuance was already confirmed."), field="issuance")
    if not issuance.total:
        raise CampaignError(_("Nobody on the list can receive it: fix the file and upload it again."), field="issuance")
    _campaign_check(issuance.campaign, issuance.gift)
    issuance.status = Status.QUEUED
    issuance.save(update_fields=["status"])
    audit_record(actor=actor, action="marketing.issuance.confirm", obj=issuance, data={"recipients": issuance.total})
    transaction.on_commit(lambda: _enqueue(issuance.pk))
    return issuance


@transaction.atomic
def issuance_cancel(*, issuance: Issuance, actor) -> None:
    """Drop a preview (to upload a fixed file): the issuance and its recipients are deleted, audited."""
    issuance = _locked(issuance)
    if issuance.status != Status.PREVIEW:
        raise CampaignError(_("Only an issuance awaiting confirmation can be dropped."), field="issuance")
    audit_record(actor=actor, action="marketing.issuance.cancel", obj=f"issuance #{issuance.pk}", data={"recipients": issuance.total})
    issuance.delete()


# --- The job ------------------------------------------------------------------------------------------


def issuance_run(*, issuance_id: int) -> Issuance:
    """Issue to every PENDING recipient, batch by batch (see the module's rules). Safe to run twice: a job
    that is done, or held by a live worker, is left alone; one whose worker died is taken over and goes on."""
    attempt = job_claim(Issuance, pk=issuance_id, frm=[Status.QUEUED], to=Status.RUNNING)
    issuance = Issuance.objects.select_related("campaign").get(pk=issuance_id)
    if attempt is None:
        return issuance
    try:
        with JobHeartbeat(Issuance, pk=issuance.pk, status=Status.RUNNING, attempt=attempt) as heartbeat:
            with translation.override(issuance.params.get("language") or settings.LANGUAGE_CODE):
                _free_codes_resend(issuance)
                while _batch_run(issuance, attempt=attempt):
                    heartbeat.check()
                mine = Issuance.objects.filter(pk=issuance.pk, status=Status.RUNNING, attempts=attempt)
                if not mine.update(status=Status.DONE, finished_at=timezone.now()):
                    raise JobLost
    except JobLost:
        logger.warning("issuance %s: attempt %s lost the job to another; stopped", issuance_id, attempt)
    except Exception as exc:
        logger.exception("issuance %s failed", issuance_id)
        Issuance.objects.filter(pk=issuance_id, status=Status.RUNNING, attempts=attempt).update(
            status=Status.FAILED, error=str(exc)[:300], finished_at=timezone.now()
        )
    issuance.refresh_from_db()
    return issuance


def _batch_run(issuance: Issuance, *, attempt: int) -> bool:
    """One batch in one transaction; then its SMS. False when no PENDING recipient is left."""
    with transaction.atomic():
        mine = Issuance.objects.filter(pk=issuance.pk, status=Status.RUNNING, attempts=attempt)
        if not mine.select_for_update().exists():
            raise JobLost
        campaign = Campaign.objects.get(pk=issuance.campaign_id)
        todo = issuance.recipients.filter(status=RStatus.PENDING).select_related("issuance__campaign").order_by("pk")
        batch = list(todo[: batch_size()])
        if not batch:
            return False
        issued, failed, budget_out = _batch_issue(issuance, campaign, batch)
        if budget_out:
            failed += issuance.recipients.filter(status=RStatus.PENDING).update(status=RStatus.FAILED, error=BUDGET_USED_UP)
        mine.update(done=F("done") + len(issued), failed=F("failed") + failed)
    _notify(issued)
    return not budget_out


def _batch_issue(issuance: Issuance, campaign: Campaign, batch: list[IssuanceRecipient]):
    """Issue to each recipient of the batch (in the caller's transaction). Returns (issued, failed count,
    whether the budget ran out)."""
    issued: list[IssuanceRecipient] = []
    failed = 0
    for recipient in batch:
        try:
            with transaction.atomic():
                _issue_one(issuance, campaign, recipient)
        except CampaignNotLive:
            raise  # paused or ended: the run stops (FAILED, retryable), its batch rolled back, the rest PENDING
        except (BudgetExhausted, SoldOut):
            recipient.status, recipient.error = RStatus.FAILED, BUDGET_USED_UP
            recipient.save(update_fields=["status", "error"])
            return issued, failed + 1, True
        except DomainError as exc:
            recipient.status, recipient.error = RStatus.FAILED, str(exc.message)[:300]
            recipient.save(update_fields=["status", "error"])
            failed += 1
            continue
        issued.append(recipient)
    return issued, failed, False


def _issue_one(issuance: Issuance, campaign: Campaign, recipient: IssuanceRecipient) -> None:
    if issuance.gift == Issuance.Gift.COUPON:
        from marketing.services.coupons import coupons_issue

        _coupon_budget_check(campaign)
        consumer, _created = Consumer.objects.get_or_create(phone=recipient.phone)
        coupons_issue(campaign=campaign, count=1, consumer=consumer, issuance=issuance)
    else:
        from marketing.services.campaigns import campaign_budget_take

        Consumer.objects.get_or_create(phone=recipient.phone)  # their /me/ page shows the order
        campaign_budget_take(campaign=campaign, amount=_free_code_value(campaign), count=1)
        transaction.on_commit(lambda: _free_code_ask(campaign, recipient))
    recipient.status = RStatus.ISSUED
    recipient.error = ""
    recipient.save(update_fields=["status", "error"])


def _coupon_budget_check(campaign: Campaign) -> None:
    """A coupon handed out is a promise: no more coupons than the campaign's budget could honour, counting
    every coupon it has handed out (a count budget: one use each; a money budget: the fixed amount, or the
    cap of a percentage). Takes the campaign's row lock (coupons_issue takes it again). BudgetExhausted."""
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    after = locked.coupons_issued + 1
    if locked.budget_kind == Campaign.BudgetKind.COUNT and locked.budget_count is not None and after > locked.budget_count:
        raise BudgetExhausted(field="campaign")
    if locked.budget_kind == Campaign.BudgetKind.MONEY and locked.budget_amount is not None:
        each = locked.discount_amount if locked.discount_kind == Campaign.DiscountKind.FIXED else locked.discount_cap
        if each is not None and after * each > locked.budget_amount:
            raise BudgetExhausted(field="campaign")


def _free_code_value(campaign: Campaign) -> Decimal:
    """What one free code costs the campaign's budget: its list price on the campaign's storefront, which
    settlement books to marketing expense (settlement/services/giveaways.py)."""
    item = _listed(campaign)
    if item is None:
        raise CampaignError(_("Free codes are given from the campaign's storefront, where its SKU must be on sale."), field="campaign")
    return item.retail_price


def _free_code_ask(campaign: Campaign, recipient: IssuanceRecipient) -> None:
    """Ask settlement for the zero-price order (after commit); a listener's failure is the recipient's failure."""
    answers = signals.free_codes_wanted.send_robust(
        sender=Issuance,
        campaign_id=campaign.pk,
        issuance_recipient_id=recipient.pk,
        sku_id=campaign.sku_id,
        quantity=1,
        phone=recipient.phone,
        distributor_id=recipient.distributor_id,
    )
    for _receiver, answer in answers:
        if isinstance(answer, Exception):
            logger.error("issuance recipient %s: free code not placed: %r", recipient.pk, answer)
            recipient_order_set(recipient_id=recipient.pk, error=str(getattr(answer, "message", answer))[:300])


def _free_codes_resend(issuance: Issuance) -> None:
    """A worker that died between a batch's commit and settlement's answer left free-code recipients ISSUED
    without an order: ask again (settlement's giveaway is idempotent per recipient)."""
    if issuance.gift != Issuance.Gift.FREE_CODE:
        return
    waiting = issuance.recipients.filter(status=RStatus.ISSUED, order_ref="").order_by("pk")
    for recipient in waiting.iterator(chunk_size=500):
        _free_code_ask(issuance.campaign, recipient)


@transaction.atomic
def recipient_order_set(*, recipient_id: int, order_ref: str = "", error: str = "") -> None:
    """Settlement's answer to free_codes_wanted: the zero-price order placed (`order_ref`), or why not
    (`error`: the recipient FAILED, the campaign's budget given back, the counters moved). Idempotent."""
    recipient = IssuanceRecipient.objects.select_for_update().select_related("issuance__campaign").get(pk=recipient_id)
    if recipient.status != RStatus.ISSUED or recipient.order_ref:
        return
    if order_ref:
        recipient.order_ref = order_ref[:32]
        recipient.save(update_fields=["order_ref"])
        _giveaway_use(recipient)
        return
    from marketing.services.campaigns import campaign_budget_give_back

    campaign = recipient.issuance.campaign
    campaign_budget_give_back(campaign=campaign, amount=_free_code_value(campaign), count=1)
    recipient.status, recipient.error = RStatus.FAILED, (error or _("the code could not be given"))[:300]
    recipient.save(update_fields=["status", "error"])
    Issuance.objects.filter(pk=recipient.issuance_id).update(done=F("done") - 1, failed=F("failed") + 1)


def _giveaway_use(recipient: IssuanceRecipient) -> None:
    """The free code's order on the campaign's results: its list price all discount, nothing paid."""
    campaign = recipient.issuance.campaign
    value = _free_code_value(campaign)
    CampaignUse.objects.get_or_create(
        campaign=campaign,
        order_ref=recipient.order_ref,
        defaults={
            "consumer": Consumer.objects.filter(phone=recipient.phone).first(),
            "channel": "storefront",  # settlement's Order.Channel.STOREFRONT: the giveaway's order
            "distributor_id": campaign.storefront.distributor_id if campaign.storefront_id else None,
            "list_amount": value,
            "discount": value,
            "paid_amount": 0,
            "status": CampaignUse.Status.PAID,
            "paid_at": timezone.now(),
        },
    )


# --- Notifications ------------------------------------------------------------------------------------


def _message(recipient: IssuanceRecipient, campaign: Campaign) -> tuple[str, str]:
    from redemption.conf import site_url

    link = f"{site_url()}/me/"
    if recipient.issuance.gift == Issuance.Gift.COUPON:
        text = _("%(campaign)s: a coupon is waiting for you. Sign in with this number to use it: %(link)s")
    else:
        text = _("%(campaign)s: a free voucher is on its way to you. Sign in with this number to see it: %(link)s")
    return "[VoucherHub]", text % {"campaign": campaign.name, "link": link}


def _notify(recipients: list[IssuanceRecipient]) -> int:
    """One SMS to each recipient (outside any transaction). A failure is recorded for the retry job."""
    from redemption.notify import message_send

    sent = 0
    for recipient in recipients:
        campaign = recipient.issuance.campaign
        subject, text = _message(recipient, campaign)
        try:
            message_send(kind="phone", to=recipient.phone, subject=subject, text=text)
        except Exception as exc:  # any adapter's failure: recorded, retried later
            logger.warning("issuance recipient %s: SMS failed: %s", recipient.pk, type(exc).__name__)
            IssuanceRecipient.objects.filter(pk=recipient.pk).update(
                notify_attempts=F("notify_attempts") + 1, notify_error=f"{type(exc).__name__}: {exc}"[:200]
            )
            continue
        IssuanceRecipient.objects.filter(pk=recipient.pk).update(
            notified_at=timezone.now(), notify_attempts=F("notify_attempts") + 1, notify_error=""
        )
        sent += 1
    return sent


def issuance_notices_retry(*, limit: int = 1000) -> int:
    """The job: SMS again to issued recipients whose notification failed, up to MARKETING_ISSUANCE_NOTIFY_ATTEMPTS
    attempts each (of issuances no longer running). Returns how many were sent."""
    due = (
        IssuanceRecipient.objects.filter(
            status=RStatus.ISSUED, notified_at__isnull=True, notify_attempts__gte=1, notify_attempts__lt=notify_max_attempts()
        )
        .exclude(issuance__status__in=[Status.QUEUED, Status.RUNNING])
        .select_related("issuance__campaign")
        .order_by("pk")[:limit]
    )
    sent = 0
    for recipient in due:
        with translation.override(recipient.issuance.params.get("language") or settings.LANGUAGE_CODE):
            sent += _notify([recipient])
    return sent


# --- The sweeper's services (voucherhub/core/jobs.py) and the retry ----------------------------------------


def issuance_requeue(issuance: Issuance) -> bool:
    """A running issuance whose worker died goes back to the queue; its next attempt goes on from PENDING."""
    if not job_take_over(Issuance, issuance, status=Status.QUEUED):
        return False
    transaction.on_commit(lambda: _enqueue(issuance.pk))
    return True


def issuance_give_up(issuance: Issuance) -> bool:
    """A running issuance whose worker died on its last attempt fails; ops may retry it (the rest is issued)."""
    return job_take_over(Issuance, issuance, status=Status.FAILED, error=_("the worker stopped"), finished_at=timezone.now())


@transaction.atomic
def issuance_retry(*, issuance: Issuance, actor) -> Issuance:
    """Queue a failed issuance again: it goes on with the recipients still PENDING."""
    updated = Issuance.objects.filter(pk=issuance.pk, status=Status.FAILED).update(
        status=Status.QUEUED, attempts=0, error="", finished_at=None
    )
    if not updated:
        raise JobNotRetryable(field="issuance")
    issuance.refresh_from_db()
    left = issuance.total - issuance.done - issuance.failed
    audit_record(actor=actor, action="marketing.issuance.retry", obj=issuance, data={"left": left})
    transaction.on_commit(lambda: _enqueue(issuance.pk))
    return issuance
