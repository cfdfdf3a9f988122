import pytest
from django.test import override_settings

from catalog import codegen, vault


def test_seal_and_open_round_trip():
    sealed = vault.seal("abcd-efgh-1234-5678")
    ring = vault.keyring()
    assert ring.open(ciphertext=sealed.ciphertext, key_id=sealed.key_id, blind_index=sealed.blind_index) == "ABCDEFGH12345678"
    assert b"ABCDEFGH" not in sealed.ciphertext


def test_same_code_same_index_different_ciphertext():
    a, b = vault.seal("CODE-0001-XYZ"), vault.seal(" code0001xyz ")
    assert a.blind_index == b.blind_index
    assert a.ciphertext != b.ciphertext


def test_ciphertext_moved_to_another_row_does_not_open():
    a, b = vault.seal("FIRSTCODE123"), vault.seal("SECONDCODE45")
    with pytest.raises(vault.VaultError):
        vault.keyring().open(ciphertext=a.ciphertext, key_id=a.key_id, blind_index=b.blind_index)


@pytest.mark.parametrize(
    ("code", "hint"),
    [("ABCDEFGHIJKLMNOP", "••••MNOP"), ("ABCDEFGHIJKL", "••••JKL"), ("ABCDEFGH", "••••GH"), ("SHORT12", "••••"), ("X", "••••")],
)
def test_hint_shows_at_most_a_quarter(code, hint):
    assert vault.seal(code).hint == hint
    shown = hint.replace(vault.MASK, "")
    assert len(shown) <= len(code) // 4


def test_index_key_is_separate_from_encryption_key():
    sealed = vault.seal("SAMECODE9999")
    with override_settings(VAULT_INDEX_KEY=vault.new_key()):
        assert vault.blind_index_of("SAMECODE9999") != sealed.blind_index


def test_old_key_still_opens_after_a_new_key_is_added():
    old = vault.seal("ROTATEME1234")
    from django.conf import settings

    with override_settings(VAULT_KEYS=[vault.new_key(), *settings.VAULT_KEYS]):
        ring = vault.keyring()
        assert ring.current_id != old.key_id
        assert ring.open(ciphertext=old.ciphertext, key_id=old.key_id, blind_index=old.blind_index) == "ROTATEME1234"
        blob, key_id = ring.reseal(ciphertext=old.ciphertext, key_id=old.key_id, blind_index=old.blind_index)
        assert key_id == ring.current_id
        assert ring.open(ciphertext=blob, key_id=key_id, blind_index=old.blind_index) == "ROTATEME1234"


def test_unknown_key_is_an_error():
    sealed = vault.seal("ROTATEME1234")
    with override_settings(VAULT_KEYS=[vault.new_key()]):
        with pytest.raises(vault.VaultError):
            vault.keyring().open(ciphertext=sealed.ciphertext, key_id=sealed.key_id, blind_index=sealed.blind_index)


def test_generated_codes_check_character_and_alphabet():
    codes = {codegen.new_code() for _ in range(2000)}
    assert len(codes) == 2000
    for code in codes:
        assert len(code) == 17
        assert set(code) <= set(codegen.ALPHABET)
        assert codegen.is_valid(code)
        assert codegen.is_valid(codegen.pretty(code).lower())


def test_check_character_catches_every_single_substitution():
    code = codegen.new_code()
    for position in range(len(code)):
        for symbol in codegen.ALPHABET:
            if symbol != code[position]:
                assert not codegen.is_valid(code[:position] + symbol + code[position + 1 :])
