"""Demo catalog: real-looking suppliers, products and SKUs with generated codes in the vault, and a supplier's
file imported by ops (with the two bad rows such files have) so the ops home lists a recent import."""

import secrets
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.utils import timezone

from catalog.importing.jobs import codes_import
from catalog.models import CardCode, ImportJob, Product, Sku, Supplier
from catalog.services import codes_generate

SUPPLIERS = [
    ("华东数字权益有限公司", "王经理", "021-5555-0101"),
    ("优券科技（深圳）有限公司", "李小姐", "0755-5555-0202"),
]

# (supplier index, product, category, sku code, sku name, face, cost, validity days, stored value, codes, low threshold)
CATALOG = [
    (0, "爱奇艺黄金会员", "video", "IQIYI-VIP-M1", "爱奇艺黄金会员月卡", "25.00", "17.50", 365, False, 240, 50),
    (0, "腾讯视频VIP", "video", "TXVIDEO-VIP-M1", "腾讯视频VIP月卡", "30.00", "21.00", 365, False, 180, 50),
    (0, "网易云音乐黑胶VIP", "music", "NETEASE-MUSIC-M1", "网易云音乐黑胶VIP月卡", "15.00", "9.80", 365, False, 30, 40),
    (1, "星巴克饮品券", "coffee", "SBUX-TALL", "星巴克中杯饮品券", "35.00", "26.00", 90, False, 120, 30),
    (1, "瑞幸咖啡饮品券", "coffee", "LUCKIN-ANY", "瑞幸咖啡任意饮品券", "29.00", "12.00", 60, False, 200, 30),
    (1, "万达电影通兑券", "movie", "WANDA-2D", "万达电影2D通兑券", "50.00", "33.00", 180, False, 12, 20),
    (1, "京东E卡", "gift_card", "JD-ECARD-100", "京东E卡100元", "100.00", "97.50", 1095, True, 60, 20),
]


def seed(out) -> None:
    suppliers = []
    for name, contact, phone in SUPPLIERS:
        supplier, _created = Supplier.objects.get_or_create(name=name, defaults={"contact": contact, "phone": phone})
        suppliers.append(supplier)
    made = 0
    for sup, product_name, category, code, sku_name, face, cost, days, stored_value, n_codes, low in CATALOG:
        product, _created = Product.objects.get_or_create(name=product_name, supplier=suppliers[sup], defaults={"category": category})
        sku, created = Sku.objects.get_or_create(
            code=code,
            defaults={
                "product": product,
                "name": sku_name,
                "face_value": Decimal(face),
                "cost_price": Decimal(cost),
                "valid_days": days,
                "is_stored_value": stored_value,
                "fulfilment": Sku.Fulfilment.GENERATED,
                "low_stock_threshold": low,
                "usage_notes": "全国门店通用，不找零，不兑现。",
            },
        )
        if created or not CardCode.objects.filter(sku=sku).exists():
            codes_generate(sku=sku, count=n_codes, label="demo")
            made += n_codes
    # A fixed-window promotion SKU, to show both validity kinds.
    product = Product.objects.get(name="瑞幸咖啡饮品券")
    Sku.objects.get_or_create(
        code="LUCKIN-SPRING",
        defaults={
            "product": product,
            "name": "瑞幸春季限定饮品券",
            "face_value": Decimal("32.00"),
            "cost_price": Decimal("14.00"),
            "validity_kind": Sku.ValidityKind.FIXED,
            "valid_from": timezone.now() - timedelta(days=10),
            "valid_until": timezone.now() + timedelta(days=80),
            "valid_days": None,
            "fulfilment": Sku.Fulfilment.GENERATED,
            "low_stock_threshold": 10,
        },
    )
    made += _supplier_file_import()
    out.write(f"demo catalog: {Sku.objects.count()} SKUs, {made} new codes")


# (SKU, file name as the supplier sent it, good codes, code prefix)
SUPPLIER_FILE = ("TXVIDEO-VIP-M1", "华东数字-腾讯视频月卡-2026-11.csv", 48, "TXV")


def _supplier_file_import() -> int:
    """Import the supplier's CSV as ops would (store the good rows, report the bad): a code repeated in the
    file and one cut short. The file exists only in memory; the vault keeps the codes sealed."""
    sku_code, filename, good, prefix = SUPPLIER_FILE
    sku = Sku.objects.filter(code=sku_code).first()
    if sku is None or ImportJob.objects.filter(filename=filename).exists():
        return 0
    codes = [f"{prefix}{secrets.token_hex(7).upper()}" for _ in range(good)]
    rows = ["卡号,卡密,有效期至"] + [f"SN{7301000 + n},{code},{timezone.localdate() + timedelta(days=365)}" for n, code in enumerate(codes)]
    rows.insert(20, rows[10].replace("SN", "SN9"))  # the same code twice
    rows.append(f"SN{7301000 + good},TXV12")  # too short to be a code
    job = codes_import(
        sku=sku,
        path_or_file=ContentFile("\n".join(rows).encode(), name=filename),
        mode=ImportJob.Mode.VALID,
        actor=get_user_model().objects.filter(username="ops").first(),
    )
    return job.stored_rows
