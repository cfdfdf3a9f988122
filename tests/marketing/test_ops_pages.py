"""Ops' campaign pages: a form per kind whose bad input comes back on its field with nothing written, the preview's
numbers, state changes that are audited, and who may open what."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from marketing.models import Campaign, FlashSlot
from tests.marketing.ops_setup import campaign, local_input, sku_priced
from voucherhub.core.models import AuditLog

pytestmark = pytest.mark.django_db


def schedule(days: int = 7) -> dict:
    now = timezone.now()
    return {"starts_at": local_input(now + timedelta(hours=1)), "ends_at": local_input(now + timedelta(days=days))}


def post_new(client, kind: str, data: dict, **extra):
    body = {"kind": kind, "name": "双十二", "budget_kind": "none", "funding": "platform", **schedule(), **data}
    return client.post(reverse("marketing:ops-campaign-new") + f"?kind={kind}", body, HTTP_ACCEPT_LANGUAGE="en", **extra)


def field_errors(response) -> dict:
    form = response.context["form"]
    return {name: [str(e) for e in errors] for name, errors in form.errors.items()}


# kind, what is typed, the field that must carry the error
BAD_INPUT = [
    ("flash_sale", {"price": "9.90", "per_consumer_limit": "1", "payment_minutes": "15"}, "sku"),
    ("new_user", {"sku": "", "price": ""}, "sku"),
    ("coupon", {"discount_kind": "percent", "discount_percent": "1.5000", "per_consumer_limit": "1"}, "discount_percent"),
    ("coupon", {"discount_kind": "", "per_consumer_limit": "1"}, "discount_kind"),
    ("group_buy", {"price": "19.00", "group_size": "1", "group_hours": "24", "per_consumer_limit": "1"}, "group_size"),
    ("referral", {"refund_window_days": "7"}, "reward_campaign"),
    ("targeted", {"discount_kind": "fixed", "discount_amount": ""}, "discount_amount"),
    ("bundle", {"per_consumer_limit": "1", "price": ""}, "price"),
]


@pytest.mark.parametrize(("kind", "data", "field"), BAD_INPUT)
def test_bad_input_of_each_kind_comes_back_on_its_field_and_nothing_is_written(ops_client, kind, data, field):
    rows = {"rows-TOTAL_FORMS": "0", "rows-INITIAL_FORMS": "0"} if kind in ("flash_sale", "bundle") else {}
    sku = sku_priced()
    if "sku" in data or kind in ("flash_sale", "group_buy"):
        data = {**data, "sku": data.get("sku", "" if kind == "flash_sale" else sku.pk)}
    response = post_new(ops_client, kind, {**data, **rows})
    assert response.status_code == 200
    assert field in field_errors(response), field_errors(response)
    assert not Campaign.objects.exists()
    assert not AuditLog.objects.filter(action__startswith="marketing.").exists()


def test_the_end_before_the_start_is_refused_on_the_end(ops_client):
    now = timezone.now()
    data = {"discount_kind": "fixed", "discount_amount": "10.00", "per_consumer_limit": "1"}
    response = post_new(ops_client, "coupon", {**data, "starts_at": local_input(now + timedelta(days=2)), "ends_at": local_input(now)})
    assert "ends_at" in field_errors(response)
    assert not Campaign.objects.exists()


def test_a_form_shows_only_its_kinds_fields(ops_client):
    coupon_page = ops_client.get(reverse("marketing:ops-campaign-new"), {"kind": "coupon"}).content.decode()
    group_page = ops_client.get(reverse("marketing:ops-campaign-new"), {"kind": "group_buy"}).content.decode()
    assert 'name="discount_percent"' in coupon_page and 'name="group_size"' not in coupon_page
    assert 'name="group_size"' in group_page and 'name="discount_percent"' not in group_page


def test_a_coupon_campaign_is_created_as_a_draft_and_audited(ops_client, ops_user):
    data = {"discount_kind": "fixed", "discount_amount": "10.00", "min_spend": "50.00", "coupons_total": "100", "per_consumer_limit": "1"}
    response = post_new(ops_client, "coupon", {**data, "budget_kind": "money", "budget_amount": "1000.00"})
    created = Campaign.objects.get()
    assert response.status_code == 302 and response.url == reverse("marketing:ops-campaign", args=[created.pk])
    assert created.status == Campaign.Status.DRAFT and created.discount_amount == Decimal("10.00")
    assert created.created_by == ops_user and created.budget_amount == Decimal("1000.00")
    assert AuditLog.objects.filter(action="marketing.campaign.create", actor=ops_user).count() == 1


def test_a_flash_sale_is_created_with_its_slots(ops_client):
    sku, now = sku_priced(), timezone.now()
    rows = {
        "rows-TOTAL_FORMS": "2",
        "rows-INITIAL_FORMS": "0",
        "rows-0-starts_at": local_input(now + timedelta(hours=2)),
        "rows-0-ends_at": local_input(now + timedelta(hours=3)),
        "rows-0-stock": "100",
        "rows-1-starts_at": "",
        "rows-1-ends_at": "",
        "rows-1-stock": "",
    }
    post_new(ops_client, "flash_sale", {"sku": sku.pk, "price": "9.90", "per_consumer_limit": "1", "payment_minutes": "5", **rows})
    flash = Campaign.objects.get()
    assert flash.kind == Campaign.Kind.FLASH_SALE and flash.price == Decimal("9.90")
    assert list(FlashSlot.objects.filter(campaign=flash).values_list("stock", flat=True)) == [100]


def test_the_preview_shows_the_price_effect_and_writes_nothing(ops_client):
    # a SKU of face value ¥30.00 costing ¥20.00 at ¥19.90 in a flash sale with a ¥100.00 budget
    sku = sku_priced(face_value="30.00", cost_price="20.00")
    data = {"sku": sku.pk, "price": "19.90", "per_consumer_limit": "1", "payment_minutes": "15", "budget_kind": "money"}
    rows = {"rows-TOTAL_FORMS": "0", "rows-INITIAL_FORMS": "0"}
    response = post_new(ops_client, "flash_sale", {**data, "budget_amount": "100.00", "preview": "1", **rows})
    preview = response.context["preview"]
    assert (preview.list_price, preview.campaign_price, preview.discount) == (Decimal("30.00"), Decimal("19.90"), Decimal("10.10"))
    assert preview.discount_rate == Decimal("0.3367")
    assert preview.floor == Decimal("20.00") and preview.below_floor  # a platform campaign: against the cost price
    assert preview.budget_orders == 9  # ¥100.00 / ¥10.10 per order
    body = response.content.decode()
    assert 'data-testid="campaign-preview"' in body and "¥19.90" in body and "¥30.00" in body
    assert not Campaign.objects.exists()


def test_a_percentage_coupons_preview_caps_the_discount(ops_client):
    sku = sku_priced(face_value="200.00", cost_price="150.00", floor="160.00")
    data = {"discount_kind": "percent", "discount_percent": "0.2000", "discount_cap": "30.00", "min_spend": "100.00", "sku_ids": [sku.pk]}
    budget = {"budget_kind": "count", "budget_count": "50"}
    response = post_new(ops_client, "coupon", {**data, **budget, "per_consumer_limit": "1", "preview": "1"})
    preview = response.context["preview"]
    assert (preview.list_price, preview.discount, preview.campaign_price) == (Decimal("200.00"), Decimal("30.00"), Decimal("170.00"))
    assert preview.budget_orders == 50


def test_activate_pause_resume_and_end_are_audited(ops_client, ops_user):
    coupon = campaign(discount_kind="fixed", discount_amount=Decimal("5.00"))
    url = reverse("marketing:ops-campaign-state", args=[coupon.pk])
    for to, status in (("activate", "active"), ("pause", "paused"), ("resume", "active"), ("end", "ended")):
        ops_client.post(url, {"to": to})
        coupon.refresh_from_db()
        assert coupon.status == status
    entries = AuditLog.objects.filter(object_id=str(coupon.pk), action__startswith="marketing.campaign.").order_by("pk")
    actions = list(entries.values_list("action", flat=True))
    assert actions == ["marketing.campaign.activate", "marketing.campaign.pause", "marketing.campaign.activate", "marketing.campaign.end"]
    assert set(AuditLog.objects.filter(action__startswith="marketing.campaign.").values_list("actor", flat=True)) == {ops_user.pk}


def test_a_refused_state_change_says_why_and_changes_nothing(ops_client):
    ended = campaign(status=Campaign.Status.ENDED, discount_kind="fixed", discount_amount=Decimal("5.00"))
    response = ops_client.post(reverse("marketing:ops-campaign-state", args=[ended.pk]), {"to": "activate"}, follow=True)
    ended.refresh_from_db()
    assert ended.status == Campaign.Status.ENDED
    assert [m.level_tag for m in response.context["messages"]] == ["error"]


def test_finance_reads_campaigns_and_results_but_changes_nothing(finance_client):
    coupon = campaign(discount_kind="fixed", discount_amount=Decimal("5.00"))
    assert finance_client.get(reverse("marketing:ops-campaigns")).status_code == 200
    assert finance_client.get(reverse("marketing:ops-results", args=[coupon.pk])).status_code == 200
    assert finance_client.get(reverse("marketing:ops-campaign-new"), {"kind": "coupon"}).status_code == 403
    assert finance_client.post(reverse("marketing:ops-campaign-state", args=[coupon.pk]), {"to": "activate"}).status_code == 403
    coupon.refresh_from_db()
    assert coupon.status == Campaign.Status.DRAFT


def test_a_distributor_cannot_open_ops_pages(client):
    from tests.marketing.ops_setup import distributor_with_shop

    user, _distributor, _shop = distributor_with_shop(username="shopper-d", slug="shop-d")
    client.force_login(user)
    coupon = campaign()
    for url in (reverse("marketing:ops-campaigns"), reverse("marketing:ops-results", args=[coupon.pk])):
        assert client.get(url).status_code == 403


def test_the_list_filters_by_kind_and_status_and_shows_labels(ops_client):
    campaign(name="满减券", kind=Campaign.Kind.COUPON, status=Campaign.Status.ACTIVE)
    campaign(name="拼团", kind=Campaign.Kind.GROUP_BUY)
    body = ops_client.get(reverse("marketing:ops-campaigns"), {"kind": "coupon"}, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "满减券" in body and "拼团</a>" not in body
    assert ">active<" not in body and "coupon<" not in body.split("<tbody>")[1]


def bundle_rows(first, second, first_share: str, second_share: str) -> dict:
    return {
        "rows-TOTAL_FORMS": "3",
        "rows-INITIAL_FORMS": "0",
        **{"rows-0-sku": first.pk, "rows-0-quantity": "1", "rows-0-revenue_share": first_share},
        **{"rows-1-sku": second.pk, "rows-1-quantity": "1", "rows-1-revenue_share": second_share},
        **{"rows-2-sku": "", "rows-2-quantity": "1", "rows-2-revenue_share": ""},
    }


def test_a_bundle_whose_shares_miss_its_price_is_refused_whole(ops_client):
    video, coffee = sku_priced(face_value="30.00"), sku_priced(face_value="35.00")
    response = post_new(ops_client, "bundle", {"price": "49.00", "per_consumer_limit": "1", **bundle_rows(video, coffee, "24.00", "20.00")})
    assert response.status_code == 200
    assert "¥44.00" in " ".join(response.context["form"].non_field_errors())
    assert not Campaign.objects.exists()


def test_a_bundle_is_saved_with_its_components(ops_client):
    from marketing.models import BundleItem

    video, coffee = sku_priced(face_value="30.00"), sku_priced(face_value="35.00")
    post_new(ops_client, "bundle", {"price": "49.00", "per_consumer_limit": "1", **bundle_rows(video, coffee, "24.00", "25.00")})
    bundle = Campaign.objects.get()
    shares = sorted(BundleItem.objects.filter(campaign=bundle).values_list("revenue_share", flat=True))
    assert shares == [Decimal("24.00"), Decimal("25.00")]
    assert AuditLog.objects.filter(action="marketing.campaign.bundle", object_id=str(bundle.pk)).exists()


def test_the_marketing_jobs_are_scheduled_once_each_with_functions_that_exist():
    from importlib import import_module

    from django_q.models import Schedule

    from marketing.ops_setup import schedules_ensure

    first, second = schedules_ensure(), schedules_ensure()
    assert first == second and "marketing.tasks.campaigns_end_due_task" in first
    # targeted issuance keeps its own "marketing: ..." schedule (marketing/issuance_setup.py)
    rows = Schedule.objects.filter(name__startswith="marketing:").exclude(func="marketing.tasks_issuance.issuance_notices_retry_task")
    assert rows.count() == len(first) == len({row.func for row in rows})
    for row in rows:
        module, _dot, name = row.func.rpartition(".")
        assert callable(getattr(import_module(module), name))


def test_old_sign_in_codes_are_purged_by_a_daily_schedule():
    from django_q.models import Schedule

    from marketing import tasks
    from marketing.ops_setup import schedules_ensure

    schedules_ensure()
    row = Schedule.objects.get(func="marketing.tasks.phone_codes_purge_task")
    assert row.schedule_type == Schedule.DAILY and row.repeats == -1
    assert [tasks.phone_codes_purge_task(), tasks.phone_codes_purge_task()] == [0, 0]
    minutely = Schedule.objects.get(func="marketing.tasks.campaigns_end_due_task")
    assert (minutely.schedule_type, minutely.minutes) == (Schedule.MINUTES, 1)


def test_the_roles_hold_their_marketing_permissions(ops_user, finance_user):
    from voucherhub.core.roles import roles_sync

    roles_sync()
    ops_user = type(ops_user).objects.get(pk=ops_user.pk)
    finance_user = type(finance_user).objects.get(pk=finance_user.pk)
    assert ops_user.has_perms(["marketing.add_campaign", "marketing.change_campaign", "marketing.view_campaignuse"])
    assert finance_user.has_perm("marketing.view_campaign") and not finance_user.has_perm("marketing.change_campaign")


def test_a_saved_flash_sale_and_bundle_open_with_their_preview(ops_client):
    from marketing.models import BundleItem

    sku = sku_priced()
    flash = campaign(kind=Campaign.Kind.FLASH_SALE, sku=sku, price=Decimal("9.90"))
    FlashSlot.objects.create(campaign=flash, starts_at=flash.starts_at, ends_at=flash.ends_at, stock=10)
    bundle = campaign(kind=Campaign.Kind.BUNDLE, price=Decimal("20.00"))
    BundleItem.objects.create(campaign=bundle, sku=sku, revenue_share=Decimal("20.00"))
    flash_page = ops_client.get(reverse("marketing:ops-campaign", args=[flash.pk]))
    bundle_page = ops_client.get(reverse("marketing:ops-campaign", args=[bundle.pk]))
    assert flash_page.status_code == bundle_page.status_code == 200
    assert flash_page.context["preview"].discount == Decimal("20.10")
    assert bundle_page.context["preview"].list_price == Decimal("30.00")


def test_the_admin_change_page_of_a_campaign_opens(admin_client):
    flash = campaign(kind=Campaign.Kind.FLASH_SALE, sku=sku_priced(), price=Decimal("9.90"))
    page = admin_client.get(reverse("admin:marketing_campaign_change", args=[flash.pk]))
    assert page.status_code == 200
