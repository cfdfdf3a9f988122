"""Void single codes or a batch (reason, audited, CodeEvents); status changes go through one door; stock counts."""

import threading

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.urls import reverse

from catalog import selectors, services
from catalog.models import CardCode, CodeBatch, CodeEvent
from tests import factories
from tests.catalog.vault_helpers import action_post, insert_codes
from voucherhub.core.errors import NotFound, PermissionDenied
from voucherhub.core.models import AuditLog

pytestmark = pytest.mark.django_db

S = CardCode.Status


def _batch(n=5, sku=None):
    _batch.made = getattr(_batch, "made", 0) + 1
    return insert_codes(sku=sku or factories.SkuFactory(), plaintexts=[f"VOIDTEST{_batch.made:04d}{i:06d}" for i in range(n)])


def _set(codes, status):
    CardCode.objects.filter(pk__in=[c.pk for c in codes]).update(status=status)


# --- code_status_change ---------------------------------------------------------------------------


def test_status_change_follows_transitions_and_writes_events(ops_user):
    codes = list(_batch(3).codes.order_by("pk"))
    changed = services.code_status_change(codes=codes, to_status=S.SOLD, actor=ops_user, reference="ORD-1", order_ref="ORD-1")
    assert [c.previous_status for c in changed] == [S.AVAILABLE] * 3
    assert set(CardCode.objects.values_list("status", "order_ref")) == {(S.SOLD, "ORD-1")}
    events = CodeEvent.objects.order_by("id")
    assert [(e.from_status, e.to_status, e.actor, e.reference) for e in events] == [(S.AVAILABLE, S.SOLD, ops_user, "ORD-1")] * 3
    # sold -> available is not a transition: refused, nothing changes
    with pytest.raises(services.InvalidTransition) as exc:
        services.code_status_change(codes=codes, to_status=S.AVAILABLE)
    assert exc.value.details["refused"] == {S.SOLD: 3}
    assert CodeEvent.objects.count() == 3


def test_status_change_is_all_or_nothing():
    codes = list(_batch(3).codes.order_by("pk"))
    _set(codes[:1], S.REDEEMED)
    with pytest.raises(services.InvalidTransition):
        services.code_status_change(codes=codes, to_status=S.RESERVED)
    assert list(CardCode.objects.order_by("pk").values_list("status", flat=True)) == [S.REDEEMED, S.AVAILABLE, S.AVAILABLE]
    assert not CodeEvent.objects.exists()


def test_status_change_of_unknown_ids_is_not_found():
    code = _batch(1).codes.get()
    with pytest.raises(NotFound):
        services.code_status_change(codes=[code.pk, code.pk + 1000], to_status=S.SOLD)


def test_transitions_table_covers_every_status():
    assert set(CardCode.TRANSITIONS) == set(S.values)
    assert CardCode.VOIDABLE == {S.AVAILABLE, S.RESERVED}
    assert all(S.VOID in CardCode.TRANSITIONS[s] for s in CardCode.VOIDABLE)


# --- codes_void ------------------------------------------------------------------------------------


def test_void_available_and_reserved_codes_with_reason(ops_user):
    codes = list(_batch(3).codes.order_by("pk"))
    _set(codes[1:2], S.RESERVED)
    assert services.codes_void(codes=codes[:2], actor=ops_user, reason="supplier recalled", ip="10.0.0.1") == 2
    assert list(CardCode.objects.order_by("pk").values_list("status", flat=True)) == [S.VOID, S.VOID, S.AVAILABLE]
    assert CodeEvent.objects.filter(to_status=S.VOID, reason="supplier recalled", actor=ops_user).count() == 2
    entries = AuditLog.objects.filter(action="codes.void")
    assert sorted(e.data["from"] for e in entries) == [S.AVAILABLE, S.RESERVED]
    assert {e.reason for e in entries} == {"supplier recalled"} and {e.ip for e in entries} == {"10.0.0.1"}


@pytest.mark.parametrize("status", [S.SOLD, S.REDEEMED, S.EXPIRED, S.VOID])
def test_codes_that_are_not_available_or_reserved_cannot_be_voided(ops_user, status):
    codes = list(_batch(3).codes.order_by("pk"))
    _set(codes[:1], status)
    with pytest.raises(services.NotVoidable) as exc:
        services.codes_void(codes=codes, actor=ops_user, reason="oops", ip=None)
    assert str(S(status).label) in str(exc.value.message)
    assert CardCode.objects.filter(status=S.AVAILABLE).count() == 2
    assert not CodeEvent.objects.exists() and not AuditLog.objects.filter(action="codes.void").exists()


def test_void_requires_reason_and_permission(finance_user, ops_user):
    codes = list(_batch(1).codes.all())
    with pytest.raises(services.ReasonRequired):
        services.codes_void(codes=codes, actor=ops_user, reason=" ", ip=None)
    with pytest.raises(PermissionDenied):
        services.codes_void(codes=codes, actor=finance_user, reason="x", ip=None)
    assert CardCode.objects.get().status == S.AVAILABLE


# --- batch_void ------------------------------------------------------------------------------------


def test_batch_void_voids_unsold_codes_and_leaves_sold_ones(ops_user):
    batch = _batch(5)
    codes = list(batch.codes.order_by("pk"))
    _set(codes[:1], S.SOLD)
    _set(codes[1:2], S.REDEEMED)
    _set(codes[2:3], S.RESERVED)
    result = services.batch_void(batch=batch, actor=ops_user, reason="bad supplier file", ip=None)
    assert result.voided == 3 and result.untouched == {S.SOLD: 1, S.REDEEMED: 1}
    assert list(CardCode.objects.order_by("pk").values_list("status", flat=True)) == [S.SOLD, S.REDEEMED, S.VOID, S.VOID, S.VOID]
    batch.refresh_from_db()
    assert batch.voided_at is not None and batch.void_reason == "bad supplier file"
    assert CodeEvent.objects.filter(reference=f"batch:{batch.pk}").count() == 3
    entry = AuditLog.objects.get(action="batch.void")
    assert entry.data["voided"] == 3 and entry.reason == "bad supplier file"
    with pytest.raises(services.BatchAlreadyVoided):
        services.batch_void(batch=batch, actor=ops_user, reason="again", ip=None)


# --- stock -------------------------------------------------------------------------------------------


def test_stock_counts_per_sku_and_batch():
    sku = factories.SkuFactory(low_stock_threshold=4)
    first, second = _batch(3, sku=sku), _batch(2, sku=sku)
    _set(list(first.codes.all()[:1]), S.SOLD)
    _set(list(second.codes.all()), S.VOID)
    row = selectors.stock_by_sku(skus=type(sku).objects.filter(pk=sku.pk))[0]
    assert row.counts[S.AVAILABLE] == 2 and row.counts[S.SOLD] == 1 and row.counts[S.VOID] == 2 and row.total == 5
    assert row.low and sku in [r.sku for r in selectors.low_stock_skus()]
    per_batch = {batch.pk: counts for batch, counts in selectors.stock_by_batch(sku=sku)}
    assert per_batch[first.pk][S.AVAILABLE] == 2 and per_batch[second.pk][S.VOID] == 2


# --- Admin -------------------------------------------------------------------------------------------


def test_admin_void_codes_asks_a_reason(ops_client):
    codes = list(_batch(3).codes.order_by("pk"))
    url = reverse("admin:catalog_cardcode_changelist")
    pks = [c.pk for c in codes[:2]]
    page = action_post(ops_client, url, "void_selected", pks)
    assert page.status_code == 200 and 'name="reason"' in page.content.decode()
    page = action_post(ops_client, url, "void_selected", pks, apply="1", reason="")
    assert page.context["form"].errors["reason"]
    response = action_post(ops_client, url, "void_selected", pks, apply="1", reason="duplicate delivery")
    assert response.status_code == 302
    assert CardCode.objects.filter(status=S.VOID).count() == 2


def test_admin_void_of_a_sold_code_is_a_clear_form_error(ops_client):
    code = _batch(1).codes.get()
    _set([code], S.SOLD)
    page = ops_client.post(reverse("admin:catalog_cardcode_void_code", args=[code.pk]), {"apply": "1", "reason": "mistake"})
    assert page.status_code == 200
    errors = page.context["form"].non_field_errors()
    assert errors and str(S.SOLD.label) in errors[0]
    assert CardCode.objects.get().status == S.SOLD


def test_admin_void_batch_and_batch_stock_columns(ops_client):
    batch = _batch(4)
    _set(list(batch.codes.all()[:1]), S.SOLD)
    changelist = ops_client.get(reverse("admin:catalog_codebatch_changelist"))
    assert changelist.status_code == 200
    shown = changelist.context["cl"].result_list[0]
    assert (shown.n_available, shown.n_sold) == (3, 1)
    response = ops_client.post(reverse("admin:catalog_codebatch_void_batch", args=[batch.pk]), {"apply": "1", "reason": "recall"})
    assert response.status_code == 302
    assert CardCode.objects.filter(status=S.VOID).count() == 3
    assert CodeBatch.objects.get().voided_at is not None


def test_sku_change_page_shows_stock_by_batch(ops_client):
    sku = factories.SkuFactory()
    first, second = _batch(2, sku=sku), _batch(3, sku=sku)
    body = ops_client.get(reverse("admin:catalog_sku_change", args=[sku.pk])).content.decode()
    assert 'data-testid="batch-stock"' in body
    assert f"#{first.pk}" in body and f"#{second.pk}" in body


def test_void_needs_the_permission(client):
    user = factories.UserFactory(username="viewer", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_cardcode"))
    client.force_login(user)
    code = _batch(1).codes.get()
    assert client.post(reverse("admin:catalog_cardcode_void_code", args=[code.pk]), {"apply": "1", "reason": "x"}).status_code == 403
    assert CardCode.objects.get().status == S.AVAILABLE


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_sale_and_void_never_both_win():
    # given codes that a sale and a void race for
    ops = factories.UserFactory(username="ops-race", role="ops", is_staff=True)
    batch = _batch(20)
    ids = list(batch.codes.order_by("pk").values_list("pk", flat=True))
    barrier = threading.Barrier(2)
    outcomes = {}

    def sell():
        barrier.wait()
        try:
            services.code_status_change(codes=list(reversed(ids)), to_status=S.SOLD, reference="ORD-RACE")
            outcomes["sell"] = "ok"
        except services.InvalidTransition:
            outcomes["sell"] = "refused"
        finally:
            connection.close()

    def void():
        barrier.wait()
        try:
            services.codes_void(codes=ids, actor=ops, reason="race", ip=None)
            outcomes["void"] = "ok"
        except services.InvalidTransition:
            outcomes["void"] = "refused"
        finally:
            connection.close()

    threads = [threading.Thread(target=sell), threading.Thread(target=void)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then exactly one of them changed every code, and each code has exactly one event
    assert sorted(outcomes.values()) == ["ok", "refused"]
    assert len(set(CardCode.objects.filter(pk__in=ids).values_list("status", flat=True))) == 1
    assert CodeEvent.objects.filter(code_id__in=ids).count() == len(ids)
