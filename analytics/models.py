"""Rollups: the facts of every app summed per hour or per day, so that a dashboard reads a few hundred rows
instead of aggregating millions (issue 17, docs/analytics.md).

Each table is written only by analytics/rollups/ (one module per fact), by recomputing whole buckets from the
source tables: the incremental job recomputes the buckets that changed since its watermark, `manage.py
rebuild_rollups --since` recomputes every bucket since a date; both run the same function, so their results are
equal by construction (tests/analytics/test_rollup_rebuild.py compares them).

Times: `hour` is the start of a UTC-aware hour; `day` is a date in settings.TIME_ZONE (Asia/Shanghai by
default), the day the users of the dashboards live in. The keys are plain ids (no foreign-key constraint): a
rollup never holds back the deletion of a source row, and a rebuild writes its rows in any order.
"""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from voucherhub.core.money import MoneyField


def rollup_row_label(row: models.Model) -> str:
    """A rollup row as the admin lists it: its bucket and keys, "2026-12-07 sku=3 channel=portal"."""
    keys = [field.attname for field in row._meta.fields if field.attname.endswith("_id") or field.name in ("channel", "outcome")]
    bucket = getattr(row, "hour", None) or getattr(row, "day", "")
    return " ".join([str(bucket), *(f"{key.removesuffix('_id')}={getattr(row, key)}" for key in keys if key != "id")])


class RollupRow(models.Model):
    """What every rollup table shares: the admin lists a row by its bucket and keys."""

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return rollup_row_label(self)


class SalesChannel(models.TextChoices):
    """Where a paid order came from; a storefront order priced by a marketing campaign counts as "campaign"."""

    PORTAL = "portal", _("Distributor portal")
    API = "api", _("Distributor API")
    STOREFRONT = "storefront", _("Storefront")
    CAMPAIGN = "campaign", _("Marketing campaign")


class SalesFacts(RollupRow):
    """Paid orders (status paid, delivered, partially refunded or refunded), bucketed by their payment time."""

    orders = models.PositiveIntegerField(_("orders"), default=0)
    quantity = models.PositiveIntegerField(_("quantity"), default=0)
    revenue = MoneyField(_("sales"), default=0, help_text=_("What the buyers paid (order totals)."))
    platform_revenue = MoneyField(_("platform revenue"), default=0, help_text=_("The distributors' unit price times quantity."))
    cost = MoneyField(_("cost"), default=0, help_text=_("Unit cost times quantity."))
    discount = MoneyField(_("discount"), default=0)
    refunded = MoneyField(_("refunded"), default=0)

    class Meta:
        abstract = True


class SalesHour(SalesFacts):
    """The finest grain: every other sales table is summed from this one's rows of the same local day."""

    hour = models.DateTimeField(_("hour"))
    sku_id = models.BigIntegerField(_("SKU"))
    channel = models.CharField(_("channel"), max_length=12, choices=SalesChannel.choices)
    distributor_id = models.BigIntegerField(_("distributor"))

    class Meta:
        verbose_name = _("sales per hour")
        verbose_name_plural = _("sales per hour")
        constraints = [
            models.UniqueConstraint(fields=["hour", "sku_id", "channel", "distributor_id"], name="rollup_saleshour_key"),
        ]


class SalesDay(SalesFacts):
    """Per distributor and SKU: a distributor's own and its team's dashboards (read by distributor_id)."""

    day = models.DateField(_("day"))
    sku_id = models.BigIntegerField(_("SKU"))
    channel = models.CharField(_("channel"), max_length=12, choices=SalesChannel.choices)
    distributor_id = models.BigIntegerField(_("distributor"))

    class Meta:
        verbose_name = _("sales per day")
        verbose_name_plural = _("sales per day")
        constraints = [
            models.UniqueConstraint(fields=["day", "sku_id", "channel", "distributor_id"], name="rollup_salesday_key"),
        ]
        indexes = [models.Index(fields=["distributor_id", "day"], name="rollup_salesday_dist")]


class SkuSalesDay(SalesFacts):
    """Per SKU and channel, all distributors together: the platform-wide charts of ops and finance."""

    day = models.DateField(_("day"))
    sku_id = models.BigIntegerField(_("SKU"))
    channel = models.CharField(_("channel"), max_length=12, choices=SalesChannel.choices)

    class Meta:
        verbose_name = _("sales per SKU and day")
        verbose_name_plural = _("sales per SKU and day")
        constraints = [models.UniqueConstraint(fields=["day", "sku_id", "channel"], name="rollup_skusalesday_key")]


class DistributorSalesDay(SalesFacts):
    """Per distributor and channel, all SKUs together: rankings of distributors."""

    day = models.DateField(_("day"))
    distributor_id = models.BigIntegerField(_("distributor"))
    channel = models.CharField(_("channel"), max_length=12, choices=SalesChannel.choices)

    class Meta:
        verbose_name = _("sales per distributor and day")
        verbose_name_plural = _("sales per distributor and day")
        constraints = [
            models.UniqueConstraint(fields=["day", "distributor_id", "channel"], name="rollup_distsalesday_key"),
        ]
        # A team's dashboard reads its members' rows only (bench/dashboard_scale.py, docs/performance.md).
        indexes = [models.Index(fields=["distributor_id", "day"], name="rollup_distsalesday_dist")]


class RedemptionFacts(RollupRow):
    """Redemptions (completed, and those reversed later), bucketed by their redemption time."""

    redemptions = models.PositiveIntegerField(_("redemptions"), default=0, help_text=_("Completed, not reversed."))
    reversed = models.PositiveIntegerField(_("reversed"), default=0)
    amount = MoneyField(_("value used"), default=0)
    owed = MoneyField(_("owed to merchant"), default=0)
    after_reminder = models.PositiveIntegerField(_("after an expiry reminder"), default=0)
    known_holders = models.PositiveIntegerField(_("with a known holder"), default=0)
    new_holders = models.PositiveIntegerField(_("first visit of a holder"), default=0)

    class Meta:
        abstract = True


class RedemptionHour(RedemptionFacts):
    """The finest grain: every other redemption table is summed from this one's rows of the same local day."""

    hour = models.DateTimeField(_("hour"))
    sku_id = models.BigIntegerField(_("SKU"))
    merchant_id = models.BigIntegerField(_("merchant"))
    store_id = models.BigIntegerField(_("store"))
    weekday = models.PositiveSmallIntegerField(_("weekday"), help_text=_("0 Monday … 6 Sunday, local time."))
    local_hour = models.PositiveSmallIntegerField(_("hour of day"), help_text=_("0-23, local time."))

    class Meta:
        verbose_name = _("redemptions per hour")
        verbose_name_plural = _("redemptions per hour")
        constraints = [
            models.UniqueConstraint(fields=["hour", "sku_id", "merchant_id", "store_id"], name="rollup_redemptionhour_key"),
        ]
        indexes = [models.Index(fields=["merchant_id", "hour"], name="rollup_redhour_merchant")]


class RedemptionDay(RedemptionFacts):
    """Per store and SKU: a merchant's dashboard (read by merchant_id)."""

    day = models.DateField(_("day"))
    sku_id = models.BigIntegerField(_("SKU"))
    merchant_id = models.BigIntegerField(_("merchant"))
    store_id = models.BigIntegerField(_("store"))

    class Meta:
        verbose_name = _("redemptions per day")
        verbose_name_plural = _("redemptions per day")
        constraints = [models.UniqueConstraint(fields=["day", "sku_id", "store_id"], name="rollup_redemptionday_key")]
        indexes = [models.Index(fields=["merchant_id", "day"], name="rollup_redday_merchant")]


class SkuRedemptionDay(RedemptionFacts):
    """Per SKU, all merchants together: redemption rate by SKU and by face value (ops)."""

    day = models.DateField(_("day"))
    sku_id = models.BigIntegerField(_("SKU"))

    class Meta:
        verbose_name = _("redemptions per SKU and day")
        verbose_name_plural = _("redemptions per SKU and day")
        constraints = [models.UniqueConstraint(fields=["day", "sku_id"], name="rollup_skuredday_key")]


class RedemptionHeat(RedemptionFacts):
    """Per merchant, local weekday and hour of day: the peak-hours heatmap (核销高峰时段) of ops and merchants."""

    day = models.DateField(_("day"))
    merchant_id = models.BigIntegerField(_("merchant"))
    weekday = models.PositiveSmallIntegerField(_("weekday"), help_text=_("0 Monday … 6 Sunday, local time."))
    local_hour = models.PositiveSmallIntegerField(_("hour of day"), help_text=_("0-23, local time."))

    class Meta:
        verbose_name = _("redemptions per hour of the week")
        verbose_name_plural = _("redemptions per hour of the week")
        constraints = [
            models.UniqueConstraint(fields=["day", "merchant_id", "local_hour"], name="rollup_redheat_key"),
        ]
        # A merchant's heatmap reads its own rows only (bench/profile_dashboard.py: 40-90 ms without it at 2 M orders).
        indexes = [models.Index(fields=["merchant_id", "day"], name="rollup_redheat_merchant")]


class CommissionDay(RollupRow):
    """Commission per beneficiary distributor, level (depth) and day: accrued by its order's day, released by the
    day of release, clawed back by the day of the clawback; `frozen` is what was still frozen at the day's end."""

    day = models.DateField(_("day"))
    distributor_id = models.BigIntegerField(_("distributor"))
    depth = models.PositiveSmallIntegerField(_("level"))
    accrued = MoneyField(_("accrued"), default=0)
    released = MoneyField(_("released"), default=0)
    clawed_back = MoneyField(_("clawed back"), default=0)
    frozen = MoneyField(_("frozen"), default=0)

    class Meta:
        verbose_name = _("commission per day")
        verbose_name_plural = _("commission per day")
        constraints = [models.UniqueConstraint(fields=["day", "distributor_id", "depth"], name="rollup_commissionday_key")]
        # A distributor's own commission chart reads its rows only (bench/dashboard_scale.py).
        indexes = [models.Index(fields=["distributor_id", "day"], name="rollup_commissionday_dist")]


class TeamFacts(RollupRow):
    """A team's paid orders: each order counted once for every upline in its `Order.chain` (the seller's uplines
    when it was placed), so an upline reads its whole downline's sales without the members' rows."""

    day = models.DateField(_("day"))
    ancestor_id = models.BigIntegerField(_("upline"))
    orders = models.PositiveIntegerField(_("orders"), default=0)
    quantity = models.PositiveIntegerField(_("quantity"), default=0)
    revenue = MoneyField(_("sales"), default=0, help_text=_("What the buyers paid (order totals)."))

    class Meta:
        abstract = True


class TeamSalesDay(TeamFacts):
    """Per upline, day and depth of the seller below it (1: a direct member's sale): a team's sales per day."""

    depth = models.PositiveSmallIntegerField(_("level"))

    class Meta:
        verbose_name = _("team sales per day")
        verbose_name_plural = _("team sales per day")
        constraints = [models.UniqueConstraint(fields=["ancestor_id", "day", "depth"], name="rollup_teamday_key")]


class TeamMemberDay(TeamFacts):
    """Per upline, downline member (the seller) and day: the team ranking, read by (upline, day)."""

    member_id = models.BigIntegerField(_("member"))

    class Meta:
        verbose_name = _("team member sales per day")
        verbose_name_plural = _("team member sales per day")
        constraints = [models.UniqueConstraint(fields=["ancestor_id", "day", "member_id"], name="rollup_teammember_key")]


class TeamSkuDay(TeamFacts):
    """Per upline, SKU and day: a team's best-selling SKUs."""

    sku_id = models.BigIntegerField(_("SKU"))

    class Meta:
        verbose_name = _("team sales per SKU and day")
        verbose_name_plural = _("team sales per SKU and day")
        constraints = [models.UniqueConstraint(fields=["ancestor_id", "day", "sku_id"], name="rollup_teamsku_key")]


class DistributorDay(SalesFacts):
    """Per distributor and day, every channel together (DistributorSalesDay summed): the platform's rankings."""

    day = models.DateField(_("day"))
    distributor_id = models.BigIntegerField(_("distributor"))

    class Meta:
        verbose_name = _("sales per distributor and day (all channels)")
        verbose_name_plural = _("sales per distributor and day (all channels)")
        constraints = [models.UniqueConstraint(fields=["day", "distributor_id"], name="rollup_distday_key")]


class PlatformHeat(RedemptionFacts):
    """Per local hour of a day, every merchant together (RedemptionHeat summed): the ops heatmap."""

    day = models.DateField(_("day"))
    weekday = models.PositiveSmallIntegerField(_("weekday"), help_text=_("0 Monday … 6 Sunday, local time."))
    local_hour = models.PositiveSmallIntegerField(_("hour of day"), help_text=_("0-23, local time."))

    class Meta:
        verbose_name = _("platform redemptions per hour of the week")
        verbose_name_plural = _("platform redemptions per hour of the week")
        constraints = [models.UniqueConstraint(fields=["day", "local_hour"], name="rollup_platformheat_key")]


class CommissionLevelDay(RollupRow):
    """CommissionDay summed per level and day, every distributor together: finance's commission charts."""

    day = models.DateField(_("day"))
    depth = models.PositiveSmallIntegerField(_("level"))
    accrued = MoneyField(_("accrued"), default=0)
    released = MoneyField(_("released"), default=0)
    clawed_back = MoneyField(_("clawed back"), default=0)
    frozen = MoneyField(_("frozen"), default=0)

    class Meta:
        verbose_name = _("commission per level and day")
        verbose_name_plural = _("commission per level and day")
        constraints = [models.UniqueConstraint(fields=["day", "depth"], name="rollup_commissionlevel_key")]


class CommissionEarnerDay(RollupRow):
    """CommissionDay summed per distributor and day, every level together, only days with commission accrued or
    released (no balance-only rows): the top earners."""

    day = models.DateField(_("day"))
    distributor_id = models.BigIntegerField(_("distributor"))
    accrued = MoneyField(_("accrued"), default=0)
    released = MoneyField(_("released"), default=0)

    class Meta:
        verbose_name = _("commission per distributor and day")
        verbose_name_plural = _("commission per distributor and day")
        constraints = [models.UniqueConstraint(fields=["day", "distributor_id"], name="rollup_commissionearner_key")]


class CampaignDay(RollupRow):
    """A marketing campaign's results per day and sales channel."""

    day = models.DateField(_("day"))
    campaign_id = models.BigIntegerField(_("campaign"))
    channel = models.CharField(_("channel"), max_length=12, choices=SalesChannel.choices)
    issued = models.PositiveIntegerField(_("coupons issued"), default=0)
    claimed = models.PositiveIntegerField(_("coupons claimed"), default=0)
    used = models.PositiveIntegerField(_("coupons used"), default=0)
    orders = models.PositiveIntegerField(_("orders"), default=0)
    new_customers = models.PositiveIntegerField(_("orders of new customers"), default=0)
    revenue = MoneyField(_("sales"), default=0)
    cost = MoneyField(_("cost of goods"), default=0)
    discount = MoneyField(_("discount"), default=0)
    expense = MoneyField(_("marketing expense"), default=0, help_text=_("The discount the platform funded, and free codes."))

    class Meta:
        verbose_name = _("campaign results per day")
        verbose_name_plural = _("campaign results per day")
        constraints = [models.UniqueConstraint(fields=["day", "campaign_id", "channel"], name="rollup_campaignday_key")]


class SupplierDay(RollupRow):
    """Direct top-ups per upstream supplier, SKU and day (by the day they finished)."""

    day = models.DateField(_("day"))
    upstream_id = models.BigIntegerField(_("upstream"))
    sku_id = models.BigIntegerField(_("SKU"))
    succeeded = models.PositiveIntegerField(_("succeeded"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    partial = models.PositiveIntegerField(_("partly delivered"), default=0)
    face_value = MoneyField(_("face value delivered"), default=0)
    cost = MoneyField(_("payable to the supplier"), default=0)
    seconds_total = models.FloatField(_("seconds to finish, summed"), default=0)

    class Meta:
        verbose_name = _("supplier results per day")
        verbose_name_plural = _("supplier results per day")
        constraints = [models.UniqueConstraint(fields=["day", "upstream_id", "sku_id"], name="rollup_supplierday_key")]


class RiskDay(RollupRow):
    """Risk decisions per day, channel and outcome."""

    day = models.DateField(_("day"))
    channel = models.CharField(_("channel"), max_length=20)
    outcome = models.CharField(_("outcome"), max_length=20)
    events = models.PositiveIntegerField(_("decisions"), default=0)

    class Meta:
        verbose_name = _("risk decisions per day")
        verbose_name_plural = _("risk decisions per day")
        constraints = [models.UniqueConstraint(fields=["day", "channel", "outcome"], name="rollup_riskday_key")]


class ReminderDay(RollupRow):
    """Expiry reminders sent per day and SKU, and how many of their codes were redeemed after the reminder."""

    day = models.DateField(_("day"))
    sku_id = models.BigIntegerField(_("SKU"))
    sent = models.PositiveIntegerField(_("sent"), default=0)
    redeemed_after = models.PositiveIntegerField(_("redeemed after"), default=0)

    class Meta:
        verbose_name = _("expiry reminders per day")
        verbose_name_plural = _("expiry reminders per day")
        constraints = [models.UniqueConstraint(fields=["day", "sku_id"], name="rollup_reminderday_key")]


class StorefrontVisit(RollupRow):
    """One visitor of one storefront on one day, counted without a cookie: `visitor` is an HMAC of the address
    and user agent under a salt that changes every day (analytics/visits.py), so nobody can follow a visitor
    from one day to the next. Written by the visit middleware; `views` counts the pages seen that day."""

    day = models.DateField(_("day"))
    storefront_id = models.BigIntegerField(_("storefront"))
    visitor = models.CharField(_("visitor"), max_length=64)
    views = models.PositiveIntegerField(_("pages seen"), default=1)
    last_seen_at = models.DateTimeField(_("last page seen"), default=timezone.now, help_text=_("Tells the rollup job which days changed."))

    class Meta:
        verbose_name = _("storefront visit")
        verbose_name_plural = _("storefront visits")
        constraints = [models.UniqueConstraint(fields=["day", "storefront_id", "visitor"], name="analytics_visit_once")]


class VisitDay(RollupRow):
    """Storefront visitors and page views per day (rolled up from StorefrontVisit)."""

    day = models.DateField(_("day"))
    storefront_id = models.BigIntegerField(_("storefront"))
    visitors = models.PositiveIntegerField(_("visitors"), default=0)
    views = models.PositiveIntegerField(_("pages seen"), default=0)

    class Meta:
        verbose_name = _("storefront visits per day")
        verbose_name_plural = _("storefront visits per day")
        constraints = [models.UniqueConstraint(fields=["day", "storefront_id"], name="rollup_visitday_key")]


class HolderVisit(models.Model):
    """A holder's first completed redemption at a merchant (the "first visit" the redemption rollups count as
    new_holders). Written only by analytics/rollups/redemptions.py, for the holders of the days it recomputes."""

    merchant_id = models.BigIntegerField(_("merchant"))
    holder = models.CharField(_("holder"), max_length=64, help_text=_("The contact key of the buyer holding the codes."))
    first_at = models.DateTimeField(_("first redeemed at"))
    first_redemption_id = models.BigIntegerField(_("first redemption"))

    class Meta:
        verbose_name = _("first visit of a holder")
        verbose_name_plural = _("first visits of holders")
        constraints = [models.UniqueConstraint(fields=["merchant_id", "holder"], name="rollup_holdervisit_key")]
        indexes = [models.Index(fields=["first_at"], name="rollup_holdervisit_first")]

    def __str__(self) -> str:
        return f"merchant={self.merchant_id} {self.first_at:%Y-%m-%d %H:%M} redemption={self.first_redemption_id}"


class RollupState(models.Model):
    """One row per rollup: how far the incremental job has read (its watermark) and how its last run went."""

    name = models.CharField(_("rollup"), max_length=40, unique=True)
    watermark = models.DateTimeField(_("read up to"), null=True, blank=True)
    last_run_at = models.DateTimeField(_("last run"), null=True, blank=True)
    last_duration_ms = models.PositiveIntegerField(_("last run took (ms)"), default=0)
    last_buckets = models.PositiveIntegerField(_("buckets recomputed in the last run"), default=0)

    class Meta:
        verbose_name = _("rollup state")
        verbose_name_plural = _("rollup states")

    def __str__(self) -> str:
        return self.name
