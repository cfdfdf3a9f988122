"""Marketing demo data: a flash sale with a slot running now and one later, a new-user price, a coupon campaign
with claimed and used coupons, a group buy with an open and a completed group, a referral campaign with its
reward coupons, a bundle (video membership + coffee voucher), a finished targeted issuance and a distributor's own
storefront coupon, with the campaign uses (orders) the results pages read, so every page shows real-looking
numbers. Rows are written directly (settlement's orders come later in the demo, above marketing); the card codes
of the demo orders are sold (and a few redeemed) through catalog's one writer of code statuses. Idempotent:
nothing is added when the demo flash sale exists."""

import random
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone

from catalog.models import CardCode, Sku
from catalog.services import code_status_change, codes_generate
from channels.models import Distributor, Storefront
from marketing.models import (
    BundleItem,
    Campaign,
    CampaignUse,
    Consumer,
    Coupon,
    FlashSlot,
    GroupBuy,
    GroupMember,
    Issuance,
    IssuanceRecipient,
    Referral,
    ReferralLink,
)

FLASH_NAME = "双十二限时秒杀·腾讯视频月卡 9.9 元"
Kind, Status, Use = Campaign.Kind, Campaign.Status, CampaignUse.Status
CENT = Decimal("0.01")


class _Orders:
    """Numbers the demo orders: DEMO-MKT-0001, ... (order references as settlement would write them)."""

    def __init__(self):
        self.n = 0

    def next(self) -> str:
        self.n += 1
        return f"DEMO-MKT-{self.n:04d}"


def _consumers(count: int) -> list[Consumer]:
    return [Consumer.objects.get_or_create(phone=f"139{n:08d}")[0] for n in range(10000001, 10000001 + count)]


def _campaign(name: str, kind: str, *, days_ago=3, days_left=14, **fields) -> Campaign:
    now = timezone.now()
    values = {
        "kind": kind,
        "status": Status.ACTIVE,
        "starts_at": now - timedelta(days=days_ago),
        "ends_at": now + timedelta(days=days_left),
    }
    values.update(fields)
    campaign, _created = Campaign.objects.get_or_create(name=name, defaults=values)
    return campaign


def _sell_codes(sku: Sku, order_ref: str, quantity: int, *, redeemed: bool) -> None:
    """The order's codes sold (and redeemed, for some), through catalog's status writer."""
    ids = list(CardCode.objects.filter(sku=sku, status=CardCode.Status.AVAILABLE).order_by("pk").values_list("pk", flat=True)[:quantity])
    if len(ids) < quantity:
        codes_generate(sku=sku, count=quantity + 20, label="demo marketing")
        ids = list(
            CardCode.objects.filter(sku=sku, status=CardCode.Status.AVAILABLE).order_by("pk").values_list("pk", flat=True)[:quantity]
        )
    reason = "demo campaign order"
    code_status_change(codes=ids, to_status=CardCode.Status.SOLD, through=[CardCode.Status.RESERVED], order_ref=order_ref, reason=reason)
    if redeemed:
        code_status_change(codes=ids, to_status=CardCode.Status.REDEEMED, reason=reason, reference=order_ref)


def _uses(campaign, orders: _Orders, *, buyers, count: int, list_price, paid_price, distributor, sku=None, rng, coupon_of=None):
    """`count` orders priced by `campaign`: most paid, a few unpaid, one refunded; 40% redeemed; channels mixed."""
    discount = (Decimal(list_price) - Decimal(paid_price)).quantize(CENT)
    spent = Decimal("0.00")
    for index in range(count):
        ref = orders.next()
        status = Use.RELEASED if index % 9 == 8 else Use.REFUNDED if index == 5 else Use.PAID
        channel = "api" if index % 5 == 4 else "storefront"
        coupon = coupon_of(ref) if coupon_of and status == Use.PAID else None
        CampaignUse.objects.create(
            campaign=campaign,
            order_ref=ref,
            consumer=buyers[index % len(buyers)],
            coupon=coupon,
            channel=channel,
            distributor=distributor,
            list_amount=Decimal(list_price),
            discount=discount,
            paid_amount=Decimal(paid_price),
            new_customer=index % 3 == 0,
            status=status,
            paid_at=timezone.now() - timedelta(hours=index) if status != Use.RELEASED else None,
        )
        if status == Use.PAID:
            spent += discount
            if sku is not None:
                _sell_codes(sku, ref, 1, redeemed=rng.random() < 0.4)
    Campaign.objects.filter(pk=campaign.pk).update(spent_amount=spent, spent_count=count)


def _flash(skus, orders, buyers, top, rng) -> None:
    now = timezone.now()
    flash = _campaign(
        FLASH_NAME,
        Kind.FLASH_SALE,
        days_ago=1,
        days_left=3,
        sku=skus["TXVIDEO-VIP-M1"],
        price=Decimal("9.90"),
        per_consumer_limit=1,
        payment_minutes=5,
        budget_kind=Campaign.BudgetKind.MONEY,
        budget_amount=Decimal("5000.00"),
        description="每场限量，每人限购 1 件，5 分钟内付款。",
    )
    FlashSlot.objects.create(
        campaign=flash, starts_at=now - timedelta(minutes=30), ends_at=now + timedelta(minutes=90), stock=200, taken=18
    )
    tomorrow = timezone.localtime(now + timedelta(days=1)).replace(hour=20, minute=0, second=0, microsecond=0)
    FlashSlot.objects.create(campaign=flash, starts_at=tomorrow, ends_at=tomorrow + timedelta(hours=1), stock=300)
    _uses(
        flash, orders, buyers=buyers, count=18, list_price="28.50", paid_price="9.90", distributor=top, sku=skus["TXVIDEO-VIP-M1"], rng=rng
    )


def _coupons(skus, orders, buyers, top, rng) -> Campaign:
    coupons = _campaign(
        "满 50 减 10 全场券",
        Kind.COUPON,
        discount_kind=Campaign.DiscountKind.FIXED,
        discount_amount=Decimal("10.00"),
        min_spend=Decimal("50.00"),
        coupon_valid_days=14,
        coupons_total=500,
        coupons_issued=40,
        per_consumer_limit=1,
        budget_kind=Campaign.BudgetKind.MONEY,
        budget_amount=Decimal("2000.00"),
    )
    until = timezone.now() + timedelta(days=14)
    made = [Coupon.objects.create(campaign=coupons, code=f"DEMO10{n:04d}", valid_until=until) for n in range(40)]
    for coupon, buyer in zip(made[10:], buyers * 3, strict=False):  # 30 claimed
        Coupon.objects.filter(pk=coupon.pk).update(
            consumer=buyer, status=Coupon.Status.CLAIMED, claimed_at=timezone.now() - timedelta(days=1)
        )
    pool = iter(made[25:])

    def coupon_of(ref):
        coupon = next(pool, None)
        if coupon is not None:
            Coupon.objects.filter(pk=coupon.pk).update(
                status=Coupon.Status.USED, used_at=timezone.now(), order_ref=ref, discount=Decimal("10.00")
            )
        return coupon

    _uses(
        coupons,
        orders,
        buyers=buyers,
        count=14,
        list_price="66.00",
        paid_price="56.00",
        distributor=top,
        sku=skus["SBUX-TALL"],
        rng=rng,
        coupon_of=coupon_of,
    )
    return coupons


def _groups(skus, orders, buyers, top, rng) -> None:
    group_buy = _campaign(
        "三人团·爱奇艺黄金月卡 15 元",
        Kind.GROUP_BUY,
        sku=skus["IQIYI-VIP-M1"],
        price=Decimal("15.00"),
        group_size=3,
        group_hours=24,
        per_consumer_limit=1,
    )
    now = timezone.now()
    done = GroupBuy.objects.create(
        campaign=group_buy,
        token="demo-group-done",
        leader=buyers[0],
        size=3,
        members_count=3,
        status=GroupBuy.Status.COMPLETE,
        expires_at=now + timedelta(hours=10),
        completed_at=now - timedelta(hours=2),
    )
    open_group = GroupBuy.objects.create(
        campaign=group_buy, token="demo-group-open", leader=buyers[3], size=3, members_count=2, expires_at=now + timedelta(hours=20)
    )
    members = [
        (done, buyers[0], GroupMember.Status.DELIVERED),
        (done, buyers[1], GroupMember.Status.DELIVERED),
        (done, buyers[2], GroupMember.Status.DELIVERED),
        (open_group, buyers[3], GroupMember.Status.PAID),
        (open_group, buyers[4], GroupMember.Status.PAID),
    ]
    for group, buyer, status in members:
        ref = orders.next()
        GroupMember.objects.create(group=group, consumer=buyer, order_ref=ref, status=status)
        CampaignUse.objects.create(
            campaign=group_buy,
            order_ref=ref,
            consumer=buyer,
            channel="storefront",
            distributor=top,
            list_amount=Decimal("23.80"),
            discount=Decimal("8.80"),
            paid_amount=Decimal("15.00"),
            new_customer=buyer == buyers[4],
            status=Use.PAID,
            paid_at=now,
        )
        if status == GroupMember.Status.DELIVERED:
            _sell_codes(skus["IQIYI-VIP-M1"], ref, 1, redeemed=rng.random() < 0.5)


def _referral(orders, buyers, top) -> None:
    reward = _campaign(
        "好友礼 5 元券",
        Kind.COUPON,
        discount_kind=Campaign.DiscountKind.FIXED,
        discount_amount=Decimal("5.00"),
        min_spend=Decimal("20.00"),
        coupon_valid_days=30,
        coupons_issued=2,
    )
    referral = _campaign("邀请好友，双方各得 5 元", Kind.REFERRAL, reward_campaign=reward, refund_window_days=7)
    link = ReferralLink.objects.create(campaign=referral, consumer=buyers[0], token="demo-share-0001")
    now = timezone.now()
    rewarded = Referral.objects.create(
        link=link,
        friend=buyers[5],
        order_ref=orders.next(),
        status=Referral.Status.REWARDED,
        reward_due_at=now - timedelta(days=1),
        rewarded_at=now - timedelta(hours=20),
    )
    Referral.objects.create(link=link, friend=buyers[6], order_ref=orders.next(), reward_due_at=now + timedelta(days=6))
    Referral.objects.create(link=link, friend=buyers[0], status=Referral.Status.REFUSED, reason="self")
    for owner in (buyers[0], buyers[5]):
        Coupon.objects.create(
            campaign=reward,
            code=f"DEMOREF{owner.pk:05d}",
            consumer=owner,
            status=Coupon.Status.CLAIMED,
            valid_until=now + timedelta(days=30),
            referral=rewarded,
            claimed_at=now,
        )
    CampaignUse.objects.create(
        campaign=referral,
        order_ref=rewarded.order_ref,
        consumer=buyers[5],
        channel="storefront",
        distributor=top,
        list_amount=Decimal("27.00"),
        discount=Decimal("0.00"),
        paid_amount=Decimal("27.00"),
        new_customer=True,
        status=Use.PAID,
        paid_at=now,
    )


def _bundle_and_new_user(skus, orders, buyers, top, rng) -> None:
    bundle = _campaign("影音咖啡礼包：腾讯视频月卡 + 星巴克中杯", Kind.BUNDLE, price=Decimal("49.00"), per_consumer_limit=2)
    BundleItem.objects.create(campaign=bundle, sku=skus["TXVIDEO-VIP-M1"], revenue_share=Decimal("24.00"))
    BundleItem.objects.create(campaign=bundle, sku=skus["SBUX-TALL"], revenue_share=Decimal("25.00"))
    _uses(bundle, orders, buyers=buyers, count=6, list_price="62.00", paid_price="49.00", distributor=top, rng=rng)
    newcomer = _campaign("新人专享·瑞幸任意饮品 9.9 元", Kind.NEW_USER, sku=skus["LUCKIN-ANY"], price=Decimal("9.90"), days_left=60)
    _uses(
        newcomer,
        orders,
        buyers=buyers[4:],
        count=10,
        list_price="27.00",
        paid_price="9.90",
        distributor=top,
        sku=skus["LUCKIN-ANY"],
        rng=rng,
    )


def _targeted(buyers, ops) -> None:
    now = timezone.now()
    targeted = _campaign(
        "老客回馈定向券 满 30 减 8",
        Kind.TARGETED,
        status=Status.ENDED,
        days_ago=20,
        days_left=-5,
        discount_kind=Campaign.DiscountKind.FIXED,
        discount_amount=Decimal("8.00"),
        min_spend=Decimal("30.00"),
        coupon_valid_days=10,
        coupons_total=6,
        coupons_issued=6,
    )
    issuance = Issuance.objects.create(
        campaign=targeted,
        source=Issuance.Source.FILE,
        file_name="老客名单-11月.xlsx",
        status=Issuance.Status.DONE,
        total=6,
        done=6,
        created_by=ops,
        finished_at=now - timedelta(days=19),
    )
    for index, buyer in enumerate(buyers[:6]):
        IssuanceRecipient.objects.create(
            issuance=issuance, phone=buyer.phone, status=IssuanceRecipient.Status.ISSUED, notified_at=now - timedelta(days=19)
        )
        status = Coupon.Status.USED if index < 2 else Coupon.Status.EXPIRED
        Coupon.objects.create(
            campaign=targeted,
            code=f"DEMOOLD{index:04d}",
            consumer=buyer,
            status=status,
            valid_until=now - timedelta(days=9),
            issuance=issuance,
            claimed_at=now - timedelta(days=19),
            order_ref=f"DEMO-OLD-{index}" if index < 2 else "",
        )


def _distributor_coupon(top: Distributor) -> None:
    shop = Storefront.objects.filter(distributor=top).first()
    if shop is None:
        return
    _campaign(
        "华东优选店铺券 满 30 减 3",
        Kind.COUPON,
        distributor=top,
        storefront=shop,
        funding=Campaign.Funding.DISTRIBUTOR,
        discount_kind=Campaign.DiscountKind.FIXED,
        discount_amount=Decimal("3.00"),
        min_spend=Decimal("30.00"),
        coupon_valid_days=7,
        coupons_total=200,
        per_consumer_limit=1,
        budget_kind=Campaign.BudgetKind.MONEY,
        budget_amount=Decimal("600.00"),
    )


def seed(out) -> None:
    if Campaign.objects.filter(name=FLASH_NAME).exists():
        out.write("demo marketing: already there")
        return
    codes = ["TXVIDEO-VIP-M1", "SBUX-TALL", "IQIYI-VIP-M1", "LUCKIN-ANY"]
    skus = {sku.code: sku for sku in Sku.objects.filter(code__in=codes)}
    top = Distributor.objects.filter(storefront__slug="demo").first()
    if len(skus) < len(codes) or top is None:
        out.write("demo marketing: skipped (no demo catalog or storefront)")
        return
    rng = random.Random(16)  # the same demo every time
    orders, buyers = _Orders(), _consumers(12)
    ops = get_user_model().objects.filter(username="ops").first()
    _flash(skus, orders, buyers, top, rng)
    _coupons(skus, orders, buyers, top, rng)
    _groups(skus, orders, buyers, top, rng)
    _referral(orders, buyers, top)
    _bundle_and_new_user(skus, orders, buyers, top, rng)
    _targeted(buyers, ops)
    _distributor_coupon(top)
    out.write(
        f"demo marketing: {Campaign.objects.count()} campaigns, {CampaignUse.objects.count()} campaign orders; ops pages /ops/marketing/"
    )
