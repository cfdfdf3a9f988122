"""Merchant statements: what the platform owes each merchant for the codes it redeemed, per month (the scheduled
job) or any range (finance, on demand), per store and SKU, in one currency. Built from redemption's selectors
(`merchant_payable_lines`, `merchant_redemptions`); an open statement is refreshed when generated again, a
reconciled one never changes."""

from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from redemption import selectors as redemption_selectors
from redemption.models import Merchant, Redemption
from settlement import exporting
from settlement.errors import SettlementError
from settlement.models import MerchantStatement, MerchantStatementLine
from settlement.services.statements import reconcile
from voucherhub.core.money import ZERO

MAX_DAYS = 366


@dataclass(frozen=True)
class _Totals:
    lines: list
    redemption_count: int
    reversed_count: int
    amount_used: object
    amount_owed: object


def _totals(*, merchant: Merchant, start: date, end: date, currency: str) -> _Totals:
    rows = [r for r in redemption_selectors.merchant_payable_lines(merchant=merchant, period=(start, end)) if r.currency == currency]
    return _Totals(
        lines=rows,
        redemption_count=sum(r.count for r in rows),
        reversed_count=sum(r.reversed for r in rows),
        amount_used=sum((r.amount for r in rows), ZERO),
        amount_owed=sum((r.owed for r in rows), ZERO),
    )


def _user(actor):
    return actor if getattr(actor, "is_authenticated", False) and getattr(actor, "pk", None) else None


def _fill(statement: MerchantStatement, totals: _Totals) -> MerchantStatement:
    statement.redemption_count = totals.redemption_count
    statement.reversed_count = totals.reversed_count
    statement.amount_used = totals.amount_used
    statement.amount_owed = totals.amount_owed
    statement.save()
    statement.lines.all().delete()
    MerchantStatementLine.objects.bulk_create(
        [
            MerchantStatementLine(
                statement=statement,
                store_id=r.store_id,
                sku_id=r.sku_id,
                redemption_count=r.count,
                reversed_count=r.reversed,
                amount_used=r.amount,
                amount_owed=r.owed,
            )
            for r in totals.lines
        ]
    )
    return statement


def _number(merchant: Merchant, start: date, end: date, currency: str, kind: str) -> str:
    suffix = "" if currency == settings.DEFAULT_CURRENCY else f"-{currency}"
    if kind == MerchantStatement.Kind.MONTHLY:
        return f"MS{merchant.pk:05d}-{start:%Y%m}{suffix}"
    n = MerchantStatement.objects.filter(merchant=merchant).count() + 1
    return f"MS{merchant.pk:05d}-{start:%Y%m%d}-{end:%Y%m%d}-{n}{suffix}"


def merchant_statement_generate(
    *, merchant: Merchant, start: date, end: date, currency: str | None = None, actor=None, kind: str = MerchantStatement.Kind.ON_DEMAND
) -> MerchantStatement:
    """The statement of `merchant` for the days `start`..`end` (both included). A monthly statement exists once
    per merchant, month and currency: generating it again refreshes an open one and leaves a reconciled one."""
    if end < start:
        raise SettlementError(_("The period must end after it starts."), field="end")
    if (end - start).days >= MAX_DAYS:
        raise SettlementError(_("A statement covers at most %(days)s days.") % {"days": MAX_DAYS}, field="end")
    currency = currency or settings.DEFAULT_CURRENCY
    totals = _totals(merchant=merchant, start=start, end=end, currency=currency)
    with transaction.atomic():
        if kind == MerchantStatement.Kind.MONTHLY:
            existing = (
                MerchantStatement.objects.select_for_update()
                .filter(merchant=merchant, kind=kind, period_start=start, period_end=end, currency=currency)
                .first()
            )
            if existing is not None:
                return existing if existing.status == MerchantStatement.Status.RECONCILED else _fill(existing, totals)
        for _attempt in range(3):
            try:
                with transaction.atomic():
                    statement = MerchantStatement.objects.create(
                        number=_number(merchant, start, end, currency, kind),
                        merchant=merchant,
                        kind=kind,
                        period_start=start,
                        period_end=end,
                        currency=currency,
                        generated_by=_user(actor),
                    )
                    return _fill(statement, totals)
            except IntegrityError:
                if kind == MerchantStatement.Kind.MONTHLY:  # another run made it meanwhile
                    return MerchantStatement.objects.get(
                        merchant=merchant, kind=kind, period_start=start, period_end=end, currency=currency
                    )
        raise SettlementError(_("The statement could not be numbered; try again."))


def _last_month() -> tuple[int, int]:
    today = timezone.localdate()
    return (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)


def merchant_statements_monthly(*, year: int | None = None, month: int | None = None) -> int:
    """The scheduled job (daily): last month's statement of every active merchant and of every merchant with a
    redemption in it, in each currency redeemed (at least the default one). Open statements are refreshed, so a
    reversal on the month's last day is still counted before finance reconciles. Safe to run twice."""
    if year is None or month is None:
        year, month = _last_month()
    period = redemption_selectors.Period.month(year, month)
    ids = set(Merchant.objects.filter(active=True).values_list("pk", flat=True))
    ids |= set(redemption_selectors.merchants_with_redemptions(period=period))
    n = 0
    for merchant in Merchant.objects.filter(pk__in=ids).order_by("pk"):
        lines = redemption_selectors.merchant_payable_lines(merchant=merchant, period=period)
        for currency in sorted({settings.DEFAULT_CURRENCY} | {r.currency for r in lines}):
            merchant_statement_generate(
                merchant=merchant, start=period.start, end=period.end, currency=currency, kind=MerchantStatement.Kind.MONTHLY
            )
            n += 1
    return n


def merchant_statement_reconcile(*, statement: MerchantStatement, actor, note: str = "") -> MerchantStatement:
    """Finance agrees the statement with the merchant; from now on it never changes. Again: no change."""
    return reconcile(
        statement=statement, actor=actor, note=note, action="merchant_statement.reconcile", data={"owed": str(statement.amount_owed)}
    )


# --- The statement's file -------------------------------------------------------------------------------------

REDEMPTION_COLUMNS = [
    exporting.Col("redemption", "r.id", exporting.INT, gettext_lazy("Redemption no.")),
    exporting.Col("redeemed_at", "r.created_at", exporting.TIME, gettext_lazy("Redeemed at")),
    exporting.Col("store_code", "r.store_code", exporting.TEXT, gettext_lazy("Store code")),
    exporting.Col("store", "r.store_name", exporting.TEXT, gettext_lazy("Store")),
    exporting.Col("terminal", "r.terminal_name", exporting.TEXT, gettext_lazy("Terminal")),
    exporting.Col("sku", "r.sku_code", exporting.TEXT, gettext_lazy("SKU")),
    exporting.Col("product", "r.sku_name", exporting.TEXT, gettext_lazy("Product")),
    exporting.Col("code", "r.code_hint", exporting.TEXT, gettext_lazy("Code")),  # the masked hint; the code itself is never selected
    exporting.Col("face_value_used", "r.amount", exporting.NUM, gettext_lazy("Face value used")),
    exporting.Col("balance_after", "r.balance_after", exporting.NUM, gettext_lazy("Balance after")),
    exporting.Col("owed", "r.amount_owed", exporting.NUM, gettext_lazy("Owed")),
    exporting.Col("pos_reference", "r.reference", exporting.TEXT, gettext_lazy("POS reference")),
    exporting.Col("channel", "r.channel", exporting.ENUM, gettext_lazy("Channel"), tuple(Redemption.Channel.choices)),
]


def line_headers() -> list[str]:
    return [_("Store code"), _("Store"), _("SKU"), _("Product"), _("Redemptions"), _("Reversed"), _("Face value used"), _("Owed")]


def redemptions_sheet(statement: MerchantStatement) -> exporting.Sheet:
    """The statement's redemptions, one row each (completed ones, as counted), streamed by the export path.
    The rows are redemption's `merchant_redemptions` selector, rendered as a subquery."""
    queryset = (
        redemption_selectors.merchant_redemptions(merchant=statement.merchant, period=(statement.period_start, statement.period_end))
        .filter(sku__currency=statement.currency)
        .order_by()
        .values(
            "id",
            "created_at",
            "amount",
            "balance_after",
            "amount_owed",
            "reference",
            "channel",
            store_code=F("store__code"),
            store_name=F("store__name"),
            terminal_name=F("terminal__name"),
            sku_code=F("sku__code"),
            sku_name=F("sku__name"),
            code_hint=F("code__hint"),
        )
    )
    sql, params = queryset.query.sql_with_params()
    return exporting.Sheet(
        columns=REDEMPTION_COLUMNS, body=f"FROM ({sql}) r", params=list(params), order_by="r.created_at, r.id", title="redemptions"
    )


def statement_sheets(statement: MerchantStatement):
    """(the redemptions sheet, [summary, lines]) for exporting.write_xlsx."""
    meta = MerchantStatement._meta
    summary = [
        (_("Statement"), statement.number),
        (_("Merchant"), statement.merchant.name),
        (pgettext("start of a period", "From"), statement.period_start),
        (_("Until (inclusive)"), statement.period_end),
        (_("Currency"), statement.currency),
        (_("Status"), statement.get_status_display()),
    ] + [
        (meta.get_field(name).verbose_name, getattr(statement, name))
        for name in ("redemption_count", "reversed_count", "amount_used", "amount_owed")
    ]
    lines = [line_headers()] + [
        [
            line.store.code,
            line.store.name,
            line.sku.code,
            line.sku.name,
            line.redemption_count,
            line.reversed_count,
            line.amount_used,
            line.amount_owed,
        ]
        for line in statement.lines.select_related("store", "sku").order_by("store__name", "store_id", "sku__code")
    ]
    lines.append(
        ["", _("Total"), "", "", statement.redemption_count, statement.reversed_count, statement.amount_used, statement.amount_owed]
    )
    summary = [(str(label), value) for label, value in summary]
    return redemptions_sheet(statement), [(str(_("Summary")), summary), (str(_("Lines")), lines)]
