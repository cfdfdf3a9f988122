"""Reads of ops' supply pages beyond the engine's (supply/selectors.py): periods, statements, replenishments."""

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from supply.models import Replenishment, StatementDifference, StatementImport, SupplyAlert

# The periods the supply page shows (its ?period=).
PERIODS = {
    "1h": (timedelta(hours=1), _("Last hour")),
    "24h": (timedelta(days=1), _("Last 24 hours")),
    "7d": (timedelta(days=7), _("Last 7 days")),
}
DEFAULT_PERIOD = "24h"


@dataclass(frozen=True)
class Period:
    key: str
    label: str
    since: object


def period_of(key: str | None, *, now=None) -> Period:
    key = key if key in PERIODS else DEFAULT_PERIOD
    span, label = PERIODS[key]
    return Period(key=key, label=str(label), since=(now or timezone.now()) - span)


def alerts_list(*, open_only: bool) -> QuerySet[SupplyAlert]:
    alerts = SupplyAlert.objects.select_related("upstream__supplier", "acknowledged_by").order_by("-created_at", "-pk")
    return alerts.filter(acknowledged_at__isnull=True) if open_only else alerts


def statements_recent() -> QuerySet[StatementImport]:
    return (
        StatementImport.objects.select_related("upstream__supplier", "created_by")
        .annotate(
            open_count=Count("differences", filter=Q(differences__resolved_at__isnull=True)),
            costly_count=Count(
                "differences", filter=Q(differences__resolved_at__isnull=True, differences__kind=StatementDifference.Kind.SUCCESS_REFUNDED)
            ),
        )
        .order_by("-pk")
    )


def statement_differences(*, statement: StatementImport, open_only: bool) -> QuerySet[StatementDifference]:
    found = statement.differences.select_related("topup", "attempt", "resolved_by").order_by("rank", "pk")
    return found.filter(resolved_at__isnull=True) if open_only else found


def replenishments_recent() -> QuerySet[Replenishment]:
    return Replenishment.objects.select_related("sku", "product__upstream__supplier", "import_job").order_by("-pk")


def replenishments_running_count() -> int:
    return Replenishment.objects.filter(status__in=Replenishment.RUNNING).count()
