"""The audit log is a hash chain: editing, deleting or moving any row is found by verify_audit_chain."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from tests import factories
from voucherhub.core.audit import audit_chain_seal, audit_chain_verify, audit_record, audit_record_many
from voucherhub.core.models import AuditChainState, AuditLog

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain(ops_user):
    sku = factories.SkuFactory()
    for i in range(5):
        audit_record(actor=ops_user, action="codes.reveal", obj=sku, ip="198.51.100.1", data={"n": i, "hint": "AB**CD"})
    audit_record_many(actor=None, action="codes.void", objects=[sku, sku, sku], reason="batch void", data_for=lambda o: {"sku": o.code})
    assert audit_chain_seal() == 8
    return list(AuditLog.objects.order_by("seq"))


def run_verify(*args) -> tuple[int, str]:
    import io

    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_audit_chain", *args, stdout=out, stderr=err)
        return 0, out.getvalue()
    except SystemExit as exc:
        return exc.code, err.getvalue()


def test_sealing_links_every_row_in_order(chain):
    assert [row.seq for row in chain] == list(range(1, 9))
    assert chain[0].prev_hash == "0" * 64
    assert all(later.prev_hash == earlier.hash for earlier, later in zip(chain, chain[1:], strict=False))
    head = AuditChainState.objects.get(pk=1)
    assert (head.last_seq, head.last_hash) == (8, chain[-1].hash)
    code, output = run_verify()
    assert code == 0
    assert "8 entries verified" in output
    # sealing again is a no-op; new rows continue the chain
    assert audit_chain_seal() == 0
    audit_record(action="late.entry")
    assert audit_chain_verify().ok
    assert AuditLog.objects.get(action="late.entry").seq == 9


@pytest.mark.parametrize(
    "change",
    [
        {"action": "codes.view"},
        {"reason": "nothing happened"},
        {"data": {"n": 2, "hint": "ZZ**ZZ"}},
        {"ip": "203.0.113.66"},
        {"actor_repr": "someone-else"},
        {"object_id": "999"},
    ],
)
def test_an_edited_row_is_found(chain, change):
    target = chain[3]
    AuditLog.objects.filter(pk=target.pk).update(**change)
    report = audit_chain_verify()
    assert not report.ok
    assert report.broken_seq == target.seq
    assert "changed" in report.problem
    code, output = run_verify()
    assert code == 1
    assert f"BROKEN at #{target.seq}" in output


def test_an_edited_time_is_found(chain):
    from datetime import timedelta

    AuditLog.objects.filter(pk=chain[1].pk).update(created_at=chain[1].created_at - timedelta(hours=1))
    assert audit_chain_verify().broken_seq == 2


def test_a_deleted_row_is_found(chain):
    AuditLog.objects.filter(pk=chain[4].pk).delete()
    report = audit_chain_verify()
    assert not report.ok
    assert report.broken_seq == 5
    assert "missing" in report.problem


def test_deleting_the_newest_rows_is_found(chain):
    AuditLog.objects.filter(seq__gte=7).delete()
    report = audit_chain_verify()
    assert not report.ok
    assert report.broken_seq == 7
    assert "newest rows were deleted" in report.problem


def test_swapping_rows_is_found(chain):
    a, b = chain[2], chain[5]
    AuditLog.objects.filter(pk=a.pk).update(seq=None)
    AuditLog.objects.filter(pk=b.pk).update(seq=a.seq)
    AuditLog.objects.filter(pk=a.pk).update(seq=b.seq)
    report = audit_chain_verify(seal=False)
    assert not report.ok
    assert report.broken_seq == a.seq


def test_a_forged_hash_without_the_key_is_found(chain):
    import hashlib

    target = chain[2]
    AuditLog.objects.filter(pk=target.pk).update(reason="forged", hash=hashlib.sha256(b"forged").hexdigest())
    assert audit_chain_verify().broken_seq == target.seq


def test_unsealing_a_row_to_rechain_it_is_found(chain):
    # an attacker clears a row's chain fields, hoping the sealer re-chains the edited row at the end
    AuditLog.objects.filter(pk=chain[2].pk).update(seq=None, hash="", prev_hash="", reason="rewritten")
    report = audit_chain_verify()
    assert not report.ok
    assert report.broken_seq == 3


def test_expect_head_detects_a_rollback_of_the_head(chain):
    code, output = run_verify()
    head = output.split("head: ")[1].strip()
    assert run_verify("--expect-head", head)[0] == 0
    # rows deleted and the head row rewound to match: only the recorded head finds it
    AuditLog.objects.filter(seq__gte=7).delete()
    AuditChainState.objects.filter(pk=1).update(last_seq=6, last_hash=chain[5].hash)
    assert run_verify()[0] == 0
    code, output = run_verify("--expect-head", head)
    assert code == 1
    assert "before the recorded head" in output


def test_admin_changes_are_in_the_audit_log(ops_user, client):
    admin_user = factories.UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin_user)
    sku = factories.SkuFactory(code="AUDIT-SKU")
    # a change through the admin
    url = reverse("admin:auth_user_change", args=[ops_user.pk])
    form = client.get(url).context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and name not in ("password", "groups", "user_permissions", "last_login", "date_joined")
    }
    data.update({"username": "ops1", "first_name": "Renamed", "date_joined_0": "2026-01-01", "date_joined_1": "10:00:00"})
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    entry = AuditLog.objects.get(action="admin.change")
    assert (entry.actor_repr, entry.object_type, entry.object_id) == ("root", "auth.user", str(ops_user.pk))
    # a bulk delete through the admin action (Django logs those with bulk_create, no signal)
    other_a, other_b = factories.UserFactory(username="gone-a"), factories.UserFactory(username="gone-b")
    response = client.post(
        reverse("admin:auth_user_changelist"), {"action": "delete_selected", "_selected_action": [other_a.pk, other_b.pk], "post": "yes"}
    )
    assert response.status_code == 302
    assert set(AuditLog.objects.filter(action="admin.delete").values_list("object_repr", flat=True)) == {"gone-a", "gone-b"}
    assert sku.pk  # unrelated rows untouched
    assert audit_chain_verify().ok


def test_writes_queue_a_sealer_after_commit(django_capture_on_commit_callbacks, settings):
    from django_q.models import OrmQ

    settings.AUDIT_SEAL_INTERVAL_SECONDS = 5
    import voucherhub.core.audit as audit

    audit._last_enqueue = 0.0
    with django_capture_on_commit_callbacks(execute=True):
        audit_record(action="a")
        audit_record(action="b")
    # one task for both writes (one per interval), not one per write
    assert OrmQ.objects.count() == 1


def test_the_seal_schedule_exists():
    from django_q.models import Schedule

    schedule = Schedule.objects.get(name="audit chain seal")
    assert schedule.func == "voucherhub.core.audit.audit_chain_seal"
    assert schedule.minutes == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_writers_and_sealers_in_parallel_keep_a_valid_chain():
    barrier = threading.Barrier(8)

    def writer(i):
        try:
            barrier.wait(timeout=30)
            for j in range(25):
                audit_record(action="order.place", data={"writer": i, "n": j})
        finally:
            connection.close()

    def sealer(_i):
        try:
            barrier.wait(timeout=30)
            total = 0
            for _ in range(15):
                total += audit_chain_seal()
            return total
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(writer, i) for i in range(6)] + [pool.submit(sealer, i) for i in range(2)]
        for future in futures:
            future.result()
    report = audit_chain_verify()
    assert report.ok, report.problem
    assert report.checked == 150
    assert sorted(AuditLog.objects.values_list("seq", flat=True)) == list(range(1, 151))
