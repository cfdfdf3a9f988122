"""The storefront as a shopper sees it: pictures or a placeholder, stock state, categories and search past 8
products, a footer with order lookup and support contact, a language switch, and usage text per product kind."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from catalog.models import CardCode, Product
from catalog.services import codes_generate
from channels.models import PriceEntry, StorefrontItem
from tests import factories
from tests.settlement.conftest import tree  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


def shop(client, tree, **params):  # noqa: F811
    return client.get(reverse("channels:shop", args=[tree.storefront.slug]), params, HTTP_ACCEPT_LANGUAGE="en")


def png_bytes() -> bytes:
    from io import BytesIO

    from PIL import Image

    buffer = BytesIO()
    Image.new("RGB", (8, 6), (200, 30, 60)).save(buffer, format="PNG")
    return buffer.getvalue()


def add_item(tree, *, name, category, codes=12):  # noqa: F811
    sku = factories.SkuFactory(name=name, product__category=category, face_value=Decimal("30.00"), cost_price=Decimal("20.00"))
    for level, purchase in ((tree.top.level, "24.00"), (tree.mid.level, "25.00"), (tree.seller.level, "26.00")):
        PriceEntry.objects.create(
            level=level, sku=sku, purchase_price=Decimal(purchase), suggested_retail=Decimal("29.90"), price_floor=Decimal("27.00")
        )
    StorefrontItem.objects.create(storefront=tree.storefront, sku=sku, retail_price=Decimal("29.90"))
    if codes:
        codes_generate(sku=sku, count=codes)
    return sku


def test_a_product_without_a_picture_gets_a_placeholder_and_one_with_a_picture_shows_it(client, tree, settings, tmp_path):  # noqa: F811
    settings.MEDIA_ROOT = tmp_path
    html = shop(client, tree).content.decode()
    assert 'data-testid="product-placeholder"' in html and "vh-cat-" in html
    product = tree.sku.product
    product.image = SimpleUploadedFile("cover.png", png_bytes(), content_type="image/png")
    product.full_clean()
    product.save()
    html = shop(client, tree).content.decode()
    assert f'src="/media/{product.image.name}"' in html and 'data-testid="product-placeholder"' not in html
    served = client.get(f"/media/{product.image.name}")
    assert served.status_code == 200 and b"".join(served.streaming_content) == png_bytes()


def test_a_product_picture_must_be_a_small_image(tree, settings):  # noqa: F811
    settings.LANGUAGE_CODE = "en"
    product = tree.sku.product
    product.image = SimpleUploadedFile("cover.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", content_type="image/svg+xml")
    with pytest.raises(ValidationError) as refused:
        product.full_clean()
    assert "image" in refused.value.message_dict
    product.image = SimpleUploadedFile("cover.png", png_bytes() + b"\0" * (2 * 1024 * 1024), content_type="image/png")
    with pytest.raises(ValidationError) as refused:
        product.full_clean()
    assert "larger than 2 MB" in str(refused.value.message_dict["image"])


def test_stock_state_in_stock_few_left_and_sold_out(client, tree):  # noqa: F811
    few = add_item(tree, name="Few left card", category=Product.Category.COFFEE, codes=3)
    gone = add_item(tree, name="Gone card", category=Product.Category.DINING, codes=1)
    CardCode.objects.filter(sku=gone).update(status=CardCode.Status.SOLD)
    html = shop(client, tree).content.decode()
    assert html.count('data-state="in_stock"') == 1  # the tree's SKU: 30 codes
    assert html.count('data-state="few_left"') == 1 and "Only a few left" in html
    assert html.count('data-state="sold_out"') == 1 and "Sold out" in html
    assert ">3<" not in html  # never the count itself
    product = client.get(reverse("channels:shop-product", args=[tree.storefront.slug, gone.code]), HTTP_ACCEPT_LANGUAGE="en")
    page = product.content.decode()
    assert "disabled" in page and reverse("settlement:checkout", args=[tree.storefront.slug, gone.code]) not in page
    assert few.code in shop(client, tree).content.decode()


def test_search_and_categories_appear_past_eight_products_and_filter(client, tree):  # noqa: F811
    for n in range(7):
        add_item(tree, name=f"Latte voucher {n}", category=Product.Category.COFFEE, codes=0)
    html = shop(client, tree).content.decode()
    assert 'data-testid="shop-search"' not in html  # 8 products: no search yet
    add_item(tree, name="Hotpot for two", category=Product.Category.DINING, codes=0)
    html = shop(client, tree).content.decode()
    assert 'data-testid="shop-search"' in html and 'data-testid="category-coffee"' in html and 'data-testid="category-dining"' in html
    found = shop(client, tree, q="hotpot")
    assert [r.item.sku.name for r in found.context["rows"]] == ["Hotpot for two"]
    coffee = shop(client, tree, c="coffee")
    assert len(coffee.context["rows"]) == 7
    nothing = shop(client, tree, q="caviar").content.decode()
    assert "No product matches" in nothing
    assert shop(client, tree, c="<script>").context["shelf"].category == ""


def test_footer_has_the_order_lookup_the_support_contact_and_a_language_switch(client, tree):  # noqa: F811
    tree.storefront.support_contact = "WeChat: xiaodian-kefu"
    tree.storefront.save()
    html = shop(client, tree).content.decode()
    assert f'href="{reverse("settlement:order-lookup")}"' in html and "WeChat: xiaodian-kefu" in html
    assert 'data-testid="language-switcher"' in html
    # each language by its own name, also in Chinese mode
    chinese = client.get(reverse("channels:shop", args=[tree.storefront.slug]), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert ">English</option>" in chinese and ">简体中文</option>" in chinese and "英语" not in chinese


@pytest.mark.parametrize(
    "category, says, never",
    [
        (Product.Category.VIDEO, "Redeem a code", "at the counter"),
        (Product.Category.COFFEE, "at the counter", "Redeem a code"),
    ],
)
def test_usage_text_fits_the_product_kind(client, tree, category, says, never):  # noqa: F811
    Product.objects.filter(pk=tree.sku.product_id).update(category=category)
    page = client.get(reverse("channels:shop-product", args=[tree.storefront.slug, tree.sku.code]), HTTP_ACCEPT_LANGUAGE="en")
    how = page.content.decode().split('data-testid="how-to-use"')[1].split("</dd>")[0]
    assert says in how and never not in how


def test_the_private_code_page_of_a_video_membership_does_not_say_show_it_at_the_counter(client, tree):  # noqa: F811
    import re

    Product.objects.filter(pk=tree.sku.product_id).update(category=Product.Category.VIDEO)
    checkout = reverse("settlement:checkout", args=[tree.storefront.slug, tree.sku.code])
    body = {"quantity": 1, "contact": "buyer@example.test", "lookup_password": "secret-123", "pay_method": "sandbox"}
    pay = client.post(checkout, body)
    receipt = client.post(pay["Location"], {"result": "pay"})
    html = client.get(receipt["Location"]).content.decode()
    link = re.search(r'href="([^"]*/my/[^"]+)"', html).group(1).replace("http://127.0.0.1:8000", "")
    page = client.get(link, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Show this QR code at the counter" not in page and 'data-testid="qr-folded"' in page
    assert "Redeem a code" in page
