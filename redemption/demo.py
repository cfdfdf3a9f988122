"""Demo redemption data: merchants with stores and terminals, the `merchant` clerk, sold codes, some redemptions
today and this week (one reversed, a few bad entries refused), and a holder's private link (printed) to show the
consumer's code page, whose soon-expiring coffee voucher has had its expiry reminder."""

import uuid
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from catalog.models import CardCode, Sku
from catalog.services import codes_generate
from redemption import holdings, integrations, reminders, services
from redemption.models import CodeHolding, HolderLink, Merchant, Redemption, Store, Terminal
from voucherhub.core import roles
from voucherhub.core.demo import demo_user

# (merchant, code, stores [(name, code, city, address)], SKUs it honours with its settlement price)
MERCHANTS = [
    (
        "星巴克",
        "starbucks",
        [("上海南京西路店", "sh-nanjingxilu", "上海", "南京西路1266号"), ("北京国贸店", "bj-guomao", "北京", "建国门外大街1号")],
        [("SBUX-TALL", "28.00")],
    ),
    ("万达影城", "wanda-cinema", [("上海五角场店", "sh-wujiaochang", "上海", "邯郸路600号")], [("WANDA-2D", "40.00")]),
    ("京东之家", "jd-home", [("上海徐家汇店", "sh-xujiahui", "上海", "虹桥路1号")], [("JD-ECARD-100", "97.00")]),
]
DEMO_ORDER = "DEMO-HOLDER-1"
DEMO_CONTACT = "13800138000"


def _sold_codes(sku: Sku, count: int) -> list[CardCode]:
    """Take `count` available codes of `sku` (generating more if needed) and mark them sold, as settlement would."""
    available = list(CardCode.objects.filter(sku=sku, status=CardCode.Status.AVAILABLE).order_by("pk")[:count])
    if len(available) < count:
        codes_generate(sku=sku, count=count - len(available) + 10, label="demo redemption")
        available = list(CardCode.objects.filter(sku=sku, status=CardCode.Status.AVAILABLE).order_by("pk")[:count])
    now = timezone.now()
    for code in available:
        integrations.code_status_set(code=code, to_status=CardCode.Status.SOLD, reference="demo", reason="demo sale")
        CardCode.objects.filter(pk=code.pk).update(expires_at=sku.expiry_for_sale(now), order_ref="DEMO")
        code.refresh_from_db()
    return available


def _plaintext(code: CardCode) -> str:
    from catalog import vault

    return vault.keyring().open(ciphertext=code.ciphertext, key_id=code.key_id, blind_index=code.blind_index)


def seed(out) -> None:
    skus = {sku.code: sku for sku in Sku.objects.filter(code__in=[c for m in MERCHANTS for c, _p in m[3]])}
    if not skus:
        out.write("demo redemption: skipped (no demo catalog)")
        return
    for name, code, stores, honoured in MERCHANTS:
        merchant = Merchant.objects.filter(code=code).first() or services.merchant_create(name=name, code=code, phone="400-820-0000")
        for store_name, store_code, city, address in stores:
            store = Store.objects.filter(merchant=merchant, code=store_code).first() or services.store_create(
                merchant=merchant, name=store_name, code=store_code, city=city, address=address
            )
            if not Terminal.objects.filter(store=store).exists():
                services.terminal_create(store=store, name=f"{store_name} POS 1")
        for sku_code, price in honoured:
            sku = skus.get(sku_code)
            if sku is None:
                continue
            if merchant.pk not in (sku.allowed_merchant_ids or []):
                sku.allowed_merchant_ids = [*(sku.allowed_merchant_ids or []), merchant.pk]
                sku.save(update_fields=["allowed_merchant_ids"])
            services.sku_price_set(merchant=merchant, sku=sku, settlement_price=Decimal(price))

    starbucks = Merchant.objects.get(code="starbucks")
    user = demo_user("merchant", roles.MERCHANT)
    if not hasattr(user, "merchant_clerk"):
        services.clerk_link(user=user, merchant=starbucks)

    if not Redemption.objects.filter(merchant=starbucks).exists() and "SBUX-TALL" in skus:
        _redemptions_seed(starbucks, skus["SBUX-TALL"])
    link = HolderLink.objects.filter(order_ref=DEMO_ORDER).first()
    if link is None:
        link = _holder_seed(skus)
        reminders.reminders_send()  # what the hourly job does first: remind the holder of the coffee voucher
    out.write(
        f"demo redemption: {Merchant.objects.count()} merchants, {Store.objects.count()} stores, "
        f"{Redemption.objects.count()} redemptions; clerk login: merchant; a terminal key for the API: "
        "python manage.py issue_terminal_key --merchant starbucks --store sh-nanjingxilu"
    )
    if link is not None:
        out.write(f"demo holder page (private link): {holdings.link_url(link)}")


def _redemptions_seed(merchant: Merchant, sku: Sku) -> None:
    stores = list(merchant.stores.order_by("pk"))
    codes = _sold_codes(sku, 9)
    now = timezone.now()
    callers = [
        services.Caller.for_terminal(Terminal.objects.filter(store=store).select_related("store__merchant").first(), ip="127.0.0.1")
        for store in stores
    ]
    redeemed = []
    for index, code in enumerate(codes):
        outcome = services.redemption_redeem(
            caller=callers[index % len(callers)],
            entry=services.CodeEntry(code=_plaintext(code)),
            idempotency_key=f"demo-{uuid.uuid4().hex}",
            reference=f"POS-{1000 + index}",
        )
        if outcome.redemption is None:
            continue
        redeemed.append(outcome.redemption)
        if index >= 5:  # the rest earlier this week (today, when the week has just begun)
            days_back = min(index - 4, timezone.localdate().weekday())
            Redemption.objects.filter(pk=outcome.redemption.pk).update(created_at=now - timedelta(days=days_back, minutes=index))
    if not redeemed:
        return
    # The customer changed their mind: the store reverses today's latest redemption.
    latest_today = redeemed[:5][-1]
    services.redemption_reverse(
        caller=callers[0], redemption_id=latest_today.pk, idempotency_key=f"demo-{uuid.uuid4().hex}", reason="顾客取消"
    )
    # Bad entries the terminals refused: two mistyped codes, and a code already used.
    used = _plaintext(redeemed[0].code)
    for entry in (used[:-1] + ("0" if used[-1] != "0" else "1"), used[:5] + used[6:], used):
        services.redemption_verify(caller=callers[1 % len(callers)], entry=services.CodeEntry(code=entry))


def _holder_seed(skus: dict) -> HolderLink | None:
    codes = []
    if "SBUX-TALL" in skus:
        codes += _sold_codes(skus["SBUX-TALL"], 2)
    if "JD-ECARD-100" in skus:
        codes += _sold_codes(skus["JD-ECARD-100"], 1)
    if "WANDA-2D" in skus:
        codes += _sold_codes(skus["WANDA-2D"], 1)
    if not codes:
        return None
    # One coffee voucher expires soon, so the reminder job has something to send.
    CardCode.objects.filter(pk=codes[0].pk).update(expires_at=timezone.now() + timedelta(days=5))
    holdings.holding_create(code_ids=[c.pk for c in codes], contact=DEMO_CONTACT, order_ref=DEMO_ORDER)
    return CodeHolding.objects.filter(code=codes[0]).select_related("link").first().link
