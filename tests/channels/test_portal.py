import re
from decimal import Decimal
from io import BytesIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from catalog.services import codes_generate
from channels import services
from channels.errors import PriceBelowFloor
from channels.models import ApiKey, Distributor, Invitation, PriceViolation, Quota, Storefront, StorefrontItem
from tests import factories
from voucherhub.core import roles
from voucherhub.core.models import AuditLog


@pytest.fixture
def ops(db):
    return factories.UserFactory(username="ops-portal", role=roles.OPS, is_staff=True)


@pytest.fixture
def top_client(client, tree):
    client.force_login(tree.top_user)
    return client


@pytest.fixture
def stocked(tree, priced, ops):
    services.quota_allocate(distributor=tree.top, sku=priced, quantity=50, actor=ops)
    services.quota_allocate(distributor=tree.neighbour, sku=priced, quantity=50, actor=ops)
    return priced


PAGES = ["portal-home", "portal-downline", "portal-invitations", "portal-prices", "portal-quotas", "portal-storefront", "portal-api-keys"]


@pytest.mark.parametrize("name", PAGES)
def test_every_portal_page_renders_for_a_distributor(top_client, stocked, name):
    response = top_client.get(reverse(f"channels:{name}"))
    assert response.status_code == 200
    assert b'data-testid="portal-nav"' in response.content


@pytest.mark.parametrize("name", PAGES)
def test_portal_pages_need_a_distributor(client, ops, name):
    assert client.get(reverse(f"channels:{name}")).status_code == 302  # to the login page
    client.force_login(ops)
    assert client.get(reverse(f"channels:{name}")).status_code == 403


def test_pending_distributor_waits_for_approval(client, tree):
    user = factories.UserFactory(role=roles.DISTRIBUTOR)
    factories.DistributorFactory(level=tree.promoter, parent=tree.mid, status=Distributor.Status.PENDING, user=user)
    client.force_login(user)
    response = client.get(reverse("channels:portal-home"))
    assert response.status_code == 403
    assert b"distributor-inactive" in response.content


def test_home_shows_level_upline_and_quota(client, tree, stocked):
    client.force_login(tree.mid_user)
    services.quota_transfer(from_distributor=tree.top, to_distributor=tree.mid, sku=stocked, quantity=7)
    body = client.get(reverse("channels:portal-home")).content.decode()
    assert "省代" in body and tree.top.name in body
    assert re.search(r'data-testid="quota-units">\s*7<', body)


def test_team_summary_counts_the_whole_downline(tree):
    from channels import selectors

    factories.DistributorFactory(level=tree.promoter, parent=tree.leaf, status=Distributor.Status.PENDING)
    assert selectors.downline_summary(tree.top) == {"total": 4, "active": 3, "pending": 1, "suspended": 0, "direct": 2}
    assert selectors.downline_summary(tree.mid)["total"] == 2


def test_distributor_lands_on_the_portal(client, tree):
    client.force_login(tree.top_user)
    assert client.get("/").url == reverse("channels:portal-home")


# --- a neighbour's ids -------------------------------------------------------------------------------


def test_a_neighbours_ids_are_404_on_every_portal_page(client, tree, stocked):
    # the neighbour's own objects
    invitation = services.invitation_create(distributor=tree.neighbour, target_level=tree.province)
    neighbour_key, _secret = services.api_key_issue(distributor=tree.neighbour)
    neighbour_quota = Quota.objects.get(distributor=tree.neighbour)
    services.storefront_save(distributor=tree.neighbour, slug="neighbour", title="N")
    neighbour_item = services.storefront_item_set(distributor=tree.neighbour, sku=stocked, retail_price=Decimal("24.00"))
    client.force_login(tree.top_user)

    gets = [
        reverse("channels:portal-downline-detail", args=[tree.neighbour.pk]),
        reverse("channels:portal-downline-detail", args=[tree.neighbour_child.pk]),
        reverse("channels:portal-quota-detail", args=[neighbour_quota.pk]),
    ]
    for url in gets:
        assert client.get(url).status_code == 404, url
    posts = [
        reverse("channels:portal-invitation-revoke", args=[invitation.pk]),
        reverse("channels:portal-api-key-rotate", args=[neighbour_key.pk]),
        reverse("channels:portal-api-key-revoke", args=[neighbour_key.pk]),
        reverse("channels:portal-api-key-allowlist", args=[neighbour_key.pk]),
        reverse("channels:portal-storefront-item-remove", args=[neighbour_item.pk]),
    ]
    for url in posts:
        assert client.post(url).status_code == 404, url
    # passing quota to anyone outside my downline (a neighbour, its child, myself) is a 404 too, and nothing moves
    for other in (tree.neighbour, tree.neighbour_child, tree.top):
        response = client.post(reverse("channels:portal-quotas"), {"to_distributor": other.pk, "sku": stocked.code, "quantity": 1})
        assert response.status_code == 404, other.name
    # nothing of the neighbour changed
    invitation.refresh_from_db()
    neighbour_key.refresh_from_db()
    assert invitation.revoked_at is None and neighbour_key.revoked_at is None
    assert StorefrontItem.objects.filter(pk=neighbour_item.pk).exists()
    assert Quota.objects.get(distributor=tree.neighbour).balance == 50
    # and nothing of the neighbour shows in lists
    for name in PAGES:
        assert tree.neighbour.name not in client.get(reverse(f"channels:{name}")).content.decode()


def test_a_downline_member_cannot_see_its_upline_or_sibling(client, tree, stocked):
    client.force_login(tree.mid_user)
    top_quota = Quota.objects.get(distributor=tree.top)
    assert client.get(reverse("channels:portal-downline-detail", args=[tree.top.pk])).status_code == 404
    assert client.get(reverse("channels:portal-downline-detail", args=[tree.sibling.pk])).status_code == 404
    assert client.get(reverse("channels:portal-downline-detail", args=[tree.leaf.pk])).status_code == 200
    assert client.get(reverse("channels:portal-quota-detail", args=[top_quota.pk])).status_code == 404
    for other in (tree.top, tree.sibling):
        response = client.post(reverse("channels:portal-quotas"), {"to_distributor": other.pk, "sku": stocked.code, "quantity": 1})
        assert response.status_code == 404, other.name


# --- invitations and signup ---------------------------------------------------------------------------


def test_invite_then_sign_up_through_the_link(client, tree):
    client.force_login(tree.mid_user)
    response = client.post(
        reverse("channels:portal-invitations"), {"target_level": tree.promoter.pk, "kind": "promoter", "expires_in_days": 3, "max_uses": 1}
    )
    assert response.status_code == 302
    invitation = Invitation.objects.get(distributor=tree.mid)
    page = client.get(reverse("channels:portal-invitations")).content.decode()
    assert reverse("channels:join", args=[invitation.token]) in page
    # a 省代 may not invite at 总代: the form offers only its own level and below
    refused = client.post(
        reverse("channels:portal-invitations"), {"target_level": tree.general.pk, "kind": "promoter", "expires_in_days": 3, "max_uses": 1}
    )
    assert "target_level" in refused.context["form"].errors

    client.logout()
    join = reverse("channels:join", args=[invitation.token])
    bad = client.post(join, {"name": "", "username": "mid-user", "password1": "short", "password2": "other", "phone": "x", "region": ""})
    errors = bad.context["form"].errors
    assert {"name", "username", "password2", "phone", "region", "contact_name"} <= set(errors)
    good = {
        "name": "温州团长",
        "contact_name": "李四",
        "phone": "138 0000 0000",
        "region": "浙江 / 温州",
        "username": "wenzhou",
        "password1": "Wenzhou-2026-pass",
        "password2": "Wenzhou-2026-pass",
    }
    response = client.post(join, good)
    assert response.url == reverse("channels:portal-home")
    newcomer = Distributor.objects.get(name="温州团长")
    assert (newcomer.parent, newcomer.status) == (tree.mid, Distributor.Status.PENDING)
    assert b"distributor-inactive" in client.get(reverse("channels:portal-home")).content
    # the link is used up now
    client.logout()
    closed = client.get(join)
    assert closed.status_code == 410 and b"invitation-closed" in closed.content
    assert client.get(reverse("channels:join", args=["nope"])).status_code == 404


# --- quotas ----------------------------------------------------------------------------------------------


def test_pass_quota_in_the_portal(top_client, tree, stocked):
    response = top_client.post(reverse("channels:portal-quotas"), {"to_distributor": tree.leaf.pk, "sku": stocked.code, "quantity": 8})
    assert response.status_code == 302
    assert Quota.objects.get(distributor=tree.leaf).balance == 8
    too_much = top_client.post(reverse("channels:portal-quotas"), {"to_distributor": tree.leaf.pk, "sku": stocked.code, "quantity": 43})
    assert "quantity" in too_much.context["form"].errors
    # input that is wrong rather than someone else's stays a form error
    for target, field in (("", "to_distributor"), ("leaf", "to_distributor"), (tree.leaf.pk, "quantity")):
        quantity = 0 if field == "quantity" else 1
        bad = top_client.post(reverse("channels:portal-quotas"), {"to_distributor": target, "sku": stocked.code, "quantity": quantity})
        assert bad.status_code == 200 and field in bad.context["form"].errors, target
    # a member of my downline that is not active cannot take quota: a form error, not a 404
    Distributor.objects.filter(pk=tree.sibling.pk).update(status=Distributor.Status.SUSPENDED)
    suspended = top_client.post(reverse("channels:portal-quotas"), {"to_distributor": tree.sibling.pk, "sku": stocked.code, "quantity": 1})
    assert suspended.status_code == 200 and "to_distributor" in suspended.context["form"].errors
    page = top_client.get(reverse("channels:portal-quotas")).content.decode()
    assert tree.leaf.name in page  # the team table


# --- storefront ------------------------------------------------------------------------------------------


def png() -> bytes:
    from PIL import Image

    buffer = BytesIO()
    Image.new("RGB", (8, 8), "#d63384").save(buffer, "PNG")
    return buffer.getvalue()


def test_storefront_settings_items_and_public_pages(top_client, client, tree, stocked):
    url = reverse("channels:portal-storefront")
    form = {"shop-title": "华东好券", "shop-slug": "hd-shop", "shop-colour": "#0d6efd", "shop-is_open": "on", "shop-tagline": "正品"}
    response = top_client.post(url, {**form, "shop-logo": SimpleUploadedFile("logo.png", png(), "image/png")})
    assert response.status_code == 302
    shop = Storefront.objects.get(distributor=tree.top)
    assert (shop.slug, shop.logo_type) == ("hd-shop", "image/png")
    not_image = top_client.post(url, {**form, "shop-logo": SimpleUploadedFile("logo.png", b"<svg/>", "image/png")})
    assert "logo" in not_image.context["form"].errors
    # below the floor: a form error and a violation
    low = top_client.post(url, {"item-sku": stocked.code, "item-retail_price": "22.50", "item-listed": "on"})
    assert "retail_price" in low.context["item_form"].errors
    assert PriceViolation.objects.get().channel == PriceViolation.Channel.STOREFRONT
    assert top_client.post(url, {"item-sku": stocked.code, "item-retail_price": "24.00", "item-listed": "on"}).status_code == 302
    # the public pages, for anyone
    home = client.get("/s/hd-shop/")
    assert home.status_code == 200 and "华东好券" in home.content.decode() and "24.00" in home.content.decode()
    assert b'data-testid="user-menu"' not in home.content and b"navbar" not in home.content
    product = client.get(f"/s/hd-shop/p/{stocked.code}/")
    assert product.status_code == 200 and "24.00" in product.content.decode()
    assert client.get("/s/hd-shop/logo/")["Content-Type"] == "image/png"
    assert client.get("/s/hd-shop/p/NOT-LISTED/").status_code == 404
    # a raised floor hides the item instead of selling it below the floor
    stocked.price_entries.update(price_floor=Decimal("24.50"), suggested_retail=Decimal("25.00"))
    assert client.get(f"/s/hd-shop/p/{stocked.code}/").status_code == 404
    assert "24.00" not in client.get("/s/hd-shop/").content.decode()
    # a closed shop or a suspended distributor has no public pages
    Storefront.objects.filter(pk=shop.pk).update(is_open=False)
    assert client.get("/s/hd-shop/").status_code == 404


def test_a_sku_of_a_neighbours_exclusive_pool_cannot_be_listed_in_the_portal(top_client, tree, stocked, neighbours_exclusive):
    services.storefront_save(distributor=tree.top, slug="top-shop", title="Top")
    services.storefront_save(distributor=tree.neighbour, slug="neighbour-shop", title="N")
    services.storefront_item_set(distributor=tree.neighbour, sku=neighbours_exclusive, retail_price=Decimal("24.00"))
    url = reverse("channels:portal-storefront")
    page = top_client.get(url).content.decode()
    assert neighbours_exclusive.code not in page  # not offered
    # posted anyway: refused on the SKU field, and nothing is listed
    response = top_client.post(url, {"item-sku": neighbours_exclusive.code, "item-retail_price": "24.00", "item-listed": "on"})
    assert response.status_code == 200 and "sku" in response.context["item_form"].errors
    assert not StorefrontItem.objects.filter(storefront__distributor=tree.top).exists()
    # the neighbour's own storefront still shows it; mine never does
    theirs = top_client.get("/s/neighbour-shop/")
    assert theirs.status_code == 200 and neighbours_exclusive.name in theirs.content.decode()
    assert neighbours_exclusive.name not in top_client.get("/s/top-shop/").content.decode()


def test_storefront_service_refuses_bad_colour_and_empty_name(tree):
    from channels.errors import ChannelError

    for kwargs, field in (({"colour": "red;}body{display:none"}, "colour"), ({"title": "  "}, "title")):
        with pytest.raises(ChannelError) as info:
            services.storefront_save(**{"distributor": tree.top, "slug": "top-shop", "title": "T", **kwargs})
        assert info.value.field == field


def test_slug_rules(top_client, tree):
    services.storefront_save(distributor=tree.neighbour, slug="taken", title="N")
    form = {"shop-title": "T", "shop-colour": "#0d6efd", "shop-is_open": "on"}
    for slug in ("taken", "admin", "x"):
        response = top_client.post(reverse("channels:portal-storefront"), {**form, "shop-slug": slug})
        assert "slug" in response.context["form"].errors, slug


# --- API keys in the portal ------------------------------------------------------------------------------


def test_api_key_secret_is_shown_once(top_client, tree):
    response = top_client.post(reverse("channels:portal-api-keys"), {"label": "ERP", "ip_allowlist": "203.0.113.0/24"})
    key = ApiKey.objects.get(distributor=tree.top)
    secret = response.context["secret"]
    assert secret in response.content.decode()
    assert response["Cache-Control"].startswith("max-age=0") or "no-cache" in response["Cache-Control"]
    assert key.ip_allowlist == ["203.0.113.0/24"]
    listing = top_client.get(reverse("channels:portal-api-keys")).content.decode()
    assert key.key_id in listing and secret not in listing
    bad = top_client.post(reverse("channels:portal-api-keys"), {"label": "x", "ip_allowlist": "not-an-ip"})
    assert "ip_allowlist" in bad.context["form"].errors
    rotated = top_client.post(reverse("channels:portal-api-key-rotate", args=[key.pk]), {"grace": "3600"})
    assert rotated.context["rotated"] == key and rotated.context["secret"] != secret
    key.refresh_from_db()
    assert key.expires_at is not None and key.revoked_at is None
    assert AuditLog.objects.filter(action="apikey.rotate").exists()
    new_key = ApiKey.objects.get(replaces=key)
    top_client.post(reverse("channels:portal-api-key-allowlist", args=[new_key.pk]), {"ip_allowlist": "10.0.0.1\n2001:db8::/32"})
    new_key.refresh_from_db()
    assert new_key.ip_allowlist == ["10.0.0.1/32", "2001:db8::/32"]
    top_client.post(reverse("channels:portal-api-key-allowlist", args=[new_key.pk]), {"ip_allowlist": "nonsense"})
    new_key.refresh_from_db()
    assert new_key.ip_allowlist == ["10.0.0.1/32", "2001:db8::/32"]


def test_portal_speaks_english_too(top_client, stocked):
    body = top_client.get(reverse("channels:portal-home"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Overview" in body and "Quota units" in body
    assert "配额数量" in top_client.get(reverse("channels:portal-home")).content.decode()


# --- ops: traceability and violations ------------------------------------------------------------------------


def test_ops_finds_who_sold_a_code_by_code_or_serial(client, tree, ops, stocked):
    batch = codes_generate(sku=stocked, count=2)
    sold, other = batch.codes.order_by("pk")
    from catalog import vault

    # the plaintext exists only in the test, sealed in the vault
    plaintext = "ABCD-EFGH-2345-6789"
    sealed = vault.seal(plaintext)
    type(sold).objects.filter(pk=sold.pk).update(
        ciphertext=sealed.ciphertext, key_id=sealed.key_id, blind_index=sealed.blind_index, hint=sealed.hint, serial="SN-0001"
    )
    services.code_sale_record(code_ids=[sold.pk], distributor=tree.leaf, order_ref="ORD-77", unit_price="24.00")
    client.force_login(ops)
    for query in ("abcd efgh 2345 6789", "SN-0001"):
        response = client.post(reverse("channels:ops-trace"), {"q": query})
        body = response.content.decode()
        assert response.status_code == 200
        assert tree.leaf.name in body and "ORD-77" in body and tree.mid.name in body  # seller and its upline
        assert plaintext not in body and "ABCDEFGH23456789" not in body
    assert AuditLog.objects.filter(action="codesale.trace").count() == 2
    nothing = client.post(reverse("channels:ops-trace"), {"q": "nothing"})
    assert nothing.context["results"] == [] and 'data-testid="trace-result"' not in nothing.content.decode()
    # distributors cannot trace
    client.force_login(tree.top_user)
    assert client.post(reverse("channels:ops-trace"), {"q": "SN-0001"}).status_code == 403


def test_ops_violations_report(client, tree, ops, stocked):
    for price in ("10.00", "20.00"):
        with pytest.raises(PriceBelowFloor):
            services.retail_price_check(distributor=tree.leaf, sku=stocked, price=Decimal(price))
    client.force_login(ops)
    body = client.get(reverse("channels:ops-violations")).content.decode()
    assert tree.leaf.name in body and "10.00" in body
    client.force_login(tree.top_user)
    assert client.get(reverse("channels:ops-violations")).status_code == 403
