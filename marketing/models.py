"""Marketing's tables: consumers and their sign-in codes, campaigns and everything a campaign hands out.

Settlement asks marketing for an order's price and the campaign's permission (services/offers.py,
`offer_take`), inside the order's transaction; marketing writes only these tables. The money of a
discount is booked by settlement (the marketing expense account); marketing keeps the facts of each use
(`CampaignUse`) that the campaign page and its export read.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from voucherhub.core.jobs import LongJob
from voucherhub.core.money import MoneyField, RateField

# --- Consumers -------------------------------------------------------------------------------------


class Consumer(models.Model):
    """A buyer known by a verified mainland mobile number (SMS one-time code). Every per-consumer limit
    counts against this row."""

    phone = models.CharField(_("mobile number"), max_length=11, unique=True)
    created_at = models.DateTimeField(_("first seen"), auto_now_add=True)
    last_login_at = models.DateTimeField(_("last sign-in"), null=True, blank=True)

    class Meta:
        verbose_name = _("consumer")
        verbose_name_plural = _("consumers")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.phone_masked

    @property
    def phone_masked(self) -> str:
        return f"{self.phone[:3]}****{self.phone[-4:]}" if len(self.phone) == 11 else "****"


class PhoneCode(models.Model):
    """One SMS sign-in code: 6 digits, kept only as a keyed hash, valid for a few minutes, a few tries."""

    phone = models.CharField(_("mobile number"), max_length=11, db_index=True)
    code_hash = models.CharField(_("code hash"), max_length=64)
    ip = models.GenericIPAddressField(_("address"), null=True, blank=True)
    created_at = models.DateTimeField(_("sent"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"))
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("sign-in code")
        verbose_name_plural = _("sign-in codes")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["phone", "-created_at"], name="phonecode_phone_recent")]

    def __str__(self) -> str:
        return f"{self.phone[:3]}****{self.phone[-4:]} {timezone.localtime(self.created_at):%Y-%m-%d %H:%M}"


# --- Campaigns -------------------------------------------------------------------------------------


class Campaign(models.Model):
    """One campaign of any kind: its schedule, who funds it, its budget and its rules. The fields a kind
    does not use stay empty (clean() says which a kind needs)."""

    class Kind(models.TextChoices):
        FLASH_SALE = "flash_sale", _("Flash sale")
        NEW_USER = "new_user", _("New-user price")
        COUPON = "coupon", _("Coupons")
        GROUP_BUY = "group_buy", _("Group buy")
        REFERRAL = "referral", _("Referral")
        TARGETED = "targeted", _("Targeted issuance")
        BUNDLE = "bundle", _("Bundle")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ACTIVE = "active", _("Running")  # live between starts_at and ends_at
        PAUSED = "paused", _("Paused")
        ENDED = "ended", _("Ended")

    class Funding(models.TextChoices):
        PLATFORM = "platform", _("Platform")
        DISTRIBUTOR = "distributor", _("Distributor")

    class BudgetKind(models.TextChoices):
        NONE = "none", _("No budget")
        MONEY = "money", _("Money amount")
        COUNT = "count", _("Count")

    class DiscountKind(models.TextChoices):
        FIXED = "fixed", _("Fixed amount")
        PERCENT = "percent", _("Percentage")

    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT, db_index=True)
    description = models.TextField(_("description"), blank=True)
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    # Whose campaign: the platform's (no distributor) or a distributor's on its own storefront.
    distributor = models.ForeignKey(
        "channels.Distributor", verbose_name=_("distributor"), null=True, blank=True, on_delete=models.PROTECT, related_name="campaigns"
    )
    storefront = models.ForeignKey(
        "channels.Storefront", verbose_name=_("storefront"), null=True, blank=True, on_delete=models.PROTECT, related_name="campaigns",
        help_text=_("Empty: every storefront (platform campaigns only)."),
    )  # fmt: skip
    funding = models.CharField(_("funded by"), max_length=12, choices=Funding.choices, default=Funding.PLATFORM)
    # Budget: the campaign stops exactly at it (spent_* move under the campaign's row lock).
    budget_kind = models.CharField(_("budget"), max_length=8, choices=BudgetKind.choices, default=BudgetKind.NONE)
    budget_amount = MoneyField(_("budget amount"), null=True, blank=True)
    budget_count = models.PositiveIntegerField(_("budget count"), null=True, blank=True)
    spent_amount = MoneyField(_("spent"), default=0)
    spent_count = models.PositiveIntegerField(_("times used"), default=0)
    # Flash sale, new-user price, group buy: one SKU at a campaign price. Bundle: its price.
    sku = models.ForeignKey("catalog.Sku", verbose_name=_("SKU"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    price = MoneyField(_("campaign price"), null=True, blank=True)
    per_consumer_limit = models.PositiveIntegerField(_("limit per consumer"), default=1)
    payment_minutes = models.PositiveIntegerField(_("minutes to pay"), default=15)
    # Group buy
    group_size = models.PositiveSmallIntegerField(_("group size"), null=True, blank=True)
    group_hours = models.PositiveSmallIntegerField(_("hours to fill a group"), null=True, blank=True)
    group_ops_complete = models.BooleanField(_("ops may complete an unfilled group"), default=False)
    # Coupons (kind COUPON; the reward of a REFERRAL campaign; what a TARGETED campaign issues)
    discount_kind = models.CharField(_("discount"), max_length=8, choices=DiscountKind.choices, blank=True)
    discount_amount = MoneyField(_("discount amount"), null=True, blank=True)
    discount_percent = RateField(_("discount rate"), null=True, blank=True, help_text=_("0.2000 means 20 percent off."))
    discount_cap = MoneyField(_("discount cap"), null=True, blank=True)
    min_spend = MoneyField(_("minimum spend"), null=True, blank=True)
    sku_ids = models.JSONField(_("applicable SKUs"), default=list, blank=True, help_text=_("Empty: every SKU."))
    categories = models.JSONField(_("applicable categories"), default=list, blank=True, help_text=_("Empty: every category."))
    coupon_valid_days = models.PositiveSmallIntegerField(_("coupon valid days"), null=True, blank=True)
    coupons_total = models.PositiveIntegerField(_("coupons to hand out"), null=True, blank=True)
    coupons_issued = models.PositiveIntegerField(_("coupons handed out"), default=0)
    stackable = models.BooleanField(_("stacks with another coupon"), default=False)
    # Referral: both sides get a coupon of `reward_campaign` once the friend's order is past the refund window.
    reward_campaign = models.ForeignKey(
        "self", verbose_name=_("reward coupons"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    refund_window_days = models.PositiveSmallIntegerField(_("refund window (days)"), default=7)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("changed"), auto_now=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-starts_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="campaign_ends_after_start"),
            models.CheckConstraint(
                condition=Q(budget_amount__isnull=True) | Q(spent_amount__lte=F("budget_amount")), name="campaign_money_budget_kept"
            ),
            models.CheckConstraint(
                condition=Q(budget_count__isnull=True) | Q(spent_count__lte=F("budget_count")), name="campaign_count_budget_kept"
            ),
            models.CheckConstraint(
                condition=Q(coupons_total__isnull=True) | Q(coupons_issued__lte=F("coupons_total")), name="campaign_coupons_kept"
            ),
            models.CheckConstraint(condition=Q(price__isnull=True) | Q(price__gte=0), name="campaign_price_nonneg"),
            models.CheckConstraint(condition=Q(spent_amount__gte=0), name="campaign_spent_nonneg"),
        ]

    def __str__(self) -> str:
        return self.name

    def is_live(self, now=None) -> bool:
        now = now or timezone.now()
        return self.status == self.Status.ACTIVE and self.starts_at <= now < self.ends_at


class FlashSlot(models.Model):
    """A time slot of a flash sale with its stock cap. `taken` counts places held or sold (the database's
    truth; the Redis gate in front of it is rebuilt from these rows)."""

    campaign = models.ForeignKey(Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="slots")
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    stock = models.PositiveIntegerField(_("stock"))
    taken = models.PositiveIntegerField(_("taken"), default=0)

    class Meta:
        verbose_name = _("flash-sale slot")
        verbose_name_plural = _("flash-sale slots")
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(condition=Q(taken__lte=F("stock")), name="flashslot_never_oversold"),
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="flashslot_ends_after_start"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign} {timezone.localtime(self.starts_at):%m-%d %H:%M}"


class FlashReservation(models.Model):
    """A consumer's place in a slot for one order: held until paid (or the payment time runs out)."""

    class Status(models.TextChoices):
        HELD = "held", _("Held")
        PAID = "paid", _("Paid")
        RELEASED = "released", _("Place released")

    slot = models.ForeignKey(FlashSlot, verbose_name=_("slot"), on_delete=models.PROTECT, related_name="reservations")
    consumer = models.ForeignKey(Consumer, verbose_name=_("consumer"), on_delete=models.PROTECT, related_name="flash_reservations")
    order_ref = models.CharField(_("order number"), max_length=32, unique=True)
    quantity = models.PositiveIntegerField(_("quantity"), default=1)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.HELD, db_index=True)
    expires_at = models.DateTimeField(_("pay by"))
    created_at = models.DateTimeField(_("reserved at"), auto_now_add=True)

    class Meta:
        verbose_name = _("flash-sale reservation")
        verbose_name_plural = _("flash-sale reservations")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["slot", "consumer"], name="flashres_slot_consumer")]

    def __str__(self) -> str:
        return self.order_ref


class BundleItem(models.Model):
    """One component of a bundle campaign: `quantity` units of `sku`, carrying `revenue_share` of the bundle's
    price per unit (the shares add up to the price; statements split revenue and commission by them)."""

    campaign = models.ForeignKey(Campaign, verbose_name=_("bundle"), on_delete=models.CASCADE, related_name="bundle_items")
    sku = models.ForeignKey("catalog.Sku", verbose_name=_("SKU"), on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveSmallIntegerField(_("quantity"), default=1)
    revenue_share = MoneyField(_("revenue share per unit"))

    class Meta:
        verbose_name = _("bundle component")
        verbose_name_plural = _("bundle components")
        ordering = ["pk"]
        constraints = [models.UniqueConstraint(fields=["campaign", "sku"], name="bundleitem_sku_once")]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku}"


# --- Coupons, referral and targeted issuance -----------------------------------------------------------


class Issuance(LongJob):
    """A targeted issuance: a list of recipients (a file of phones, chosen distributors, a consumer
    segment), issued coupons (or free codes) in a background job with its progress. The job writes a
    heartbeat (voucherhub/core/jobs.py); a run whose worker died is taken over and goes on from its
    recipients still PENDING."""

    class Source(models.TextChoices):
        FILE = "file", _("Uploaded list")
        DISTRIBUTORS = "distributors", _("Distributors")
        SEGMENT = "segment", _("Consumer segment")

    class Status(models.TextChoices):
        PREVIEW = "preview", _("Awaiting confirmation")
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Issuing")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    class Gift(models.TextChoices):
        COUPON = "coupon", _("Coupon")
        FREE_CODE = "free_code", _("Free code")

    campaign = models.ForeignKey(Campaign, verbose_name=_("campaign"), on_delete=models.PROTECT, related_name="issuances")
    source = models.CharField(_("recipients"), max_length=14, choices=Source.choices)
    gift = models.CharField(_("gift"), max_length=10, choices=Gift.choices, default=Gift.COUPON)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    file_name = models.CharField(_("file"), max_length=200, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PREVIEW, db_index=True)
    total = models.PositiveIntegerField(_("recipients"), default=0)
    done = models.PositiveIntegerField(_("issued"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    error = models.CharField(_("error"), max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("targeted issuance")
        verbose_name_plural = _("targeted issuances")
        ordering = ["-created_at"]

    WORKING = {Status.RUNNING: Status.QUEUED}

    def __str__(self) -> str:
        return f"{self.campaign} #{self.pk}"

    @property
    def progress(self) -> int:
        """Percent of the recipients handled (issued or failed)."""
        if not self.total:
            return 100 if self.status == self.Status.DONE else 0
        return min(100, (self.done + self.failed) * 100 // self.total)

    @property
    def is_working(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)


class IssuanceRecipient(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Not issued yet")
        ISSUED = "issued", _("Issued")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Skipped")

    issuance = models.ForeignKey(Issuance, verbose_name=_("issuance"), on_delete=models.CASCADE, related_name="recipients")
    phone = models.CharField(_("mobile number"), max_length=11, blank=True)
    distributor = models.ForeignKey(
        "channels.Distributor", verbose_name=_("distributor"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True)
    order_ref = models.CharField(_("order number"), max_length=32, blank=True)  # a free code's zero-price order
    notified_at = models.DateTimeField(_("notified"), null=True, blank=True)
    notify_attempts = models.PositiveSmallIntegerField(_("notification attempts"), default=0)
    notify_error = models.CharField(_("last notification error"), max_length=200, blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("recipient")
        verbose_name_plural = _("recipients")
        ordering = ["pk"]
        indexes = [models.Index(fields=["issuance", "status", "id"], name="issuancerecipient_todo")]
        constraints = [
            models.UniqueConstraint(fields=["issuance", "phone"], condition=~Q(phone=""), name="issuancerecipient_phone_once"),
        ]

    def __str__(self) -> str:
        return f"{self.phone[:3]}****{self.phone[-4:]}" if self.phone else str(self.distributor)


class ReferralLink(models.Model):
    """A consumer's share link for a referral campaign."""

    campaign = models.ForeignKey(Campaign, verbose_name=_("campaign"), on_delete=models.PROTECT, related_name="referral_links")
    consumer = models.ForeignKey(Consumer, verbose_name=_("consumer"), on_delete=models.PROTECT, related_name="referral_links")
    token = models.CharField(_("token"), max_length=24, unique=True)
    # Where the owner asked for the link: a friend ordering from the same address or device is refused.
    ip = models.GenericIPAddressField(_("address"), null=True, blank=True)
    device = models.CharField(_("device"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("share link")
        verbose_name_plural = _("share links")
        constraints = [models.UniqueConstraint(fields=["campaign", "consumer"], name="referrallink_one_per_consumer")]

    def __str__(self) -> str:
        return self.token


class Referral(models.Model):
    """A friend who came through a share link and placed a first order. Both sides are rewarded once the
    order is past the campaign's refund window; a self-referral or a loop is refused with its reason."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for the refund window")
        REWARDED = "rewarded", _("Rewarded")
        REFUSED = "refused", _("Refused")
        CANCELLED = "cancelled", _("Cancelled (order refunded)")

    link = models.ForeignKey(ReferralLink, verbose_name=_("share link"), on_delete=models.PROTECT, related_name="referrals")
    friend = models.ForeignKey(Consumer, verbose_name=_("friend"), on_delete=models.PROTECT, related_name="referred_by")
    order_ref = models.CharField(_("order number"), max_length=32, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    ip = models.GenericIPAddressField(_("address"), null=True, blank=True)
    device = models.CharField(_("device"), max_length=64, blank=True)
    reward_due_at = models.DateTimeField(_("reward due"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    rewarded_at = models.DateTimeField(_("rewarded"), null=True, blank=True)

    class Meta:
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["link", "friend"], name="referral_friend_once")]

    def __str__(self) -> str:
        return f"{self.link} → {self.friend}"


class Coupon(models.Model):
    """One coupon of a campaign: issued (unclaimed, a code anyone may enter or claim), claimed by a
    consumer, used once by an order, or expired/void. The code is a short public code, not a card code."""

    class Status(models.TextChoices):
        ISSUED = "issued", _("Not claimed")
        CLAIMED = "claimed", _("Claimed")
        USED = "used", _("Used")
        EXPIRED = "expired", _("Expired")
        VOID = "void", _("Void")

    campaign = models.ForeignKey(Campaign, verbose_name=_("campaign"), on_delete=models.PROTECT, related_name="coupons")
    code = models.CharField(_("coupon code"), max_length=16, unique=True)
    consumer = models.ForeignKey(
        Consumer, verbose_name=_("consumer"), null=True, blank=True, on_delete=models.PROTECT, related_name="coupons"
    )
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.ISSUED, db_index=True)
    valid_until = models.DateTimeField(_("valid until"))
    issued_at = models.DateTimeField(_("issued"), auto_now_add=True)
    claimed_at = models.DateTimeField(_("claimed"), null=True, blank=True)
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)
    order_ref = models.CharField(_("order number"), max_length=32, blank=True, db_index=True)
    discount = MoneyField(_("discount given"), null=True, blank=True)
    issuance = models.ForeignKey(
        Issuance, verbose_name=_("issuance"), null=True, blank=True, on_delete=models.SET_NULL, related_name="coupons"
    )
    referral = models.ForeignKey(
        Referral, verbose_name=_("referral"), null=True, blank=True, on_delete=models.SET_NULL, related_name="coupons"
    )

    class Meta:
        verbose_name = _("coupon")
        verbose_name_plural = _("coupons")
        ordering = ["-issued_at"]
        indexes = [
            models.Index(fields=["consumer", "status"], name="coupon_consumer_status"),
            # analytics' refresh job: the coupons issued or claimed since its watermark.
            models.Index(fields=["issued_at"], name="coupon_issued"),
            models.Index(fields=["claimed_at"], name="coupon_claimed"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(status="used") | ~Q(order_ref=""), name="coupon_used_by_an_order"),
        ]

    def __str__(self) -> str:
        return self.code


# --- Group buys --------------------------------------------------------------------------------------


class GroupBuy(models.Model):
    """One group of a group-buy campaign, opened by its leader and shared by link. Members' orders are paid
    and wait; the codes are delivered when the group fills; a group that runs out of time unfilled is
    refunded in full by a job (with retries, its attempts and last error shown to ops)."""

    class Status(models.TextChoices):
        OPEN = "open", _("Filling")
        COMPLETE = "complete", _("Complete")
        FAILED = "failed", _("Failed: refunding")
        REFUNDED = "refunded", _("Failed: refunded")

    campaign = models.ForeignKey(Campaign, verbose_name=_("campaign"), on_delete=models.PROTECT, related_name="groups")
    token = models.CharField(_("token"), max_length=24, unique=True)
    leader = models.ForeignKey(Consumer, verbose_name=_("leader"), on_delete=models.PROTECT, related_name="groups_led")
    size = models.PositiveSmallIntegerField(_("size"))
    members_count = models.PositiveSmallIntegerField(_("members"), default=0)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    expires_at = models.DateTimeField(_("fill by"))
    created_at = models.DateTimeField(_("opened"), auto_now_add=True)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("completed by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    refund_attempts = models.PositiveSmallIntegerField(_("refund attempts"), default=0)
    refund_error = models.CharField(_("last refund error"), max_length=300, blank=True)
    # The refund job asks settlement again at this moment (backoff); empty once every paid member is refunded.
    refund_next_at = models.DateTimeField(_("next refund attempt"), null=True, blank=True)
    # When settlement was told of the completion (delivered its members' orders); empty: told again by the job.
    completion_sent_at = models.DateTimeField(_("completion sent"), null=True, blank=True)

    class Meta:
        verbose_name = _("group")
        verbose_name_plural = _("groups")
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=Q(members_count__lte=F("size")), name="groupbuy_never_overfilled")]

    def __str__(self) -> str:
        return f"{self.campaign} #{self.pk}"


class GroupMember(models.Model):
    class Status(models.TextChoices):
        JOINED = "joined", _("Waiting for payment")
        PAID = "paid", _("Paid")
        LEFT = "left", _("Left (not paid in time)")
        DELIVERED = "delivered", _("Delivered")
        REFUNDED = "refunded", _("Refunded")

    group = models.ForeignKey(GroupBuy, verbose_name=_("group"), on_delete=models.PROTECT, related_name="members")
    consumer = models.ForeignKey(Consumer, verbose_name=_("consumer"), on_delete=models.PROTECT, related_name="group_memberships")
    order_ref = models.CharField(_("order number"), max_length=32, unique=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.JOINED)
    joined_at = models.DateTimeField(_("joined"), auto_now_add=True)

    class Meta:
        verbose_name = _("group member")
        verbose_name_plural = _("group members")
        ordering = ["joined_at"]
        constraints = [
            models.UniqueConstraint(fields=["group", "consumer"], condition=~Q(status="left"), name="groupmember_once_per_group"),
        ]

    def __str__(self) -> str:
        return self.order_ref


# --- Results -----------------------------------------------------------------------------------------


class CampaignUse(models.Model):
    """One order that a campaign priced: what it would have cost, the discount, what was paid, who and
    through which channel. Written by offer_take, moved by settlement's order_paid / order_released /
    order_refunded calls; the campaign page and its XLSX export read these rows."""

    class Status(models.TextChoices):
        PLACED = "placed", _("Placed")
        PAID = "paid", _("Paid")
        RELEASED = "released", _("Not paid")
        REFUNDED = "refunded", _("Refunded")

    campaign = models.ForeignKey(Campaign, verbose_name=_("campaign"), on_delete=models.PROTECT, related_name="uses")
    order_ref = models.CharField(_("order number"), max_length=32)
    consumer = models.ForeignKey(Consumer, verbose_name=_("consumer"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    coupon = models.ForeignKey(Coupon, verbose_name=_("coupon"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(_("channel"), max_length=12)  # settlement's Order.Channel value
    distributor = models.ForeignKey(
        "channels.Distributor", verbose_name=_("distributor"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    quantity = models.PositiveIntegerField(_("quantity"), default=1)
    list_amount = MoneyField(_("list amount"))
    discount = MoneyField(_("discount"))
    paid_amount = MoneyField(_("paid"))
    refunded_amount = MoneyField(_("refunded"), default=0)
    new_customer = models.BooleanField(_("new customer"), default=False)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PLACED, db_index=True)
    created_at = models.DateTimeField(_("placed"), auto_now_add=True)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)

    class Meta:
        verbose_name = _("campaign use")
        verbose_name_plural = _("campaign uses")
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["campaign", "order_ref"], name="campaignuse_once_per_order")]
        indexes = [
            models.Index(fields=["order_ref"], name="campaignuse_order"),
            # analytics' refresh job: the uses placed or paid since its watermark.
            models.Index(fields=["created_at"], name="campaignuse_created"),
            models.Index(fields=["paid_at"], name="campaignuse_paid"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign}: {self.order_ref}"
