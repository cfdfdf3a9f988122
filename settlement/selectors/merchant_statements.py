"""Reads of merchant statements for finance, the merchant console and the dashboard."""

from django.db.models import QuerySet

from redemption import selectors as redemption_selectors
from settlement.models import MerchantStatement


def clerk_sees_statements(user) -> bool:
    """Merchant statements are for clerks who work for the whole merchant, not only at some of its stores."""
    clerk = redemption_selectors.clerk_for(user)
    return clerk is not None and redemption_selectors.clerk_store_ids(clerk) is None


def merchant_statements_for(merchant) -> QuerySet:
    return MerchantStatement.objects.filter(merchant=merchant).select_related("merchant").order_by("-period_start", "-id")


def merchant_statement_lines(statement: MerchantStatement) -> QuerySet:
    return statement.lines.select_related("store", "sku").order_by("store__name", "store_id", "sku__code")
