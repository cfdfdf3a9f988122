"""SKU usage rules are edited with real widgets: weekdays are ticked, and the stored JSON keeps its shape."""

import pytest
from django.forms import modelform_factory
from django.urls import reverse

from catalog.admin_forms import SkuAdminForm
from catalog.models import Sku
from tests import factories

pytestmark = pytest.mark.django_db


def form_data(sku, **changes):
    """The SKU admin form's usage-rule part, with what it would post back unchanged plus `changes`."""
    form_class = modelform_factory(Sku, form=SkuAdminForm, fields=["allowed_weekdays", "usable_from_time", "usable_until_time"])
    form = form_class(instance=sku)
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.update(changes)
    return form_class, data


def test_change_page_shows_weekday_checkboxes_ticked_from_the_stored_list(ops_client):
    sku = factories.SkuFactory(allowed_weekdays=[6, 7])
    body = ops_client.get(reverse("admin:catalog_sku_change", args=[sku.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert body.count('name="allowed_weekdays"') == 7
    assert "星期六" in body and "星期日" in body
    checked = [line for line in body.split("<input") if 'name="allowed_weekdays"' in line and "checked" in line]
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
