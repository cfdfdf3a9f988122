"""Shared helpers of the vault tests: codes with their plaintexts kept in memory (and only there)."""

from catalog import services, vault
from catalog.models import CardCode, CodeBatch


def plaintexts_of(queryset) -> dict[int, str]:
    """Open codes straight through the keyring (test-side only): {code id: plaintext}."""
    ring = vault.keyring()
    return {
        pk: ring.open(ciphertext=ciphertext, key_id=key_id, blind_index=index)
        for pk, ciphertext, key_id, index in queryset.values_list("pk", "ciphertext", "key_id", "blind_index")
    }


def insert_codes(*, sku, plaintexts: list[str], serial_prefix: str = "", status: str = CardCode.Status.AVAILABLE) -> CodeBatch:
    """Store known plaintexts in a new batch, the way an import does (sealed, then codes_insert)."""
    batch = services.batch_create(sku=sku, source=CodeBatch.Source.IMPORT, label="test import")
    services.codes_insert(
        batch=batch,
        codes=[
            services.NewCode(sealed=vault.seal(p), serial=f"{serial_prefix}{i:04d}" if serial_prefix else "")
            for i, p in enumerate(plaintexts)
        ],
    )
    if status != CardCode.Status.AVAILABLE:
        CardCode.objects.filter(batch=batch).update(status=status)
    return batch


def action_post(client, url: str, action: str, pks, **data):
    """POST a changelist action (first step: no `apply`; add apply=1 for the form's submit)."""
    return client.post(url, {"action": action, "_selected_action": [str(pk) for pk in pks], **data})
