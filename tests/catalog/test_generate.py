"""Generated codes: unique over 100k, alphabet and check character hold; the command and the admin action."""

import secrets

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from catalog import codegen, services, vault
from catalog.models import CardCode, CodeBatch, Sku
from tests import factories
from tests.catalog.vault_helpers import action_post, insert_codes, plaintexts_of
from voucherhub.core.models import AuditLog

pytestmark = pytest.mark.django_db


def test_generated_codes_unique_over_100k_with_alphabet_and_check_character():
    # given a SKU
    sku = factories.SkuFactory()
    # when 100,000 codes are generated for it
    batch = services.codes_generate(sku=sku, count=100_000)
    # then the batch holds exactly 100,000 distinct codes, each 16 Crockford symbols and a valid check symbol
    assert batch.code_count == 100_000
    codes = list(plaintexts_of(CardCode.objects.filter(batch=batch)).values())
    assert len(codes) == 100_000
    assert len(set(codes)) == 100_000
    alphabet = set(codegen.ALPHABET)
    assert not set("ILOU") & alphabet
    for code in codes:
        assert len(code) == 17 and set(code) <= alphabet
        assert code[-1] == codegen.check_symbol(code[:-1])
    # and the hint shows a quarter at most
    assert CardCode.objects.filter(batch=batch).exclude(hint__startswith=vault.MASK * 4).count() == 0


def test_codes_are_unique_against_codes_already_in_the_vault(monkeypatch):
    # given a code already in the vault (imported), and a random source that first yields exactly that code
    sku = factories.SkuFactory()
    taken = codegen.new_code()
    insert_codes(sku=sku, plaintexts=[taken])
    value = 0
    for symbol in taken[:16]:
        value = value * 32 + codegen.ALPHABET.index(symbol)
    draws = iter([value.to_bytes(10, "big")] * 3)
    real = secrets.token_bytes
    monkeypatch.setattr(codegen.secrets, "token_bytes", lambda n: next(draws, None) or real(n))
    # when codes are generated
    batch = services.codes_generate(sku=sku, count=5)
    # then the taken code was drawn again, never stored twice, and the batch is still full
    assert batch.code_count == 5
    assert taken not in plaintexts_of(CardCode.objects.filter(batch=batch)).values()
    assert CardCode.objects.filter(blind_index=vault.blind_index_of(taken)).count() == 1


def test_new_code_draws_80_bits():
    assert codegen.RANDOM_SYMBOLS * 5 >= 80
    codes = {codegen.new_code() for _ in range(20_000)}
    assert len(codes) == 20_000
    # every symbol of the alphabet turns up in every position (no stuck bits)
    for position in range(16):
        assert {code[position] for code in codes} == set(codegen.ALPHABET)


def test_crockford_reading_of_ambiguous_letters():
    code = codegen.new_code()
    typed = codegen.pretty(code).lower().replace("1", "l").replace("0", "o")
    assert codegen.is_valid(typed)
    assert codegen.canonical(typed) == code


@pytest.mark.parametrize("count", [0, -1, 1_000_001])
def test_count_out_of_range_is_refused(count):
    with pytest.raises(services.InvalidQuantity):
        services.codes_generate(sku=factories.SkuFactory(), count=count)
    assert not CodeBatch.objects.exists()


def test_topup_sku_has_no_codes():
    with pytest.raises(services.NoCodesForSku):
        services.codes_generate(sku=factories.SkuFactory(fulfilment=Sku.Fulfilment.TOPUP), count=3)


def test_generation_is_audited_without_plaintext():
    sku = factories.SkuFactory()
    batch = services.codes_generate(sku=sku, count=3, label="spring")
    entry = AuditLog.objects.get(action="codes.generate")
    assert entry.object_id == str(batch.pk)
    assert entry.data == {"sku": sku.code, "count": 3}


def test_generate_codes_command(capsys):
    sku = factories.SkuFactory(code="CMD-SKU")
    user = factories.UserFactory(username="opsbot")
    call_command("generate_codes", "--sku", "CMD-SKU", "--count", "25", "--label", "cli", "--user", "opsbot")
    batch = CodeBatch.objects.get(sku=sku)
    assert batch.code_count == 25 and batch.label == "cli" and batch.created_by == user
    out = capsys.readouterr().out
    assert f"batch #{batch.pk}" in out
    for plaintext in plaintexts_of(batch.codes.all()).values():
        assert plaintext not in out


def test_generate_codes_command_errors():
    factories.SkuFactory(code="CMD-SKU")
    with pytest.raises(CommandError, match="no SKU"):
        call_command("generate_codes", "--sku", "NOPE", "--count", "5")
    with pytest.raises(CommandError, match="1,000,000"):
        call_command("generate_codes", "--sku", "CMD-SKU", "--count", "0")


def test_admin_generate_action_asks_for_a_count_then_generates(ops_client):
    sku = factories.SkuFactory(fulfilment=Sku.Fulfilment.GENERATED)
    url = reverse("admin:catalog_sku_changelist")
    # the first step shows the form
    response = action_post(ops_client, url, "generate_for_selected", [sku.pk])
    assert response.status_code == 200
    assert 'name="count"' in response.content.decode()
    # a bad count is a form error
    response = action_post(ops_client, url, "generate_for_selected", [sku.pk], apply="1", count="0")
    assert response.status_code == 200
    assert response.context["form"].errors["count"]
    assert not CodeBatch.objects.exists()
    # a good count generates one batch
    response = action_post(ops_client, url, "generate_for_selected", [sku.pk], apply="1", count="12", label="admin")
    assert response.status_code == 302
    batch = CodeBatch.objects.get(sku=sku)
    assert batch.code_count == 12 and batch.label == "admin"
    assert AuditLog.objects.get(action="codes.generate").actor.username == "ops1"


def test_admin_generate_detail_action(ops_client):
    sku = factories.SkuFactory()
    url = reverse("admin:catalog_sku_generate_codes", args=[sku.pk])
    response = ops_client.get(url)
    assert response.status_code == 200
    assert "action-warning" in response.content.decode()  # imported SKU: the form warns
    response = ops_client.post(url, {"apply": "1", "count": "4"})
    assert response.status_code == 302
    assert CardCode.objects.filter(sku=sku).count() == 4


def test_generate_needs_the_permission(client):
    user = factories.UserFactory(username="staff-no-perm", is_staff=True)
    client.force_login(user)
    sku = factories.SkuFactory()
    assert client.post(reverse("admin:catalog_sku_generate_codes", args=[sku.pk]), {"apply": "1", "count": "4"}).status_code == 403
    assert not CardCode.objects.exists()


def test_codes_insert_stores_serials_and_expiry():
    from datetime import datetime, timedelta

    from django.utils import timezone

    sku = factories.SkuFactory()
    batch = services.batch_create(sku=sku, source=CodeBatch.Source.IMPORT)
    aware = timezone.now().replace(microsecond=0) + timedelta(days=30)
    naive = datetime(2030, 1, 31, 23, 59)
    stored = services.codes_insert(
        batch=batch,
        codes=[
            services.NewCode(sealed=vault.seal("INSERT-AAAA-0001"), serial="S-1", expires_at=aware),
            services.NewCode(sealed=vault.seal("INSERT-AAAA-0002"), serial="S-2", expires_at=naive),
            services.NewCode(sealed=vault.seal("INSERT-AAAA-0003")),
        ],
    )
    assert stored == 3
    batch.refresh_from_db()
    assert batch.code_count == 3
    rows = list(CardCode.objects.filter(batch=batch).order_by("serial"))
    assert [r.serial for r in rows] == ["", "S-1", "S-2"]
    assert rows[1].expires_at == aware
    assert rows[2].expires_at == timezone.make_aware(naive)
    assert {r.status for r in rows} == {CardCode.Status.AVAILABLE} and {r.order_ref for r in rows} == {""}
    assert sorted(plaintexts_of(CardCode.objects.filter(batch=batch)).values()) == ["INSERTAAAA0001", "INSERTAAAA0002", "INSERTAAAA0003"]
