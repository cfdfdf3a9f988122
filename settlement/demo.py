"""Settlement demo data: funded wallets, paid orders through the portal, the API and the storefront, frozen and
released commission, a pending withdrawal, a bank transfer to confirm, a refund to pay back by hand, statements of
both demo distributors and of the merchant, and a finished export — so the finance dashboard, its queues and the
portal show real numbers. Idempotent: nothing is added when the demo orders exist."""

from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone

from catalog.models import Sku
from channels.models import Distributor, Storefront
from redemption.models import Merchant
from settlement.adapters import ADAPTERS
from settlement.models import CommissionAccrual, ExportJob, Order
from settlement.selectors.wallets import wallet_summary
from settlement.services.commission import commission_release
from settlement.services.exports import export_start
from settlement.services.merchant_statements import merchant_statement_generate
from settlement.services.orders import order_place, order_refund
from settlement.services.payments import payment_callback_receive, payment_confirm_manual, payment_for_order, payment_for_topup
from settlement.services.statements import statement_generate
from settlement.services.wallets import wallet_credit_limit_set, wallet_for, wallet_topup_record
from settlement.services.withdrawals import withdrawal_request
from voucherhub.core.errors import DomainError

LOOKUP_PASSWORD = "demo-lookup"


# Direct top-ups the demo distributors order (SKU code, account, region): submitted to the supplier simulator
# once `make run` has the job cluster and the simulator up, so the supply pages fill within a minute.
TOPUPS = [
    ("CMCC-TOPUP-50", "13912345678", ""),
    ("CMCC-TOPUP-50", "13588886666", ""),
    ("CMCC-TOPUP-100", "13700001234", ""),
    ("CMCC-TOPUP-100", "15900005678", ""),
    ("QQ-VIP-M1", "284710396", ""),
    ("QQ-VIP-M1", "10086123", ""),
    ("WZRY-60", "wzry_player_01", "微信区"),
    ("WZRY-60", "wzry_player_02", "QQ区"),
]


def _topup_orders(zj: Distributor, top: Distributor) -> None:
    """Top-up orders through the portal (浙江省代) and the API (总代's ERP): paid from the wallet, held until the
    supplier's outcome (supply tops the account up; settlement books or refunds it when told)."""
    for n, (code, account, region) in enumerate(TOPUPS, start=1):
        sku = Sku.objects.filter(code=code).first()
        if sku is None:
            continue
        api = n % 2 == 0
        order_place(
            channel=Order.Channel.API if api else Order.Channel.PORTAL,
            distributor=top if api else zj,
            sku=sku,
            quantity=1,
            account=account,
            region=region,
            customer_ref=f"ERP-TOPUP-{n:03d}" if api else "",
            idempotency_key=f"demo-topup-{n}" if api else None,
            campaign="demo",
        )


def _orders(out, *, finance, top: Distributor, zj: Distributor, skus: dict) -> list[Order]:
    """The demo's orders through every way in (portal, API, storefront, bank transfer, top-ups)."""
    made = []
    try:
        # 浙江省代 buys for resale in the portal (from its quota): its upline earns commission
        for code in ("IQIYI-VIP-M1", "TXVIDEO-VIP-M1"):
            made.append(order_place(channel=Order.Channel.PORTAL, distributor=zj, sku=skus[code], quantity=100, campaign="demo"))
        # 总代's ERP orders through the signed API on behalf of a customer
        made.append(
            order_place(
                channel=Order.Channel.API,
                distributor=top,
                sku=skus["LUCKIN-ANY"],
                quantity=2,
                customer_ref="ERP-10086",
                idempotency_key="demo-api-1",
                campaign="demo",
            )
        )
        # a consumer buys on the storefront /s/demo/ and pays in the sandbox
        shop = Storefront.objects.filter(distributor=top).first()
        consumer = order_place(
            channel=Order.Channel.STOREFRONT,
            distributor=top,
            storefront=shop,
            sku=skus["SBUX-TALL"],
            quantity=1,
            contact="buyer@example.com",
            lookup_password=LOOKUP_PASSWORD,
            pay_method="sandbox",
            campaign="demo",
        )
        sandbox = ADAPTERS["sandbox"]
        payment = payment_for_order(order=consumer)
        body = sandbox.callback_body(
            event_id=f"demo-{payment.number}", event_type="payment.succeeded", payment_number=payment.number, amount=payment.amount
        )
        payment_callback_receive(adapter_name="sandbox", body=body, headers={sandbox.SIGNATURE_HEADER: sandbox.sign(body)})
        made.append(consumer)
        # another consumer pays by bank transfer, which finance confirms; then the buyer asks for the money back,
        # which finance pays back by hand (the refund payouts queue)
        twice = order_place(
            channel=Order.Channel.STOREFRONT,
            distributor=top,
            storefront=shop,
            sku=skus["IQIYI-VIP-M1"],
            quantity=1,
            contact="li.na@example.com",
            lookup_password=LOOKUP_PASSWORD,
            pay_method="manual",
            campaign="demo",
        )
        payment_confirm_manual(payment=payment_for_order(order=twice), actor=finance, amount=twice.total, bank_reference="DEMO-BANK-0003")
        order_refund(order=twice, actor=finance, reason="买家重复购买，申请退款")
        _topup_orders(zj, top)
    except DomainError as error:
        out.write(f"demo settlement: an order was refused ({error.message}); continuing with what was made")
    return made


def _money_after(made: list[Order], *, finance, top_wallet, zj_wallet) -> None:
    """What finance finds afterwards: released commission, a withdrawal and a bank transfer to confirm,
    statements, a merchant statement and a finished export."""
    # the first portal order's commission is released (as if its freeze ended); a withdrawal waits for finance
    for accrual in CommissionAccrual.objects.filter(order__in=made[:2], status=CommissionAccrual.Status.FROZEN):
        commission_release(accrual=accrual, reason="demo")
    available = wallet_summary(top_wallet).commission_available
    if available >= Decimal("100.00"):
        withdrawal_request(wallet=top_wallet, amount=Decimal("100.00"), payee="招商银行 6225 8801 2345 6789 陈总", actor=None)
    # 浙江省代 tops its wallet up by bank transfer: the transfer waits for finance to see it on the bank statement
    payment_for_topup(wallet=zj_wallet, amount=Decimal("2000.00"), adapter="manual")
    now = timezone.now()
    for wallet in (zj_wallet, top_wallet):
        statement_generate(wallet=wallet, start=now - timedelta(days=1), end=now + timedelta(minutes=1), actor=finance)
    starbucks = Merchant.objects.filter(code="starbucks").first()
    if starbucks is not None:
        today = timezone.localdate()
        merchant_statement_generate(merchant=starbucks, start=today - timedelta(days=6), end=today, actor=finance)
    export_start(
        kind=ExportJob.Kind.ORDERS,
        fmt=ExportJob.Format.XLSX,
        actor=finance,
        params={"start": (now - timedelta(days=1)).isoformat(), "end": (now + timedelta(minutes=1)).isoformat()},
        run_now=True,
    )


def seed(out) -> None:
    if Order.objects.filter(campaign="demo").exists():
        out.write("demo settlement: already there")
        return
    finance = get_user_model().objects.filter(username="finance").first()
    top = Distributor.objects.filter(name="华东优选总代理").first()
    zj = Distributor.objects.filter(name="浙江省代·杭州悦享").first()
    skus = {code: Sku.objects.filter(code=code).first() for code in ("IQIYI-VIP-M1", "TXVIDEO-VIP-M1", "SBUX-TALL", "LUCKIN-ANY")}
    if finance is None or top is None or zj is None or not all(skus.values()):
        out.write("demo settlement: skipped (needs the core, catalog and channels demo)")
        return
    top_wallet, zj_wallet = wallet_for(top), wallet_for(zj)
    wallet_topup_record(wallet=top_wallet, amount=Decimal("3000.00"), actor=finance, reference="DEMO-BANK-0001", note="demo")
    wallet_topup_record(wallet=zj_wallet, amount=Decimal("5000.00"), actor=finance, reference="DEMO-BANK-0002", note="demo")
    wallet_credit_limit_set(wallet=zj_wallet, credit_limit=Decimal("1000.00"), actor=finance, reason="演示：回款记录良好")

    made = _orders(out, finance=finance, top=top, zj=zj, skus=skus)
    _money_after(made, finance=finance, top_wallet=top_wallet, zj_wallet=zj_wallet)
    numbers = ", ".join(o.number for o in made)
    out.write(
        f"demo settlement: orders {numbers}; consumer lookup: {made[-1].number if made else '-'} + buyer@example.com + "
        f"{LOOKUP_PASSWORD}; finance dashboard /dashboards/finance/ (login `finance`)"
    )
