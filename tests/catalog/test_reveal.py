"""Reveal without permission is refused; with permission it is audited (per code, masked, with the reason)."""

import csv
import io

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from catalog import services
from catalog.models import CardCode
from tests import factories
from tests.catalog.vault_helpers import action_post, insert_codes
from tests.factories import PASSWORD
from voucherhub.core.errors import DomainError
from voucherhub.core.models import AuditLog

pytestmark = pytest.mark.django_db

PLAINTEXTS = ["REVEAL0001AAAA", "REVEAL0002BBBB", "REVEAL0003CCCC"]


@pytest.fixture
def batch():
    return insert_codes(sku=factories.SkuFactory(code="REV-SKU"), plaintexts=PLAINTEXTS, serial_prefix="SN")


@pytest.fixture
def codes(batch):
    return list(CardCode.objects.filter(batch=batch).order_by("pk"))


@pytest.fixture
def revealer(db):
    user = factories.UserFactory(username="revealer", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="reveal_cardcode"))
    return user


@pytest.fixture
def guards():
    """A clean guard registry for each test (and the original one back afterwards)."""
    saved = list(services.REVEAL_GUARDS)
    services.REVEAL_GUARDS.clear()
    yield services.REVEAL_GUARDS
    services.REVEAL_GUARDS[:] = saved


def _audit_text() -> str:
    return " ".join(str(v) for v in AuditLog.objects.values_list("object_repr", "reason", "data"))


def test_reveal_without_permission_is_refused_and_the_refusal_audited(codes):
    user = factories.UserFactory(username="nosy", is_staff=True)
    with pytest.raises(services.RevealRefused):
        services.codes_reveal(codes=codes[:1], actor=user, reason="curious", ip="10.0.0.9")
    assert not AuditLog.objects.filter(action="codes.reveal").exists()
    refusal = AuditLog.objects.get(action="codes.reveal_refused")
    assert refusal.actor == user and refusal.data["error"] == "reveal_refused" and refusal.ip == "10.0.0.9"


def test_anonymous_or_missing_actor_is_refused(codes):
    with pytest.raises(services.RevealRefused):
        services.codes_reveal(codes=codes[:1], actor=None, reason="system", ip=None)


def test_reveal_with_permission_is_audited_per_code_masked(codes, revealer):
    # when one code is revealed (no password needed for a single code)
    revealed = services.codes_reveal(codes=codes[:1], actor=revealer, reason="customer ticket #42", ip="10.0.0.7")
    # then its plaintext comes back in memory
    assert [r.plaintext for r in revealed] == [PLAINTEXTS[0]]
    assert PLAINTEXTS[0] not in repr(revealed)
    # and one audit entry names the code by its hint, with reason, actor and address
    entry = AuditLog.objects.get(action="codes.reveal")
    assert entry.actor == revealer and entry.reason == "customer ticket #42" and entry.ip == "10.0.0.7"
    assert entry.object_type == "catalog.cardcode" and entry.object_id == str(codes[0].pk)
    assert entry.object_repr == codes[0].hint and entry.data["hint"] == codes[0].hint
    assert entry.data["mode"] == "screen"
    assert not any(p in _audit_text() for p in PLAINTEXTS)


def test_ops_role_may_reveal(codes, ops_user):
    assert ops_user.has_perm("catalog.reveal_cardcode")
    revealed = services.codes_reveal(codes=codes[:1], actor=ops_user, reason="check", ip=None)
    assert revealed[0].plaintext == PLAINTEXTS[0]


def test_finance_role_may_not_reveal(codes, finance_user):
    with pytest.raises(services.RevealRefused):
        services.codes_reveal(codes=codes[:1], actor=finance_user, reason="check", ip=None)


@pytest.mark.parametrize("reason", ["", "   "])
def test_reason_is_required(codes, revealer, reason):
    with pytest.raises(services.ReasonRequired) as exc:
        services.codes_reveal(codes=codes[:1], actor=revealer, reason=reason, ip=None)
    assert exc.value.field == "reason"
    assert not AuditLog.objects.filter(action="codes.reveal").exists()


def test_bulk_reveal_requires_the_password(codes, revealer):
    with pytest.raises(services.PasswordRequired) as exc:
        services.codes_reveal(codes=codes, actor=revealer, reason="resend order", ip=None)
    assert exc.value.field == "password"
    assert not AuditLog.objects.filter(action="codes.reveal").exists()


def test_bulk_reveal_with_a_wrong_password_is_refused_and_audited(codes, revealer):
    with pytest.raises(services.WrongPassword):
        services.codes_reveal(codes=codes, actor=revealer, reason="resend order", ip="10.1.1.1", password="guess")
    assert not AuditLog.objects.filter(action="codes.reveal").exists()
    assert AuditLog.objects.get(action="codes.reveal_refused").data == {"count": 3, "error": "wrong_password"}


def test_bulk_reveal_with_the_password_audits_every_code(codes, revealer):
    revealed = services.codes_reveal(codes=codes, actor=revealer, reason="resend order", ip=None, password=PASSWORD)
    assert [r.plaintext for r in revealed] == PLAINTEXTS
    entries = AuditLog.objects.filter(action="codes.reveal")
    assert sorted(entries.values_list("object_id", flat=True)) == sorted(str(c.pk) for c in codes)
    assert {e.data["count"] for e in entries} == {3}
    assert not any(p in _audit_text() for p in PLAINTEXTS)


def test_a_download_requires_the_password_even_for_one_code(codes, revealer):
    with pytest.raises(services.PasswordRequired):
        services.codes_reveal(codes=codes[:1], actor=revealer, reason="export", ip=None, download=True)


def test_guards_are_called_and_may_refuse(codes, revealer, guards):
    calls = []

    @services.reveal_guard_register
    def count_calls(*, actor, count, ip):
        calls.append((actor, count, ip))

    services.reveal_guard_register(count_calls)  # registering twice keeps one entry
    assert guards == [count_calls]
    services.codes_reveal(codes=codes, actor=revealer, reason="r", ip="10.2.2.2", password=PASSWORD)
    assert calls == [(revealer, 3, "10.2.2.2")]

    class TooManyReveals(DomainError):
        code = "reveal_limit"

    def hourly_limit(*, actor, count, ip):
        raise TooManyReveals("Reveal limit for this hour reached.")

    services.reveal_guard_register(hourly_limit)
    AuditLog.objects.all().delete()
    with pytest.raises(TooManyReveals):
        services.codes_reveal(codes=codes[:1], actor=revealer, reason="r", ip=None)
    assert not AuditLog.objects.filter(action="codes.reveal").exists()
    assert AuditLog.objects.get(action="codes.reveal_refused").data["error"] == "reveal_limit"


def test_too_many_codes_on_one_page(revealer, monkeypatch):
    monkeypatch.setattr(services, "REVEAL_SCREEN_MAX", 2)
    batch = insert_codes(sku=factories.SkuFactory(), plaintexts=PLAINTEXTS)
    with pytest.raises(services.TooManyCodes):
        services.codes_reveal(codes=batch.codes.all(), actor=revealer, reason="r", ip=None, password=PASSWORD)


# --- Admin ----------------------------------------------------------------------------------------


def test_admin_reveal_action_asks_reason_and_password_then_shows_a_no_store_page(ops_client, codes):
    url = reverse("admin:catalog_cardcode_changelist")
    pks = [c.pk for c in codes]
    # the first step is the form, with reason and password
    page = action_post(ops_client, url, "reveal_selected", pks)
    body = page.content.decode()
    assert page.status_code == 200 and 'name="reason"' in body and 'name="password"' in body
    assert not any(p in body for p in PLAINTEXTS)
    # no password: a form error on the password field
    page = action_post(ops_client, url, "reveal_selected", pks, apply="1", reason="ticket 7")
    assert page.context["form"].errors["password"]
    # a wrong password: refused, and the typed password is not echoed back
    page = action_post(ops_client, url, "reveal_selected", pks, apply="1", reason="ticket 7", password="wrong-one")
    assert page.context["form"].errors["password"]
    assert "wrong-one" not in page.content.decode()
    assert not AuditLog.objects.filter(action="codes.reveal").exists()
    # the right password: the plaintexts, on a page that is never cached
    page = action_post(ops_client, url, "reveal_selected", pks, apply="1", reason="ticket 7", password=PASSWORD)
    assert page.status_code == 200
    body = page.content.decode()
    assert all(p in body for p in PLAINTEXTS)
    assert "no-store" in page["Cache-Control"]
    assert AuditLog.objects.filter(action="codes.reveal", reason="ticket 7").count() == 3


def test_admin_reveal_without_a_reason_is_a_form_error(ops_client, codes):
    url = reverse("admin:catalog_cardcode_reveal_code", args=[codes[0].pk])
    page = ops_client.post(url, {"apply": "1", "reason": ""})
    assert page.status_code == 200 and page.context["form"].errors["reason"]
    assert PLAINTEXTS[0] not in page.content.decode()


def test_admin_single_reveal_needs_no_password(ops_client, codes):
    url = reverse("admin:catalog_cardcode_reveal_code", args=[codes[0].pk])
    form_page = ops_client.get(url)
    assert 'name="password"' not in form_page.content.decode()
    page = ops_client.post(url, {"apply": "1", "reason": "customer ticket"})
    assert PLAINTEXTS[0] in page.content.decode()
    assert "no-store" in page["Cache-Control"]
    assert AuditLog.objects.filter(action="codes.reveal").count() == 1


def test_admin_reveal_is_refused_without_the_permission(client, codes):
    user = factories.UserFactory(username="viewer", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_cardcode"))
    client.force_login(user)
    # the detail action answers 403
    assert client.post(reverse("admin:catalog_cardcode_reveal_code", args=[codes[0].pk]), {"apply": "1", "reason": "x"}).status_code == 403
    # the changelist action is not offered, so it does nothing
    url = reverse("admin:catalog_cardcode_changelist")
    response = action_post(client, url, "reveal_selected", [codes[0].pk], apply="1", reason="x", password=PASSWORD)
    assert PLAINTEXTS[0] not in response.content.decode()
    assert not AuditLog.objects.filter(action="codes.reveal").exists()


def test_admin_batch_download_streams_a_csv_and_stores_nothing(ops_client, batch, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    url = reverse("admin:catalog_codebatch_download_batch", args=[batch.pk])
    page = ops_client.post(url, {"apply": "1", "reason": "supplier audit"})
    assert page.context["form"].errors["password"]
    response = ops_client.post(url, {"apply": "1", "reason": "supplier audit", "password": PASSWORD})
    assert response.status_code == 200 and response.streaming
    assert "no-store" in response["Cache-Control"]
    assert response["Content-Disposition"].startswith("attachment;")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert sorted(row[3] for row in rows[1:]) == PLAINTEXTS
    assert {row[2] for row in rows[1:]} == {"SN0000", "SN0001", "SN0002"}
    assert AuditLog.objects.filter(action="codes.reveal", data__mode="download").count() == 3
    assert not any(tmp_path.iterdir())


def test_admin_batch_download_from_the_changelist(ops_client, batch):
    url = reverse("admin:catalog_codebatch_changelist")
    response = action_post(ops_client, url, "download_selected", [batch.pk], apply="1", reason="r", password=PASSWORD)
    assert response.streaming
    assert PLAINTEXTS[1] in b"".join(response.streaming_content).decode("utf-8-sig")


def test_find_by_code_goes_to_the_code_without_echoing_it(ops_client, codes):
    url = reverse("admin:catalog_cardcode_find_by_code")
    assert ops_client.get(url).status_code == 200
    response = ops_client.post(url, {"apply": "1", "code": "reveal0002-bbbb"})
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:catalog_cardcode_change", args=[codes[1].pk])
    missing = ops_client.post(url, {"apply": "1", "code": "NOT-A-CODE-123"})
    assert missing.status_code == 200 and missing.context["form"].errors["code"]
    assert "NOT-A-CODE-123" not in missing.content.decode()
    assert AuditLog.objects.filter(action="codes.lookup").count() == 2
