"""Redeem and reverse keep their idempotency answers in core's table (voucherhub.core.idempotency): copy
redemption's records there, under the scope `redemption:<caller>`.

The fingerprint is copied as it was (redemption's own HMAC of the request) with `fingerprint_legacy` set:
core then asks services._legacy_fingerprint for the request's old fingerprint, so a retry of a request
answered before the move still gets its first answer. The redemption it answered is kept as `reference_id`.
Copying back restores the rows of that kind."""

from django.db import migrations

PREFIX = "redemption:"
BATCH = 2000


def copy_to_core(apps, schema_editor):
    Old = apps.get_model("redemption", "IdempotencyRecord")
    New = apps.get_model("core", "IdempotencyRecord")
    rows = []
    for old in Old.objects.order_by("pk").iterator(chunk_size=BATCH):
        rows.append(
            New(
                scope=PREFIX + old.scope,
                key=old.key,
                fingerprint=old.request_hash,
                fingerprint_legacy=True,
                reference_id=old.redemption_id,
                status_code=old.status_code,
                response=old.response,
                created_at=old.created_at,
            )
        )
        if len(rows) >= BATCH:
            New.objects.bulk_create(rows, ignore_conflicts=True)
            rows = []
    New.objects.bulk_create(rows, ignore_conflicts=True)


def copy_back(apps, schema_editor):
    Old = apps.get_model("redemption", "IdempotencyRecord")
    New = apps.get_model("core", "IdempotencyRecord")
    rows = [
        Old(
            scope=new.scope.removeprefix(PREFIX),
            key=new.key,
            request_hash=new.fingerprint,
            status_code=new.status_code,
            response=new.response,
            created_at=new.created_at,
            redemption_id=new.reference_id,
        )
        for new in New.objects.filter(scope__startswith=PREFIX, fingerprint_legacy=True).iterator(chunk_size=BATCH)
    ]
    Old.objects.bulk_create(rows, batch_size=BATCH, ignore_conflicts=True)
    New.objects.filter(scope__startswith=PREFIX, fingerprint_legacy=True).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("redemption", "0001_merchants_redemptions_holdings"),
        ("core", "0004_idempotency_reference_and_legacy_fingerprint"),
    ]

    operations = [migrations.RunPython(copy_to_core, copy_back)]
