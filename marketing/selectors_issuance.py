"""Reads of targeted issuance for ops' pages: the list, one issuance's results, its failures.

Definitions (docs/marketing.md, targeted issuance):
* delivered: recipients ISSUED (a coupon in their account, or a free code's order placed).
* claimed: a coupon whose consumer has signed in since it was issued, or used it; a free code whose private
  link (redemption's holder page) has been opened.
* used: a coupon USED by an order; a free code redeemed at a merchant (catalog's code status REDEEMED).
"""

from dataclasses import dataclass

from django.db.models import Count, F, Q, QuerySet

from catalog.models import CardCode
from marketing.models import Coupon, Issuance, IssuanceRecipient
from redemption.models import HolderLink


def issuances_list(*, campaign_id: int | None = None) -> QuerySet:
    qs = Issuance.objects.select_related("campaign", "created_by").order_by("-created_at", "-pk")
    return qs.filter(campaign_id=campaign_id) if campaign_id else qs


@dataclass(frozen=True)
class IssuanceResults:
    total: int
    delivered: int
    failed: int
    pending: int
    notified: int
    notify_failed: int
    claimed: int
    used: int

    def rate(self, part: int) -> float | None:
        return part * 100 / self.delivered if self.delivered else None

    @property
    def claimed_rate(self) -> float | None:
        return self.rate(self.claimed)

    @property
    def used_rate(self) -> float | None:
        return self.rate(self.used)


def issuance_results(issuance: Issuance) -> IssuanceResults:
    """Delivered / claimed / used and the notification counts of one issuance (see the module's definitions)."""
    S = IssuanceRecipient.Status
    counts = issuance.recipients.aggregate(
        delivered=Count("pk", filter=Q(status=S.ISSUED)),
        failed=Count("pk", filter=Q(status__in=[S.FAILED, S.SKIPPED])),
        pending=Count("pk", filter=Q(status=S.PENDING)),
        notified=Count("pk", filter=Q(notified_at__isnull=False)),
        notify_failed=Count("pk", filter=Q(status=S.ISSUED, notified_at__isnull=True, notify_attempts__gte=1)),
    )
    if issuance.gift == Issuance.Gift.COUPON:
        coupons = Coupon.objects.filter(issuance=issuance)
        used = coupons.filter(status=Coupon.Status.USED).count()
        claimed = coupons.filter(Q(status=Coupon.Status.USED) | Q(consumer__last_login_at__gte=F("issued_at"))).count()
    else:
        refs = issuance.recipients.filter(status=S.ISSUED).exclude(order_ref="").values("order_ref")
        claimed = HolderLink.objects.filter(order_ref__in=refs, last_opened_at__isnull=False).values("order_ref").distinct().count()
        redeemed = CardCode.objects.filter(order_ref__in=refs, status=CardCode.Status.REDEEMED)
        used = redeemed.values("order_ref").distinct().count()
    return IssuanceResults(total=issuance.total, claimed=claimed, used=used, **counts)


def issuance_failures(issuance: Issuance, *, limit: int = 20) -> list[dict]:
    """Why recipients failed, the commonest reason first: [{"error", "count"}]."""
    failed = issuance.recipients.filter(status=IssuanceRecipient.Status.FAILED)
    return list(failed.values("error").annotate(count=Count("pk")).order_by("-count", "error")[:limit])
