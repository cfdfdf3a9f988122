"""Expiry reminders: each active holding of an unused code with a holder contact gets one reminder per
threshold (REDEMPTION_REMINDER_DAYS, default 7 and 1 days before expiry), unless its holder opted out.

A reminder is claimed by inserting its row (unique per holding and threshold) before it is sent, so two
runs at once, or a run repeated, never send it twice. When a code is first seen already inside a nearer
threshold, only the nearest reminder is sent and the farther ones are recorded as skipped.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import formats, timezone, translation
from django.utils.translation import gettext

from catalog.models import CardCode
from redemption import conf, holdings, notify
from redemption.models import CodeBalance, CodeHolding, HolderLink, ReminderOptOut, ReminderSent

logger = logging.getLogger(__name__)


@dataclass
class ReminderRun:
    sent: int = 0
    skipped: int = 0
    failed: int = 0


def _due_holdings(*, now, horizon):
    return (
        CodeHolding.objects.filter(active=True, code__status=CardCode.Status.SOLD, code__expires_at__gt=now, code__expires_at__lte=horizon)
        .exclude(link__contact_kind=HolderLink.ContactKind.NONE)
        .exclude(link__contact="")
        .exclude(link__contact__in=ReminderOptOut.objects.values("contact"))
        .select_related("code__sku", "link")
        .order_by("pk")
    )


def _claim(*, holding: CodeHolding, threshold: int, outcome: str, now) -> bool:
    try:
        with transaction.atomic():
            ReminderSent.objects.create(
                holding=holding,
                code_id=holding.code_id,
                threshold_days=threshold,
                outcome=outcome,
                channel=holding.link.contact_kind,
                created_at=now,
            )
        return True
    except IntegrityError:
        return False


def _message(holding: CodeHolding, *, now) -> tuple[str, str, dict]:
    code = holding.code
    sku = code.sku
    expires = formats.date_format(timezone.localtime(code.expires_at), "Y-m-d H:i")
    days = max(0, (code.expires_at - now).days)
    subject = gettext("Your %(sku)s expires on %(date)s") % {"sku": sku.name, "date": expires}
    value = ""
    if sku.is_stored_value:
        remaining = CodeBalance.objects.filter(code_id=code.pk).values_list("remaining", flat=True).first()
        value = gettext("Balance left: %(balance)s.") % {"balance": remaining if remaining is not None else sku.face_value}
    unsubscribe = holdings.unsubscribe_url(holding.link)
    text = "\n".join(
        part
        for part in [
            gettext("Your code %(hint)s for %(sku)s expires in %(days)s days, on %(date)s.")
            % {"hint": code.hint, "sku": sku.name, "days": days, "date": expires},
            value,
            gettext("See where and when to use it: %(url)s") % {"url": holdings.link_url(holding.link)},
            gettext("No more reminders: %(url)s") % {"url": unsubscribe},
        ]
        if part
    )
    headers = {"List-Unsubscribe": f"<{unsubscribe}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    return subject, text, headers


def reminders_send(*, now=None, thresholds=None) -> ReminderRun:
    """Send the reminders that are due. Safe to run twice, or twice at once."""
    now = now or timezone.now()
    thresholds = sorted({int(t) for t in (thresholds or conf.reminder_days()) if int(t) > 0})
    run = ReminderRun()
    if not thresholds:
        return run
    horizon = now + timedelta(days=max(thresholds))
    candidates = list(_due_holdings(now=now, horizon=horizon))
    done = set(ReminderSent.objects.filter(holding_id__in=[h.pk for h in candidates]).values_list("holding_id", "threshold_days"))
    with translation.override(settings.LANGUAGE_CODE):
        for holding in candidates:
            left = holding.code.expires_at - now
            due = [t for t in thresholds if left <= timedelta(days=t)]
            pending = [t for t in due if (holding.pk, t) not in done]
            if not pending:
                continue
            nearest = min(due)
            for threshold in sorted(pending, reverse=True):
                if threshold != nearest:
                    if _claim(holding=holding, threshold=threshold, outcome=ReminderSent.Outcome.SKIPPED, now=now):
                        run.skipped += 1
                    continue
                if not _claim(holding=holding, threshold=threshold, outcome=ReminderSent.Outcome.SENT, now=now):
                    continue  # another run took it
                subject, text, headers = _message(holding, now=now)
                try:
                    notify.message_send(
                        kind=holding.link.contact_kind, to=holding.link.contact, subject=subject, text=text, headers=headers
                    )
                except Exception:  # the adapter failed: free the claim so the next run tries again
                    logger.exception("expiry reminder for holding %s failed", holding.pk)
                    ReminderSent.objects.filter(holding=holding, threshold_days=threshold).delete()
                    run.failed += 1
                else:
                    run.sent += 1
    return run
