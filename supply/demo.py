"""Supply demo data: three upstream suppliers (one per protocol) pointing at the supplier simulator that `make run`
starts on 127.0.0.1:8900, direct top-up SKUs (mobile credit, QQ membership, game credit) with their account
templates and supplier chains. Idempotent: rows that exist are kept.

The secrets are drawn at random the first time and sealed in the database; `run_supplier_simulator` reads the
upstreams that point at it (with their secrets and products) and opens the same accounts, with the faults of
DEMO_FAULTS, so the demo shows failovers, lost callbacks and the poller at work.
"""

import secrets
from decimal import Decimal

from catalog.models import Product, Sku, Supplier
from supply.models import TopupProfile, Upstream, UpstreamProduct

SIMULATOR_URL = "http://127.0.0.1:8900"
PREFIX = {Upstream.Protocol.GATEWAY: "/gateway", Upstream.Protocol.V2: "/v2", Upstream.Protocol.VOUCHERHUB: "/vh"}

# (key, supplier name, contact, protocol, app key, balance, low-balance threshold)
UPSTREAMS = [
    ("gateway", "福禄充值平台（模拟）", "对接群 · 陈工", Upstream.Protocol.GATEWAY, "demo-gw-10086", "5000.00", "500.00"),
    ("v2", "速通话费直充（模拟）", "商务 · 周经理", Upstream.Protocol.V2, "20260801", "3000.00", "300.00"),
    ("vh", "兄弟平台 VoucherHub（模拟）", "运营 · 林小姐", Upstream.Protocol.VOUCHERHUB, "vh-partner-demo", "2000.00", "200.00"),
]
# (product, category (catalog.Product.Category), SKU code, SKU name, face, cost, account kind, regions, on exhausted)
SKUS = [
    ("中国移动话费直充", "topup", "CMCC-TOPUP-50", "中国移动话费 50 元（直充）", "50.00", "49.20", "phone", [], "refund"),
    ("中国移动话费直充", "topup", "CMCC-TOPUP-100", "中国移动话费 100 元（直充）", "100.00", "98.50", "phone", [], "refund"),
    ("QQ会员直充", "topup", "QQ-VIP-M1", "QQ 会员月卡（直充）", "15.00", "12.80", "qq", [], "refund"),
    ("王者荣耀点券直充", "topup", "WZRY-60", "王者荣耀 60 点券（直充）", "6.00", "5.40", "game", ["微信区", "QQ区"], "hold"),
]
# SKU code -> [(upstream key, their product id, cost, position)]: the failover chain
CHAINS = {
    "CMCC-TOPUP-50": [("gateway", "GW-CMCC-50", "49.20", 1), ("v2", "10050", "49.40", 2)],
    "CMCC-TOPUP-100": [("gateway", "GW-CMCC-100", "98.50", 1), ("v2", "10100", "98.80", 2)],
    "QQ-VIP-M1": [("v2", "20015", "12.80", 1), ("vh", "QQ-VIP-M1", "13.20", 2)],
    "WZRY-60": [("gateway", "GW-WZRY-60", "5.40", 1), ("vh", "WZRY-60", "5.60", 2)],
}
# Their product id -> the simulator's faults (supply.simulator.Faults fields): a demo that shows the machinery.
DEMO_FAULTS = {
    "GW-CMCC-50": {"processing_seconds": 3, "failure_rate": 0.15, "callback_lost_rate": 0.1},
    "GW-CMCC-100": {"processing_seconds": 5, "timeout_rate": 0.1, "timeout_sleep": 10},
    "10050": {"processing_seconds": 2, "callback_duplicate_rate": 0.2},
    "10100": {"processing_seconds": 2, "partial_rate": 0.1, "partial_ratio": "0.5"},
    "20015": {"processing_seconds": 1, "failure_rate": 0.1, "callback_out_of_order_rate": 0.2},
    "QQ-VIP-M1": {"processing_seconds": 2},
    "GW-WZRY-60": {"processing_seconds": 2, "failure_rate": 0.3},
    "WZRY-60": {"processing_seconds": 2, "failure_rate": 0.3},
}


def seed(out) -> None:
    upstreams = {key: _upstream(*row) for key, *row in UPSTREAMS}
    made = 0
    for product_name, category, code, name, face, cost, kind, regions, on_exhausted in SKUS:
        sku = Sku.objects.filter(code=code).first()
        if sku is None:
            supplier = upstreams[CHAINS[code][0][0]].supplier
            product, _created = Product.objects.get_or_create(name=product_name, supplier=supplier, defaults={"category": category})
            sku = Sku.objects.create(
                product=product, code=code, name=name, face_value=Decimal(face), cost_price=Decimal(cost), valid_days=1,
                fulfilment=Sku.Fulfilment.TOPUP, low_stock_threshold=0, usage_notes="下单后自动充值到所填账号，一般 1～10 分钟到账。",
            )  # fmt: skip
            made += 1
        TopupProfile.objects.get_or_create(sku=sku, defaults={"account_kind": kind, "regions": regions, "on_exhausted": on_exhausted})
        for key, their_id, their_cost, position in CHAINS[code]:
            UpstreamProduct.objects.get_or_create(
                upstream=upstreams[key], sku=sku, kind=UpstreamProduct.Kind.TOPUP,
                defaults={"their_product_id": their_id, "face_value": sku.face_value, "cost": Decimal(their_cost), "position": position},
            )  # fmt: skip
    out.write(f"demo supply: {len(upstreams)} upstreams at the simulator ({SIMULATOR_URL}), {made} new top-up SKUs")


def _upstream(name, contact, protocol, app_key, balance, threshold) -> Upstream:
    supplier, _created = Supplier.objects.get_or_create(name=name, defaults={"contact": contact})
    upstream = Upstream.objects.filter(supplier=supplier).first()
    if upstream is None:
        upstream = Upstream(
            supplier=supplier,
            protocol=protocol,
            base_url=SIMULATOR_URL + PREFIX[protocol],
            app_key=app_key,
            balance=Decimal(balance),
            low_balance_threshold=Decimal(threshold),
            timeout_seconds=4,
        )
        upstream.secrets_set(api_secret=secrets.token_urlsafe(24), callback_secret=secrets.token_urlsafe(24))
        upstream.save()
    return upstream


def simulator_accounts(*, base_url: str = SIMULATOR_URL) -> list[dict]:
    """The simulator's setup for the upstreams that point at `base_url`: one account per upstream (with its secrets
    and balance) and its products with DEMO_FAULTS. Read by run_supplier_simulator (in its own process)."""
    setups = []
    for upstream in Upstream.objects.filter(base_url__startswith=base_url.rstrip("/")).select_related("supplier"):
        api_secret, callback_secret = upstream.secrets()
        products = [
            {"product_id": product.their_product_id, "face_value": product.face_value, "cost": product.cost,
             "faults": DEMO_FAULTS.get(product.their_product_id, {})}
            for product in UpstreamProduct.objects.filter(upstream=upstream)
        ]  # fmt: skip
        setups.append(
            {
                "name": upstream.supplier.name,
                "app_key": upstream.app_key,
                "secret": api_secret,
                "callback_secret": callback_secret,
                "balance": upstream.balance if upstream.balance is not None else Decimal("10000.00"),
                "products": products,
            }
        )
    return setups
