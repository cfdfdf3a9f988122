"""Key rotation keeps every code decryptable and leaves none under the old key; an interrupted rotation resumes."""

import threading
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test import override_settings

from catalog import services, vault
from catalog.models import CardCode
from tests import factories
from tests.catalog.vault_helpers import plaintexts_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def old_codes():
    """Codes sealed under the current (soon old) key, with their plaintexts kept in memory."""
    sku = factories.SkuFactory()
    services.codes_generate(sku=sku, count=40)
    services.codes_generate(sku=sku, count=13)
    return plaintexts_of(CardCode.objects.all())


def _rotate(*args) -> str:
    out = StringIO()
    call_command("rotate_vault_key", "--pause", "0", *args, stdout=out)
    return out.getvalue()


def test_rotation_keeps_every_code_decryptable_and_none_under_the_old_key(old_codes):
    old_id = vault.keyring().current_id
    new_key = vault.new_key()
    with override_settings(VAULT_KEYS=[new_key, *settings.VAULT_KEYS]):
        new_id = vault.keyring().current_id
        out = _rotate("--chunk-size", "10")
        assert "53/53 rows (100%)" in out and "done: 53 rows" in out
    assert not CardCode.objects.filter(key_id=old_id).exists()
    assert set(CardCode.objects.values_list("key_id", flat=True)) == {new_id}
    # the old key can go: the new key alone opens every code, to the same plaintext
    with override_settings(VAULT_KEYS=[new_key]):
        assert plaintexts_of(CardCode.objects.all()) == old_codes
        assert "nothing to do" in _rotate()
    # no plaintext in the command's output
    assert not any(p in out for p in old_codes.values())


def test_an_interrupted_rotation_resumes(old_codes):
    old_id = vault.keyring().current_id
    new_key = vault.new_key()
    # given a row in the middle of the vault that does not open (the "crash")
    victim = CardCode.objects.order_by("pk")[25]
    good_blob = bytes(victim.ciphertext)
    CardCode.objects.filter(pk=victim.pk).update(ciphertext=good_blob[:-1] + bytes([good_blob[-1] ^ 1]))
    with override_settings(VAULT_KEYS=[new_key, *settings.VAULT_KEYS]):
        new_id = vault.keyring().current_id
        # when the rotation runs, it stops at that chunk with a clear error
        with pytest.raises(CommandError, match=f"#{victim.pk}"):
            _rotate("--chunk-size", "10")
        # then the chunks before it are committed under the new key, the rest still under the old one
        assert CardCode.objects.filter(key_id=new_id).count() == 20
        assert CardCode.objects.filter(key_id=old_id).count() == 33
        # when the row is repaired and the command runs again, it continues where it stopped
        CardCode.objects.filter(pk=victim.pk).update(ciphertext=good_blob)
        out = _rotate("--chunk-size", "10")
        assert "re-encrypting 33 rows" in out
    assert set(CardCode.objects.values_list("key_id", flat=True)) == {new_id}
    with override_settings(VAULT_KEYS=[new_key]):
        assert plaintexts_of(CardCode.objects.all()) == old_codes


def test_dry_run_counts_rows_per_key_and_changes_nothing(old_codes):
    old_id = vault.keyring().current_id
    with override_settings(VAULT_KEYS=[vault.new_key(), *settings.VAULT_KEYS]):
        out = _rotate("--dry-run")
        assert f"{old_id}: 53 rows (old)" in out
        assert "53 rows would be re-encrypted" in out
    assert set(CardCode.objects.values_list("key_id", flat=True)) == {old_id}


def test_rows_under_an_unconfigured_key_stop_the_command(old_codes):
    old_id = vault.keyring().current_id
    with override_settings(VAULT_KEYS=[vault.new_key()]):
        with pytest.raises(CommandError, match=old_id):
            _rotate()
    assert set(CardCode.objects.values_list("key_id", flat=True)) == {old_id}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_rotation_skips_rows_locked_by_a_running_order_then_finishes():
    # given codes under the old key, one of them locked by a transaction that is still running
    services.codes_generate(sku=factories.SkuFactory(), count=30)
    plaintexts = plaintexts_of(CardCode.objects.all())
    busy = CardCode.objects.order_by("pk")[10].pk
    locked, release = threading.Event(), threading.Event()

    def hold_lock():
        with transaction.atomic():
            CardCode.objects.select_for_update().get(pk=busy)
            locked.set()
            release.wait(10)
        connection.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    locked.wait(10)
    new_key = vault.new_key()
    try:
        with override_settings(VAULT_KEYS=[new_key, *settings.VAULT_KEYS]):
            new_id = vault.keyring().current_id
            # when rotation runs with a single pass, it does not wait on the lock: the busy row is left
            with pytest.raises(CommandError, match="1 rows are still under an old key"):
                _rotate("--chunk-size", "7", "--max-passes", "1")
            assert CardCode.objects.exclude(key_id=new_id).get().pk == busy
            # and once the order's transaction ends, the next run finishes the job
            release.set()
            holder.join()
            assert "done: 1 rows" in _rotate()
    finally:
        release.set()
        holder.join()
    with override_settings(VAULT_KEYS=[new_key]):
        assert plaintexts_of(CardCode.objects.all()) == plaintexts
