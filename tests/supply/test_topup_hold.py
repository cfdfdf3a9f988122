"""The hold queue's and the upstream status's guards (no supplier is called: the refusals come first)."""

from decimal import Decimal

import pytest

from catalog.vault import VaultError
from supply.errors import NoUpstream, TopupStateConflict
from supply.models import Topup, TopupEvent, Upstream
from supply.services import topup_hold_refund, topup_hold_resubmit, upstream_demote, upstream_pause, upstream_restore
from tests.factories import SupplierFactory, UserFactory
from voucherhub.core.models import AuditLog

pytestmark = pytest.mark.django_db


def _upstream(**fields) -> Upstream:
    upstream = Upstream(supplier=SupplierFactory(), protocol=Upstream.Protocol.V2, base_url="http://127.0.0.1:9/v2", app_key="k", **fields)
    upstream.secrets_set(api_secret="s", callback_secret="c")
    upstream.save()
    return upstream


def _topup(sku, status) -> Topup:
    return Topup.objects.create(reference=f"VH-{status}", sku=sku, account="13800138000", face_value=Decimal("50.00"), status=status)


def test_only_a_held_topup_is_resubmitted_or_refunded(topup_sku):
    sku, ops = topup_sku(), UserFactory()
    working = _topup(sku, Topup.Status.PROCESSING)
    with pytest.raises(TopupStateConflict):
        topup_hold_refund(topup=working, actor=ops, reason="x")
    with pytest.raises(TopupStateConflict):
        topup_hold_resubmit(topup=working, upstream=_upstream(), actor=ops, reason="x")
    working.refresh_from_db()
    assert (working.status, working.events.count()) == (Topup.Status.PROCESSING, 0)


def test_a_held_topup_is_not_resubmitted_to_a_supplier_that_does_not_serve_its_sku(topup_sku):
    held = _topup(topup_sku(), Topup.Status.ON_HOLD)
    with pytest.raises(NoUpstream) as refused:
        topup_hold_resubmit(topup=held, upstream=_upstream(), actor=UserFactory(), reason="换渠道")
    assert refused.value.field == "upstream"
    held.refresh_from_db()
    assert (held.status, held.attempts.count()) == (Topup.Status.ON_HOLD, 0)


def test_a_refunded_held_topup_is_final_and_cannot_be_refunded_again(topup_sku):
    held, ops = _topup(topup_sku(), Topup.Status.ON_HOLD), UserFactory()
    topup_hold_refund(topup=held, actor=ops, reason="客户取消")
    with pytest.raises(TopupStateConflict):
        topup_hold_refund(topup=held, actor=ops, reason="again")
    assert list(held.events.values_list("from_status", "to_status", "source")) == [
        (Topup.Status.ON_HOLD, Topup.Status.FAILED, TopupEvent.Source.OPS)
    ]


def test_upstream_status_changes_by_hand_are_audited_and_an_active_one_is_not_restored():
    upstream, ops = _upstream(), UserFactory()
    with pytest.raises(TopupStateConflict):
        upstream_restore(upstream=upstream, actor=ops, reason="already active")
    upstream_pause(upstream=upstream, actor=ops, reason="维护")
    upstream_demote(upstream=upstream, reason="manual", actor=ops)
    upstream_demote(upstream=upstream, reason="again", actor=ops)  # idempotent
    upstream.refresh_from_db()
    assert (upstream.status, upstream.status_reason) == (Upstream.Status.DEMOTED, "manual")
    upstream_restore(upstream=upstream, actor=ops, reason="恢复")
    upstream.refresh_from_db()
    assert upstream.status == Upstream.Status.ACTIVE
    assert list(AuditLog.objects.filter(action__startswith="supply.upstream.").order_by("pk").values_list("action", flat=True)) == [
        "supply.upstream.pause",
        "supply.upstream.demote",
        "supply.upstream.restore",
    ]


def test_secrets_are_sealed_at_rest_and_open_only_for_their_upstream():
    upstream = _upstream()
    upstream.secrets_set(api_secret="api-Zq81-secret", callback_secret="cb-Wm27-secret")
    upstream.save()
    stored = Upstream.objects.get(pk=upstream.pk)
    assert b"api-Zq81-secret" not in bytes(stored.api_secret_sealed)
    assert b"cb-Wm27-secret" not in bytes(stored.callback_secret_sealed)
    assert stored.secrets() == ("api-Zq81-secret", "cb-Wm27-secret")
    assert "Zq81" not in repr(stored.connection())
    # a blob moved to another upstream's row does not open there
    other = _upstream()
    other.api_secret_sealed, other.secrets_key_id = stored.api_secret_sealed, stored.secrets_key_id
    with pytest.raises(VaultError):
        other.secrets()
