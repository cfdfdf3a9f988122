"""SKU usage rules are edited with real widgets (searchable merchant and store multi-selects, weekday checkboxes, two
time inputs) and the stored JSON keeps its shape."""

import re
from datetime import time

import pytest
from django.forms import modelform_factory
from django.urls import reverse

from catalog.admin_forms import SkuAdminForm
from catalog.models import Sku
from tests import factories

pytestmark = pytest.mark.django_db

USAGE_FIELDS = ["allowed_merchant_ids", "allowed_store_ids", "allowed_weekdays", "usable_from_time", "usable_until_time"]


def form_data(sku, **changes):
    """The SKU admin form's usage-rule part, with what it would post back unchanged plus `changes`."""
    form_class = modelform_factory(Sku, form=SkuAdminForm, fields=USAGE_FIELDS)
    form = form_class(instance=sku)
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.update(changes)
    return form_class, data


def test_change_page_shows_weekday_checkboxes_ticked_from_the_stored_list(ops_client):
    sku = factories.SkuFactory(allowed_weekdays=[6, 7])
    body = ops_client.get(reverse("admin:catalog_sku_change", args=[sku.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert body.count('name="allowed_weekdays"') == 7
    assert "星期六" in body and "星期日" in body
    checked = [tag for tag in re.findall(r"<input[^>]*>", body) if 'name="allowed_weekdays"' in tag and re.search(r"\schecked[\s>/]", tag)]
    assert sorted(int(line.split('value="')[1].split('"')[0]) for line in checked) == [6, 7]


def test_weekdays_round_trip_in_the_same_json_shape():
    sku = factories.SkuFactory(allowed_weekdays=[6, 7])
    form_class, data = form_data(sku)
    unchanged = form_class(data, instance=sku)
    assert unchanged.is_valid(), unchanged.errors
    unchanged.save()
    sku.refresh_from_db()
    assert sku.allowed_weekdays == [6, 7]
    form_class, data = form_data(sku, allowed_weekdays=["3", "1", "3"])
    changed = form_class(data, instance=sku)
    assert changed.is_valid(), changed.errors
    changed.save()
    sku.refresh_from_db()
    assert sku.allowed_weekdays == [1, 3]
    form_class, data = form_data(sku, allowed_weekdays=[])
    cleared = form_class(data, instance=sku)
    assert cleared.is_valid(), cleared.errors
    cleared.save()
    sku.refresh_from_db()
    assert sku.allowed_weekdays == []


def test_a_weekday_out_of_range_is_refused_on_its_field():
    sku = factories.SkuFactory()
    form_class, data = form_data(sku, allowed_weekdays=["8"])
    form = form_class(data, instance=sku)
    assert not form.is_valid() and "allowed_weekdays" in form.errors


def test_change_page_offers_merchants_and_stores_in_searchable_multi_selects_with_the_stored_ones_picked(ops_client):
    # given two merchants, a store of each, and a SKU honoured by the first merchant and the second's store
    coffee, cinema = factories.MerchantFactory(name="星巴克", code="starbucks"), factories.MerchantFactory(name="万达影城", code="wanda")
    coffee_store = factories.StoreFactory(merchant=coffee, name="南京西路店", code="sh-njxl", city="上海")
    cinema_store = factories.StoreFactory(merchant=cinema, name="五角场店", code="sh-wjc", city="上海")
    sku = factories.SkuFactory(allowed_merchant_ids=[coffee.pk], allowed_store_ids=[cinema_store.pk])
    # when ops opens the SKU
    body = ops_client.get(reverse("admin:catalog_sku_change", args=[sku.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    # then both lists are select2 multi-selects (no JSON text box), every row offered by name, the stored ones picked
    for name in ("allowed_merchant_ids", "allowed_store_ids"):
        select = body.split(f'name="{name}"')[0].rsplit("<select", 1)[1] + body.split(f'name="{name}"')[1].split("</select>")[0]
        assert "multiple" in select and "unfold-admin-autocomplete" in select
        assert "<textarea" not in body.split(f'name="{name}"')[0].rsplit("<div", 3)[-1]
    assert f'<option value="{coffee.pk}" selected>星巴克 (starbucks)</option>' in body
    assert f'<option value="{cinema.pk}">万达影城 (wanda)</option>' in body
    assert f'<option value="{cinema_store.pk}" selected>万达影城 · 五角场店 · 上海 (sh-wjc)</option>' in body
    assert f'<option value="{coffee_store.pk}">星巴克 · 南京西路店 · 上海 (sh-njxl)</option>' in body
    # and the hours are the browser's time inputs
    assert body.count('type="time"') == 2


def test_merchants_and_stores_are_stored_as_sorted_id_lists():
    merchants = factories.MerchantFactory.create_batch(3)
    store = factories.StoreFactory()
    sku = factories.SkuFactory(allowed_merchant_ids=[merchants[0].pk])
    form_class, data = form_data(sku, allowed_merchant_ids=[str(merchants[2].pk), str(merchants[0].pk)], allowed_store_ids=[str(store.pk)])
    form = form_class(data, instance=sku)
    assert form.is_valid(), form.errors
    assert form.has_changed() and "allowed_merchant_ids" in form.changed_data
    form.save()
    sku.refresh_from_db()
    assert sku.allowed_merchant_ids == sorted([merchants[0].pk, merchants[2].pk])
    assert sku.allowed_store_ids == [store.pk]
    # unchanged data is unchanged (the stored ints against the posted strings)
    form_class, data = form_data(sku)
    assert "allowed_merchant_ids" not in form_class(data, instance=sku).changed_data
    # cleared: no restriction list at all, still a JSON list
    form_class, data = form_data(sku, allowed_merchant_ids=[], allowed_store_ids=[])
    cleared = form_class(data, instance=sku)
    assert cleared.is_valid(), cleared.errors
    cleared.save()
    sku.refresh_from_db()
    assert sku.allowed_merchant_ids == [] and sku.allowed_store_ids == []


@pytest.mark.parametrize("field", ["allowed_merchant_ids", "allowed_store_ids"])
@pytest.mark.parametrize("bad", ["999999", "abc", "1.5"])
def test_an_unknown_merchant_or_store_id_is_refused_on_its_field(field, bad):
    factories.StoreFactory()
    sku = factories.SkuFactory(allowed_merchant_ids=[], allowed_store_ids=[])
    form_class, data = form_data(sku, **{field: [bad]})
    form = form_class(data, instance=sku)
    assert not form.is_valid()
    assert list(form.errors) == [field]
    sku.refresh_from_db()
    assert sku.allowed_merchant_ids == [] and sku.allowed_store_ids == []


def test_a_time_window_is_stored_and_may_cross_midnight():
    sku = factories.SkuFactory()
    for start, end in (("09:00", "21:30"), ("22:00", "02:00"), ("", "14:00"), ("10:00", ""), ("", "")):
        form_class, data = form_data(sku, usable_from_time=start, usable_until_time=end)
        form = form_class(data, instance=sku)
        assert form.is_valid(), (start, end, form.errors)
        form.save()
        sku.refresh_from_db()
        assert sku.usable_from_time == (time.fromisoformat(start) if start else None)
        assert sku.usable_until_time == (time.fromisoformat(end) if end else None)


@pytest.mark.parametrize(
    "start,end,field",
    [("10:00", "10:00", "usable_until_time"), ("25:00", "", "usable_from_time"), ("", "noon", "usable_until_time")],
)
def test_a_bad_time_window_is_refused_on_its_field(start, end, field):
    sku = factories.SkuFactory(usable_from_time=time(8), usable_until_time=time(20))
    form_class, data = form_data(sku, usable_from_time=start, usable_until_time=end)
    form = form_class(data, instance=sku)
    assert not form.is_valid()
    assert list(form.errors) == [field]
    sku.refresh_from_db()
    assert (sku.usable_from_time, sku.usable_until_time) == (time(8), time(20))


def test_the_admin_saves_the_usage_rules_from_the_change_page(ops_client):
    # the whole change page posted back, as the browser does, with new rules
    merchant = factories.MerchantFactory()
    store = factories.StoreFactory(merchant=merchant)
    sku = factories.SkuFactory(allowed_merchant_ids=[], allowed_weekdays=[])
    url = reverse("admin:catalog_sku_change", args=[sku.pk])
    page = ops_client.get(url)
    data = {}
    for field in page.context["adminform"].form:
        value = field.value()
        if value is not None and not field.is_hidden or field.name in ("currency", "validity_kind", "fulfilment"):
            data[field.name] = value if value is not None else ""
    data = {k: v for k, v in data.items() if v not in (None, False)}
    data.update(
        allowed_merchant_ids=[str(merchant.pk)],
        allowed_store_ids=[str(store.pk)],
        allowed_weekdays=["6", "7"],
        usable_from_time="22:00",
        usable_until_time="02:00",
    )
    response = ops_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    sku.refresh_from_db()
    assert sku.allowed_merchant_ids == [merchant.pk] and sku.allowed_store_ids == [store.pk]
    assert sku.allowed_weekdays == [6, 7]
    assert (sku.usable_from_time, sku.usable_until_time) == (time(22), time(2))
    # a bad id on the page comes back as an error on that field, nothing saved
    data["allowed_store_ids"] = ["999999"]
    data["allowed_weekdays"] = ["1"]
    response = ops_client.post(url, data)
    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["allowed_store_ids"]
    sku.refresh_from_db()
    assert sku.allowed_weekdays == [6, 7]
