"""The data of bench/dashboard_scale.py: reference rows through the ORM, then millions of source rows by COPY.

`reference_create()` makes the few thousand rows the facts point at with the apps' own services or the ORM
(SKUs, a 总代/省代/推广员 tree with wallets, merchants and stores, campaigns, upstreams, the users the bench logs
in as). `load()` then streams the facts into the scratch database with psycopg 3 `cursor.copy`, in a session
with `session_replication_role = replica` (foreign keys and triggers are not checked: every id written comes
from the reference rows or from the stream itself), with the big tables' secondary indexes dropped before and
built again after (one sort each instead of millions of index insertions), then VACUUM ANALYZE.

Per-row Python work is kept small: each order is one of a few thousand precomputed "templates" (SKU, seller,
channel, prices, the ledger lines a paid order posts and its commission shares, preformatted as text); a row
adds only its id, number and time. Times follow a daily shape (growth over the 90 days, busier weekends) and an
hourly one (local time: a lunch and an evening peak), the last hours stop at the current time.

What a paid order writes, as settlement posts it (settlement/services/orders.py `_book`, commission.py):
- transfer `sale:<id>`: revenue +(total + platform discount), the payer -total (the seller's wallet for
  portal/API orders, payment clearing for storefront ones), marketing expense -platform discount;
- transfer `cost:<id>`: cost of goods -cost, supplier payable +cost;
- transfer `commission:<id>` and one CommissionAccrual per share: the storefront seller's margin (depth 0) and
  the uplines' commission (depth 1: 3 %, depth 2: 1.5 % of the total): commission expense -a, frozen +a;
- a refunded or partly refunded order: transfer `refund:<id>:1`, revenue -amount, the payer +amount.
Each paying wallet gets one opening bank top-up (twice its expected spending) at the first hour.
Not loaded (the dashboards do not read them): order items and code sales, commission release transfers (an
accrual older than the 7-day freeze says `released`), order events. Redemptions come with their own redeemed card codes (one per
redemption, AES-sealed text replaced by a placeholder: nobody decrypts them here).
"""

import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

# The big tables whose secondary indexes are dropped during the load and built again after it.
BIG_TABLES = [
    "settlement_order",
    "settlement_transfer",
    "settlement_entry",
    "settlement_commissionaccrual",
    "catalog_cardcode",
    "redemption_redemption",
    "riskcontrol_riskevent",
    "supply_topup",
]

LOCAL_HOURS = [0.3, 0.15, 0.1, 0.08, 0.08, 0.12, 0.3, 0.7, 1.1, 1.3, 1.5, 1.9, 2.3, 1.8, 1.4, 1.3, 1.4, 1.6, 1.9, 2.3, 2.6, 2.2, 1.4, 0.7]
REDEEM_HOURS = [
    0.05,
    0.02,
    0.01,
    0.01,
    0.01,
    0.02,
    0.1,
    0.6,
    1.4,
    1.2,
    1.1,
    1.9,
    3.2,
    2.4,
    1.3,
    1.4,
    1.9,
    2.1,
    2.8,
    3.0,
    2.4,
    1.5,
    0.6,
    0.2,
]
CHANNELS = [("portal", 0.35), ("api", 0.25), ("storefront", 0.32), ("campaign", 0.08)]
REFUND_SHARE, PARTIAL_SHARE, REVERSED_SHARE = 0.025, 0.015, 0.01


@dataclass
class Reference:
    """The ids of the reference rows, and what the streams need to know of them."""

    skus: list = field(default_factory=list)  # (id, face_cents, cost_cents, purchase_cents{level: cents}, topup)
    distributors: list = field(default_factory=list)  # (id, level name, upline ids nearest first, storefront id)
    wallet_accounts: dict = field(default_factory=dict)  # distributor id -> {kind: account id}
    wallets: dict = field(default_factory=dict)  # distributor id -> wallet id
    platform: dict = field(default_factory=dict)  # kind -> account id
    merchants: list = field(default_factory=list)  # (id, [store ids])
    sku_merchants: dict = field(default_factory=dict)  # sku id -> [merchant index]
    campaigns: list = field(default_factory=list)  # (id, distributor id or None)
    upstreams: list = field(default_factory=list)
    batches: dict = field(default_factory=dict)  # sku id -> code batch id
    users: dict = field(default_factory=dict)  # role -> username
    top_distributor: int = 0
    merchant: int = 0


def cents(value: Decimal) -> int:
    return int((value * 100).to_integral_value())


def fmt(c: int) -> str:
    """Integer cents as the text COPY reads for numeric(14,2)."""
    if c < 0:
        return "-" + fmt(-c)
    return f"{c // 100}.{c % 100:02d}"


# --- Reference rows (ORM) ----------------------------------------------------------------------------------


def reference_create(rng: random.Random) -> Reference:
    from django.contrib.auth import get_user_model

    ref = Reference()
    User = get_user_model()
    ops = User.objects.create_superuser("bench-ops", "ops@bench.invalid", "bench-pass-1")
    _groups(ops, ["ops", "finance"])
    ref.users["ops"] = ops.username
    levels = _skus_and_levels(ref, rng)
    _distributors(ref, levels, rng)
    _merchants(ref, rng)
    _campaigns_and_upstreams(ref, rng)
    return ref


def _groups(user, names) -> None:
    from django.contrib.auth.models import Group

    for name in names:
        user.groups.add(Group.objects.get_or_create(name=name)[0])


SKU_KINDS = [
    ("coffee", "咖啡券", [25, 30, 35, 38]),
    ("dining", "餐饮券", [50, 100, 200]),
    ("video", "视频会员", [15, 25, 30, 68]),
    ("movie", "电影票", [35, 40, 50]),
    ("gift_card", "购物卡", [100, 200, 500]),
    ("music", "音乐会员", [10, 15]),
    ("course", "课程卡", [99, 199]),
    ("topup", "话费直充", [30, 50, 100]),
]


def _skus_and_levels(ref: Reference, rng: random.Random) -> dict:
    from catalog.models import CodeBatch, Product, Sku, Supplier
    from channels.models import CommissionRule, DistributorLevel

    supplier = Supplier.objects.create(name="bench supplier")
    levels = {}
    for position, name in enumerate(["总代", "省代", "推广员"], start=1):
        levels[name] = DistributorLevel.objects.create(name=name, position=position)
    for depth, percent in ((1, "3.0000"), (2, "1.5000")):
        CommissionRule.objects.create(depth=depth, kind=CommissionRule.Kind.PERCENT, percent=Decimal(percent))
    share = {"总代": Decimal("0.55"), "省代": Decimal("0.70"), "推广员": Decimal("0.82")}
    for category, label, faces in SKU_KINDS:
        product = Product.objects.create(supplier=supplier, name=f"bench {label}", category=category)
        for face in faces:
            face_value = Decimal(face)
            cost = (face_value * Decimal("0.78")).quantize(Decimal("0.01"))
            topup = category == "topup"
            sku = Sku.objects.create(
                product=product, code=f"BENCH-{category.upper()}-{face}", name=f"{label} {face}元", face_value=face_value,
                cost_price=cost, valid_days=365, fulfilment=Sku.Fulfilment.TOPUP if topup else Sku.Fulfilment.GENERATED,
            )  # fmt: skip
            purchase = {name: cents(cost + (face_value - cost) * s) for name, s in share.items()}
            ref.skus.append((sku.pk, cents(face_value), cents(cost), purchase, topup))
            if not topup:
                ref.batches[sku.pk] = CodeBatch.objects.create(sku=sku, source=CodeBatch.Source.GENERATED, label="bench").pk
    while len(ref.skus) < 40:  # ~40 SKUs: a second coffee brand's faces
        index = len(ref.skus)
        face_value = Decimal(20 + index)
        sku = Sku.objects.create(product=product.__class__.objects.first(), code=f"BENCH-EXTRA-{index}", name=f"套餐券 {index}",
                                 face_value=face_value, cost_price=face_value * Decimal("0.8"), valid_days=365)  # fmt: skip
        cost = face_value * Decimal("0.8")
        purchase = {name: cents(cost + (face_value - cost) * s) for name, s in share.items()}
        ref.skus.append((sku.pk, cents(face_value), cents(cost), purchase, False))
        ref.batches[sku.pk] = CodeBatch.objects.create(sku=sku, source=CodeBatch.Source.GENERATED, label="bench").pk
    return levels


def _distributors(ref: Reference, levels: dict, rng: random.Random) -> None:
    """10 总代, each with 9 省代, each with 10 推广员 (1000 in all), a wallet each, storefronts for 推广员 and 省代."""
    from django.contrib.auth import get_user_model

    from channels import services as channel_services
    from channels.models import Distributor, Storefront
    from settlement.models import Account
    from settlement.services.ledger import platform_account, wallet_accounts_ensure
    from settlement.services.wallets import wallet_for

    def make(name, level, parent, kind):
        node = channel_services.distributor_create(name=name, level=levels[level], parent=parent, kind=kind, region="江苏")
        wallet = wallet_for(node)
        ref.wallets[node.pk] = wallet.pk
        ref.wallet_accounts[node.pk] = {kind: account.pk for kind, account in wallet_accounts_ensure(wallet).items()}
        storefront = None
        if level != "总代":
            storefront = Storefront.objects.create(distributor=node, slug=f"bench-{node.pk}", title=name).pk
        uplines = [int(p) for p in node.path.strip("/").split("/") if p][:-1][::-1]
        ref.distributors.append((node.pk, level, uplines, storefront))
        return node

    for t in range(10):
        top = make(f"总代{t + 1}", "总代", None, Distributor.Kind.B_END)
        if t == 0:
            ref.top_distributor = top.pk
            user = get_user_model().objects.create_user("bench-top", "top@bench.invalid", "bench-pass-1")
            channel_services.staff_add(distributor=top, user=user, is_owner=True)
            ref.users["distributor"] = user.username
        for p in range(9):
            province = make(f"省代{t + 1}-{p + 1}", "省代", top, Distributor.Kind.SMALL_B)
            for q in range(10):
                make(f"推广员{t + 1}-{p + 1}-{q + 1}", "推广员", province, Distributor.Kind.PROMOTER)
    for kind in Account.PLATFORM_KINDS:
        ref.platform[kind] = platform_account(kind).pk


def _merchants(ref: Reference, rng: random.Random) -> None:
    from django.contrib.auth import get_user_model

    from redemption import services

    for m in range(200):
        merchant = services.merchant_create(name=f"商户{m + 1}", code=f"bench-{m + 1}")
        stores = [services.store_create(merchant=merchant, name=f"门店{m + 1}-{s + 1}", code=f"b{m + 1}-{s + 1}").pk for s in range(3)]
        ref.merchants.append((merchant.pk, stores))
        if m == 0:
            ref.merchant = merchant.pk
            user = get_user_model().objects.create_user("bench-merchant", "m@bench.invalid", "bench-pass-1")
            services.clerk_link(user=user, merchant=merchant)
            ref.users["merchant"] = user.username
    for sku_id, *_rest in ref.skus:  # each SKU is accepted by ~15 merchants (merchant 1 takes every SKU)
        ref.sku_merchants[sku_id] = [0, *rng.sample(range(1, 200), 14)]


def _campaigns_and_upstreams(ref: Reference, rng: random.Random) -> None:
    from django.utils import timezone

    from catalog.models import Supplier
    from marketing.models import Campaign
    from supply.models import Upstream

    now = timezone.now()
    kinds = [Campaign.Kind.FLASH_SALE, Campaign.Kind.COUPON, Campaign.Kind.NEW_USER, Campaign.Kind.GROUP_BUY, Campaign.Kind.COUPON]
    for index, kind in enumerate(kinds):
        campaign = Campaign.objects.create(
            name=f"bench campaign {index + 1}", kind=kind, status=Campaign.Status.ACTIVE,
            starts_at=now - timedelta(days=95), ends_at=now + timedelta(days=30),
            funding=Campaign.Funding.PLATFORM if index % 2 == 0 else Campaign.Funding.DISTRIBUTOR,
        )  # fmt: skip
        ref.campaigns.append((campaign.pk, campaign.funding == Campaign.Funding.PLATFORM))
    for index in range(3):
        supplier = Supplier.objects.create(name=f"bench top-up supplier {index + 1}")
        upstream = Upstream.objects.create(
            supplier=supplier, protocol=Upstream.Protocol.VOUCHERHUB, base_url=f"http://127.0.0.1:9/{index}",
            app_key=f"bench-{index}", api_secret_sealed=b"", callback_secret_sealed=b"",
        )  # fmt: skip
        ref.upstreams.append(upstream.pk)


# --- Time shape --------------------------------------------------------------------------------------------


def hour_slots(days: int, total: int, shape: list[float], tz: ZoneInfo, now: datetime, rng: random.Random) -> list:
    """[(utc hour start, count)] for the last `days` local days up to `now`, adding up to `total`."""
    today = now.astimezone(tz).date()
    weights = []
    for back in range(days - 1, -1, -1):
        day = today - timedelta(days=back)
        growth = 0.7 + 0.6 * (days - back) / days
        weekend = 1.3 if day.weekday() >= 5 else 1.0
        daily = growth * weekend * rng.uniform(0.9, 1.1)
        for hour in range(24):
            start = datetime(day.year, day.month, day.day, hour, tzinfo=tz).astimezone(UTC)
            if start + timedelta(hours=1) <= now:
                weights.append((start, daily * shape[hour]))
    scale = total / sum(w for _s, w in weights)
    slots, carried = [], 0.0
    for start, weight in weights:
        carried += weight * scale
        count = int(carried)
        carried -= count
        slots.append((start, count))
    slots[-1] = (slots[-1][0], slots[-1][1] + total - sum(c for _s, c in slots))
    return slots


SECONDS = [f"{s // 60:02d}:{s % 60:02d}+00" for s in range(3600)]


def hour_prefix(start: datetime) -> str:
    return start.strftime("%Y-%m-%d %H:")


def times_in(start: datetime, count: int):
    """`count` timestamps (COPY text) spread over the hour starting at `start`."""
    prefix = hour_prefix(start)
    step = 3600 / count if count else 0
    return [prefix + SECONDS[int(i * step)] for i in range(count)]


# --- Order templates ---------------------------------------------------------------------------------------


@dataclass
class Template:
    head: str  # channel .. unit_cost (COPY text, tab-terminated)
    tail: str  # distributor_id .. promotion_id
    total: int
    quantity: int
    pay_method: str
    lines: list  # sale/cost/commission: [(kind, key prefix, [(account, cents)])]
    payer: int
    revenue_back: int  # what a full refund takes off revenue (total)
    shares: list  # (wallet id, depth, cents, rule)


def templates_make(ref: Reference, rng: random.Random, count: int) -> list[Template]:
    sellable = [d for d in ref.distributors]
    storefront_sellers = [d for d in ref.distributors if d[3]]
    sku_weights = [1.0 / (1 + i * 0.15) for i in range(len(ref.skus))]
    result = []
    for _ in range(count):
        channel = rng.choices([c for c, _w in CHANNELS], [w for _c, w in CHANNELS])[0]
        sku = rng.choices(ref.skus, sku_weights)[0]
        seller = rng.choice(storefront_sellers if channel in ("storefront", "campaign") else sellable)
        result.append(_template(ref, rng, channel, sku, seller))
    return result


def _template(ref: Reference, rng: random.Random, channel: str, sku, seller) -> Template:
    sku_id, face, cost, purchase, _topup = sku
    dist_id, level, uplines, storefront = seller
    P = ref.platform
    retail = channel in ("storefront", "campaign")
    quantity = 1 if retail else rng.choice([1, 1, 2, 5, 10, 20, 50])
    unit_price = face if retail else purchase[level]
    list_total = unit_price * quantity
    discount_platform = discount_distributor = 0
    promotion = ""
    if channel == "campaign":
        campaign_id, platform_funded = rng.choice(ref.campaigns)
        promotion = str(campaign_id)
        off = max(100, face // 10)
        discount_platform, discount_distributor = (off, 0) if platform_funded else (0, off)
    total = list_total - discount_platform - discount_distributor
    pay = "sandbox" if retail else "wallet"
    payer = P["payment_clearing"] if retail else ref.wallet_accounts[dist_id]["wallet"]
    sale = [(P["revenue"], total + discount_platform), (payer, -total)]
    if discount_platform:
        sale.append((P["marketing_expense"], -discount_platform))
    lines = [("sale", "sale", sale), ("sale", "cost", [(P["cost_of_goods"], -cost * quantity), (P["supplier_payable"], cost * quantity)])]
    shares = []
    if retail:
        margin = total + discount_platform - purchase[level] * quantity
        if margin > 0:
            shares.append((dist_id, 0, margin, "Retail margin"))
    for depth, (upline, percent) in enumerate(zip(uplines, (3, 1.5), strict=False), start=1):
        shares.append((upline, depth, int(total * percent / 100), f"L{depth} {percent}%"))
    shares = [s for s in shares if s[2] > 0]
    if shares:
        commission = []
        for beneficiary, _depth, amount, _rule in shares:
            commission += [(P["commission_expense"], -amount), (ref.wallet_accounts[beneficiary]["commission_frozen"], amount)]
        lines.append(("commission", "commission", commission))
    head = "\t".join([
        "api" if channel == "api" else ("portal" if channel == "portal" else "storefront"),
        "[" + ", ".join(map(str, uplines)) + "]", "", "", "", str(quantity), "CNY",
        fmt(unit_price), fmt(total), fmt(purchase[level]), fmt(cost),
    ]) + "\t"  # fmt: skip
    tail = "\t".join([
        str(dist_id), str(sku_id), str(storefront) if retail and storefront else "\\N", "", "", "",
        fmt(discount_platform + discount_distributor), fmt(discount_distributor), fmt(discount_platform), fmt(list_total),
        promotion or "\\N",
    ])  # fmt: skip
    wallet_shares = [(ref.wallets[b], d, a, r) for b, d, a, r in shares]
    return Template(head, tail, total, quantity, pay, lines, payer, total, wallet_shares)


# --- The COPY streams --------------------------------------------------------------------------------------

ORDER_COLUMNS = (
    "id, number, channel, chain, campaign, referrer, customer_ref, quantity, currency, unit_price, total, "
    "purchase_unit_price, unit_cost, refunded_amount, refunded_quantity, pay_method, status, hold, risk_outcome, "
    "risk_reasons, contact, contact_key, lookup_password, created_at, paid_at, delivered_at, status_changed_at, "
    "distributor_id, sku_id, storefront_id, topup_account, topup_region, basket, discount, discount_distributor, "
    "discount_platform, list_total, promotion_id"
)
TRANSFER_COLUMNS = "id, kind, key, reference, memo, created_at, order_id"
ENTRY_COLUMNS = "id, amount, currency, balance_after, created_at, account_id, transfer_id"
ACCRUAL_COLUMNS = (
    "id, depth, amount, clawed_back, frozen_remaining, status, release_after, released_at, rule, created_at, order_id, wallet_id"
)
CODE_COLUMNS = (
    "id, ciphertext, key_id, blind_index, hint, serial, expires_at, status, order_ref, created_at, status_changed_at, batch_id, sku_id"
)
REDEMPTION_COLUMNS = (
    "id, channel, status, amount, amount_owed, reference, after_reminder, created_at, reversed_at, reverse_reason, "
    "code_id, merchant_id, sku_id, store_id"
)
RISK_COLUMNS = (
    "created_at, action, outcome, score, reasons, reference, quantity, amount, device, account_id, phone, email, "
    "distributor_id, storefront_id, challenge_passed, extra, counters, review_status, review_note"
)
TOPUP_COLUMNS = (
    "reference, account, region, face_value, status, delivered_value, cost, attempts_count, created_at, finished_at, sku_id, upstream_id"
)


class Streams:
    """One connection per table being copied (a COPY holds its connection), all in replica mode."""

    def __init__(self, dsn: str, tables: dict[str, str]):
        import psycopg

        self.connections, self.copies, self.contexts = [], {}, []
        for table, columns in tables.items():
            conn = psycopg.connect(dsn, autocommit=False)
            conn.execute("SET session_replication_role = replica")
            cursor = conn.cursor()
            context = cursor.copy(f"COPY {table} ({columns}) FROM STDIN")
            self.copies[table] = context.__enter__()
            self.contexts.append(context)
            self.connections.append(conn)

    def write(self, table: str, parts: list[str]) -> None:
        if parts:
            self.copies[table].write("".join(parts))

    def close(self) -> None:
        for context in self.contexts:
            context.__exit__(None, None, None)
        for conn in self.connections:
            conn.commit()
            conn.close()


def next_ids(conn, tables) -> dict[str, int]:
    return {t: conn.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {t}").fetchone()[0] for t in tables}


def orders_load(dsn: str, ref: Reference, orders: int, now: datetime, rng: random.Random, ids: dict) -> dict:
    """Orders, their transfers and entries, and their commission accruals. Returns counts and the balances."""
    tz = ZoneInfo("Asia/Shanghai")
    templates = templates_make(ref, rng, 16384)
    streams = Streams(dsn, {
        "settlement_order": ORDER_COLUMNS, "settlement_transfer": TRANSFER_COLUMNS,
        "settlement_entry": ENTRY_COLUMNS, "settlement_commissionaccrual": ACCRUAL_COLUMNS,
    })  # fmt: skip
    order_id, transfer_id, entry_id, accrual_id = (
        ids[t] for t in ("settlement_order", "settlement_transfer", "settlement_entry", "settlement_commissionaccrual")
    )
    balances: dict[int, int] = {}
    counts = {"orders": 0, "transfers": 0, "entries": 0, "accruals": 0}
    pick = rng.random
    n_templates = len(templates)
    opening = topups_opening(ref, templates, orders)
    for start, count in hour_slots(90, orders, LOCAL_HOURS, tz, now, rng):
        if opening:  # the wallets' bank top-ups, at the first hour
            t_rows, e_rows = [], []
            ts = hour_prefix(start) + SECONDS[0]
            for account, amount in opening:
                t_rows.append(f"{transfer_id}\ttopup\ttopup:bank:{account}:opening\tbench opening\t\t{ts}\t\\N\n")
                for line_account, line_amount in ((ref.platform["bank"], -amount), (account, amount)):
                    balances[line_account] = balances.get(line_account, 0) + line_amount
                    e_rows.append(
                        f"{entry_id}\t{fmt(line_amount)}\tCNY\t{fmt(balances[line_account])}\t{ts}\t{line_account}\t{transfer_id}\n"
                    )
                    entry_id += 1
                transfer_id += 1
            streams.write("settlement_transfer", t_rows)
            streams.write("settlement_entry", e_rows)
            opening = []
        if not count:
            continue
        stamps = times_in(start, count)
        release = hour_prefix(start + timedelta(days=7))
        released = start + timedelta(days=7, hours=1) <= now
        o_rows, t_rows, e_rows, a_rows = [], [], [], []
        for ts in stamps:
            tpl = templates[int(pick() * n_templates)]
            number = f"B{order_id:011d}"
            r = pick()
            if r < REFUND_SHARE:
                back, qty_back, status = tpl.total, tpl.quantity, "refunded"
            elif r < REFUND_SHARE + PARTIAL_SHARE and tpl.quantity > 1:
                qty_back = tpl.quantity // 2
                back, status = tpl.total * qty_back // tpl.quantity, "partially_refunded"
            else:
                back, qty_back, status = 0, 0, "delivered"
            o_rows.append(
                f"{order_id}\t{number}\t{tpl.head}{fmt(back)}\t{qty_back}\t{tpl.pay_method}\t{status}\t\tallow\t[]\t\t\t\t"
                f"{ts}\t{ts}\t{ts}\t{ts}\t{tpl.tail}\n"
            )
            postings = tpl.lines if not back else [*tpl.lines, ("refund", "refund", [(ref.platform["revenue"], -back), (tpl.payer, back)])]
            for kind, prefix, lines in postings:
                key = f"{prefix}:{order_id}:1" if kind == "refund" else f"{prefix}:{order_id}"
                t_rows.append(f"{transfer_id}\t{kind}\t{key}\t{number}\t\t{ts}\t{order_id}\n")
                for account, amount in lines:
                    if amount:
                        balance = balances.get(account, 0) + amount
                        balances[account] = balance
                        e_rows.append(f"{entry_id}\t{fmt(amount)}\tCNY\t{fmt(balance)}\t{ts}\t{account}\t{transfer_id}\n")
                        entry_id += 1
                transfer_id += 1
            for wallet, depth, amount, rule in tpl.shares:
                if released:
                    state = f"0.00\treleased\t{release}{ts[14:]}\t{release}{ts[14:]}"
                else:
                    state = f"{fmt(amount)}\tfrozen\t{release}{ts[14:]}\t\\N"
                a_rows.append(f"{accrual_id}\t{depth}\t{fmt(amount)}\t0.00\t{state}\t{rule}\t{ts}\t{order_id}\t{wallet}\n")
                accrual_id += 1
            order_id += 1
        streams.write("settlement_order", o_rows)
        streams.write("settlement_transfer", t_rows)
        streams.write("settlement_entry", e_rows)
        streams.write("settlement_commissionaccrual", a_rows)
        counts["orders"] += len(o_rows)
        counts["accruals"] += len(a_rows)
    streams.close()
    counts["transfers"] = transfer_id - ids["settlement_transfer"]
    counts["entries"] = entry_id - ids["settlement_entry"]
    counts["balances"] = balances
    return counts


def topups_opening(ref: Reference, templates: list, orders: int) -> list[tuple[int, int]]:
    """(wallet account, cents) of one opening bank top-up per paying wallet: twice its expected spending over the
    load plus 100,000 CNY, so that no wallet goes below its floor (a wallet has no credit by default)."""
    wallet_accounts = {accounts["wallet"] for accounts in ref.wallet_accounts.values()}
    expected: dict[int, float] = {}
    for tpl in templates:
        if tpl.payer in wallet_accounts:
            expected[tpl.payer] = expected.get(tpl.payer, 0) + tpl.total * orders / len(templates)
    return [(account, int(2 * spend) + 10_000_000) for account, spend in expected.items()]


def redemptions_load(dsn: str, ref: Reference, redemptions: int, now: datetime, rng: random.Random, ids: dict) -> dict:
    """Redeemed card codes and their redemptions (1 % reversed), shaped by the stores' busy hours."""
    tz = ZoneInfo("Asia/Shanghai")
    pool = []
    for sku_id, face, _cost, _purchase, topup in ref.skus:
        if topup:
            continue
        for merchant_index in ref.sku_merchants[sku_id]:
            merchant_id, stores = ref.merchants[merchant_index]
            for store in stores:
                pool.append((sku_id, ref.batches[sku_id], merchant_id, store, fmt(face), fmt(face * 85 // 100)))
    streams = Streams(dsn, {"catalog_cardcode": CODE_COLUMNS, "redemption_redemption": REDEMPTION_COLUMNS})
    code_id, redemption_id = ids["catalog_cardcode"], ids["redemption_redemption"]
    pick, n_pool = rng.random, len(pool)
    for start, count in hour_slots(90, redemptions, REDEEM_HOURS, tz, now, rng):
        if not count:
            continue
        expires = (start + timedelta(days=300)).strftime("%Y-%m-%d %H:%M:%S+00")
        c_rows, r_rows = [], []
        for ts in times_in(start, count):
            sku_id, batch, merchant, store, amount, owed = pool[int(pick() * n_pool)]
            c_rows.append(
                f"{code_id}\t\\\\x00\tbench\t{code_id:064x}\t••••\t\t{expires}\tredeemed\tB{code_id:011d}\t{ts}\t{ts}\t{batch}\t{sku_id}\n"
            )
            if pick() < REVERSED_SHARE:
                state = f"reversed\t{amount}\t{owed}\t\tf\t{ts}\t{ts}\tbench reversal"
            else:
                state = f"completed\t{amount}\t{owed}\t\tf\t{ts}\t\\N\t"
            r_rows.append(f"{redemption_id}\tapi\t{state}\t{code_id}\t{merchant}\t{sku_id}\t{store}\n")
            code_id += 1
            redemption_id += 1
        streams.write("catalog_cardcode", c_rows)
        streams.write("redemption_redemption", r_rows)
    streams.close()
    return {"codes": code_id - ids["catalog_cardcode"], "redemptions": redemption_id - ids["redemption_redemption"]}


def side_facts_load(dsn: str, ref: Reference, orders: int, now: datetime, rng: random.Random) -> dict:
    """Risk decisions (2 % of the orders' count: most allowed, some challenged, reviewed or blocked) and direct
    top-ups through the upstreams (1 % of it)."""
    tz = ZoneInfo("Asia/Shanghai")
    streams = Streams(dsn, {"riskcontrol_riskevent": RISK_COLUMNS, "supply_topup": TOPUP_COLUMNS})
    outcomes = ["allow"] * 80 + ["challenge"] * 8 + ["review"] * 5 + ["block"] * 7
    channels = [("storefront", "\\N"), ("portal", "{}"), ("api", "{}")]
    topup_skus = [(s[0], s[1], s[2]) for s in ref.skus if s[4]]
    risk = topups = 0
    for start, count in hour_slots(90, max(orders // 50, 10), LOCAL_HOURS, tz, now, rng):
        rows = []
        for ts in times_in(start, count):
            outcome = rng.choice(outcomes)
            channel = rng.choice(channels)[0]
            dist = rng.choice(ref.distributors)[0]
            rows.append(
                f"{ts}\tpurchase\t{outcome}\t{rng.randint(0, 100)}\t[]\t\t1\t30.00\t\t\t\t\t{dist}\t\\N\tf\t"
                f'{{"channel": "{channel}"}}\t{{}}\t\t\n'
            )
        streams.write("riskcontrol_riskevent", rows)
        risk += len(rows)
    for start, count in hour_slots(90, max(orders // 100, 10), LOCAL_HOURS, tz, now, rng):
        rows = []
        for ts in times_in(start, count):
            sku_id, face, cost = rng.choice(topup_skus)
            status = "success" if rng.random() < 0.94 else rng.choice(["failed", "partial"])
            delivered = fmt(face) if status == "success" else ("0.00" if status == "failed" else fmt(face // 2))
            paid = fmt(cost) if status == "success" else ("0.00" if status == "failed" else fmt(cost // 2))
            rows.append(
                f"T{start:%Y%m%d%H}{topups:09d}\t138{rng.randint(0, 99999999):08d}\t江苏\t{fmt(face)}\t{status}\t{delivered}\t{paid}\t1\t"
                f"{ts}\t{ts}\t{sku_id}\t{rng.choice(ref.upstreams)}\n"
            )
            topups += 1
        streams.write("supply_topup", rows)
    streams.close()
    return {"risk_events": risk, "topups": topups}


def secondary_indexes(conn) -> list[tuple[str, str, str]]:
    """(table, index name, CREATE INDEX statement) of the big tables' indexes that no constraint owns."""
    return conn.execute(
        """
        SELECT i.tablename, i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.tablename = ANY(%s) AND i.schemaname = 'public'
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
        """,
        [BIG_TABLES],
    ).fetchall()


def load(dsn: str, ref: Reference, orders: int, redemptions: int, seed: int = 17) -> dict:
    """The whole load; returns the counts and the seconds of each step."""
    import psycopg

    rng = random.Random(seed)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    conn = psycopg.connect(dsn, autocommit=True)
    ids = next_ids(conn, BIG_TABLES)
    timings, clock = {}, time.monotonic()
    indexes = secondary_indexes(conn)
    for _table, name, _sql in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    timings["drop_indexes_s"] = time.monotonic() - clock
    clock = time.monotonic()
    counts = orders_load(dsn, ref, orders, now, rng, ids)
    timings["orders_ledger_s"] = time.monotonic() - clock
    clock = time.monotonic()
    counts.update(redemptions_load(dsn, ref, redemptions, now, rng, ids))
    timings["redemptions_s"] = time.monotonic() - clock
    clock = time.monotonic()
    counts.update(side_facts_load(dsn, ref, orders, now, rng))
    timings["risk_topups_s"] = time.monotonic() - clock
    clock = time.monotonic()
    balances_set(conn, counts.pop("balances"))
    conn.execute("SET maintenance_work_mem = '1GB'")
    for _table, _name, sql in indexes:
        conn.execute(sql)
    for table in BIG_TABLES:
        conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT coalesce(max(id), 1) FROM {table}))")
    timings["indexes_s"] = time.monotonic() - clock
    clock = time.monotonic()
    conn.execute("VACUUM ANALYZE")
    timings["vacuum_analyze_s"] = time.monotonic() - clock
    conn.close()
    return {**counts, **timings}


def balances_set(conn, balances: dict[int, int]) -> None:
    """The accounts' balances and entry counts as the loaded entries left them (the ledger check's view)."""
    with conn.cursor() as cursor:
        cursor.executemany("UPDATE settlement_account SET balance = %s WHERE id = %s", [(Decimal(c) / 100, a) for a, c in balances.items()])
    conn.execute(
        "UPDATE settlement_account a SET entry_count = s.n FROM "
        "(SELECT account_id, count(*) n FROM settlement_entry GROUP BY account_id) s WHERE s.account_id = a.id"
    )
