"""Demo distribution: levels 总代/省代/推广员, a tree across regions with the login `distributor` on the
top, price lists for the demo SKUs, quotas, a storefront at /s/demo/, invitations, an API key, and the price
floor refusing a few undercutting attempts (the ops violations report)."""

from decimal import Decimal

from django.contrib.auth import get_user_model

from catalog.models import Sku
from channels import services
from channels.errors import PriceBelowFloor
from channels.models import (
    ApiKey,
    CommissionRule,
    Distributor,
    DistributorLevel,
    Invitation,
    PriceEntry,
    PriceViolation,
    ProductPool,
    Quota,
    Storefront,
)
from voucherhub.core import roles
from voucherhub.core.demo import demo_user
from voucherhub.core.errors import DomainError

# name, position, auto-approve signups, automatic upgrade (min sales, days, min active direct downline)
LEVELS = [
    ("总代", 1, False, (Decimal("50000.00"), 30, 5)),
    ("省代", 2, False, (Decimal("8000.00"), 30, 3)),
    ("推广员", 3, True, None),
]

# Prices sit between cost and face value: a level keeps this share of the margin for itself when it
# buys (总代 buys closest to cost); the floor (最低零售价) leaves 20 % of the margin; 100+ units take
# another fifth of the level's own margin off.
LEVEL_SHARE = {"总代": Decimal("0.30"), "省代": Decimal("0.50"), "推广员": Decimal("0.70")}
FLOOR_SHARE = Decimal("0.80")
TIER_DISCOUNT = Decimal("0.20")
CENT = Decimal("0.01")

# (key, name, parent key, level, kind, region, contact, username or None)
TREE = [
    ("top", "华东优选总代理", None, "总代", Distributor.Kind.B_END, "上海", "陈总", "distributor"),
    ("zj", "浙江省代·杭州悦享", "top", "省代", Distributor.Kind.B_END, "浙江 / 杭州", "周经理", "distributor_zj"),
    ("js", "江苏省代·南京券多多", "top", "省代", Distributor.Kind.SMALL_B, "江苏 / 南京", "吴经理", None),
    ("zj1", "西湖团长小林", "zj", "推广员", Distributor.Kind.SMALL_B, "浙江 / 杭州", "林小姐", None),
    ("zj2", "宁波推广员阿强", "zj", "推广员", Distributor.Kind.PROMOTER, "浙江 / 宁波", "王强", None),
    ("js1", "苏州企业福利采购部", "js", "推广员", Distributor.Kind.B_END, "江苏 / 苏州", "赵主任", None),
]

QUOTAS = {"top": 400, "zj": 120, "js": 80, "zj1": 20}
# One of each kind the catalog has (video, music, coffee, movie, gift card): the shop shows its categories,
# placeholders in each kind's colour, and the cinema tickets run low.
STOREFRONT_SKUS = [
    ("IQIYI-VIP-M1", "23.80"),
    ("TXVIDEO-VIP-M1", "28.50"),
    ("NETEASE-MUSIC-M1", "15.00"),
    ("SBUX-TALL", "33.50"),
    ("LUCKIN-ANY", "27.00"),
    ("WANDA-2D", "48.00"),
    ("JD-ECARD-100", "100.00"),
]
# (who, SKU, retail price below its floor, channel): undercutting attempts the floor refused (防窜货)
UNDERCUTS = [
    ("zj2", "IQIYI-VIP-M1", "19.90", PriceViolation.Channel.API),
    ("zj2", "IQIYI-VIP-M1", "21.00", PriceViolation.Channel.API),
    ("zj2", "IQIYI-VIP-M1", "22.50", PriceViolation.Channel.API),
    ("zj1", "LUCKIN-ANY", "19.90", PriceViolation.Channel.API),
]


def _user(username: str):
    return demo_user(username, roles.DISTRIBUTOR) if username else None


def seed(out) -> None:
    User = get_user_model()
    ops = User.objects.filter(username="ops").first()
    levels = {}
    for name, position, auto_approve, upgrade in LEVELS:
        defaults = {"position": position, "auto_approve_signups": auto_approve}
        if upgrade:
            defaults.update(
                auto_upgrade=True, upgrade_min_sales=upgrade[0], upgrade_period_days=upgrade[1], upgrade_min_active_downline=upgrade[2]
            )
        levels[name], _created = DistributorLevel.objects.get_or_create(name=name, defaults=defaults)

    skus = list(Sku.objects.active().select_related("product"))
    for sku in skus:
        for name, level in levels.items():
            margin = sku.face_value - sku.cost_price
            floor = (sku.cost_price + margin * FLOOR_SHARE).quantize(CENT)
            purchase = (sku.cost_price + margin * LEVEL_SHARE[name]).quantize(CENT)
            tier_price = (purchase - (purchase - sku.cost_price) * TIER_DISCOUNT).quantize(CENT)
            PriceEntry.objects.get_or_create(
                level=level,
                sku=sku,
                min_quantity=1,
                defaults={"purchase_price": purchase, "suggested_retail": sku.face_value, "price_floor": floor},
            )
            PriceEntry.objects.get_or_create(
                level=level,
                sku=sku,
                min_quantity=100,
                defaults={
                    "purchase_price": tier_price,
                    "suggested_retail": sku.face_value,
                    "price_floor": floor,
                },
            )

    nodes: dict[str, Distributor] = {}
    for key, name, parent_key, level_name, kind, region, contact, username in TREE:
        distributor = Distributor.objects.filter(name=name).first()
        if distributor is None:
            distributor = services.distributor_create(
                name=name, level=levels[level_name], parent=nodes.get(parent_key), kind=kind, region=region, contact_name=contact, actor=ops
            )
        nodes[key] = distributor
        user = _user(username)
        if user is not None:
            services.staff_add(distributor=distributor, user=user, is_owner=True)

    # An override for the top distributor and an exclusive pool for enterprise buyers.
    jd = Sku.objects.filter(code="JD-ECARD-100").first()
    if jd is not None:
        PriceEntry.objects.get_or_create(distributor=nodes["top"], sku=jd, min_quantity=1, defaults={"purchase_price": Decimal("98.00")})
        pool, created = ProductPool.objects.get_or_create(name="企业福利专供")
        if created:
            pool.skus.add(jd)
            pool.levels.add(levels["总代"])
            pool.distributors.add(nodes["js1"])
    for depth, percent in ((1, "3.0000"), (2, "1.5000"), (3, "0.5000")):
        CommissionRule.objects.get_or_create(
            sku=None, product=None, depth=depth, defaults={"kind": CommissionRule.Kind.PERCENT, "percent": Decimal(percent)}
        )

    if not Quota.objects.filter(distributor=nodes["top"]).exists():
        for code in ("IQIYI-VIP-M1", "TXVIDEO-VIP-M1", "SBUX-TALL", "LUCKIN-ANY"):
            sku = Sku.objects.filter(code=code).first()
            if sku is None:
                continue
            services.quota_allocate(distributor=nodes["top"], sku=sku, quantity=QUOTAS["top"], actor=ops, note="demo")
            for key in ("zj", "js"):
                services.quota_transfer(
                    from_distributor=nodes["top"], to_distributor=nodes[key], sku=sku, quantity=QUOTAS[key], note="demo"
                )
            services.quota_transfer(from_distributor=nodes["zj"], to_distributor=nodes["zj1"], sku=sku, quantity=QUOTAS["zj1"], note="demo")

    if not Storefront.objects.filter(distributor=nodes["top"]).exists():
        services.storefront_save(
            distributor=nodes["top"],
            slug="demo",
            title="华东优选卡券商城",
            tagline="视频会员 · 咖啡 · 电影，正品低价",
            support_contact="微信客服 huadong-youxuan · 021-5555-0188",
            colour="#d63384",
        )
        for position, (code, price) in enumerate(STOREFRONT_SKUS):
            sku = Sku.objects.filter(code=code).first()
            if sku is None:
                continue
            try:
                services.storefront_item_set(distributor=nodes["top"], sku=sku, retail_price=Decimal(price), position=position)
            except DomainError:  # not in the top distributor's price list (a changed catalog): the shop goes without it
                pass

    if not Invitation.objects.filter(distributor=nodes["zj"]).exists():
        services.invitation_create(
            distributor=nodes["zj"], target_level=levels["推广员"], expires_in_days=30, max_uses=20, note="杭州团长招募"
        )
    if not Invitation.objects.filter(distributor=nodes["top"]).exists():
        services.invitation_create(
            distributor=nodes["top"],
            target_level=levels["省代"],
            kind=Distributor.Kind.B_END,
            expires_in_days=30,
            max_uses=3,
            note="安徽省代招募",
        )
    if not PriceViolation.objects.exists():
        for key, code, price, channel in UNDERCUTS:
            sku = Sku.objects.filter(code=code).first()
            if sku is None:
                continue
            try:
                services.retail_price_check(distributor=nodes[key], sku=sku, price=Decimal(price), channel=channel)
            except PriceBelowFloor:
                pass  # refused and recorded, as the storefront and the API do
    if not ApiKey.objects.filter(distributor=nodes["top"]).exists():
        services.api_key_issue(distributor=nodes["top"], label="demo ERP")  # secret not printed: `manage.py issue_api_key` prints one
    out.write(
        f"demo channels: {Distributor.objects.count()} distributors, storefront /s/demo/, login `distributor` "
        f"(API key: python manage.py issue_api_key --user distributor)"
    )
