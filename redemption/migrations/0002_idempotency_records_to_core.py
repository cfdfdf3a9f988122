"""Redeem and reverse keep their idempotency answers in core's table (voucherhub.core.idempotency): copy
redemption's records there, under the scope `redemption:<caller>`.

The fingerprint is copied as it was (redemption's own HMAC of the request); services._legacy_fingerprint
recognises it, so a retry of a request answered before the move still gets its first answer. Copying
back restores the rows (their fingerprints are the old ones whichever way they went)."""

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
            redemption_id=(new.response or {}).get("id") if new.status_code < 400 else None,
        )
        for new in New.objects.filter(scope__startswith=PREFIX).iterator(chunk_size=BATCH)
    ]
    existing = set(
        apps.get_model("redemption", "Redemption")
        .objects.filter(pk__in=[r.redemption_id for r in rows if r.redemption_id])
        .values_list("pk", flat=True)
    )
    for row in rows:
        if row.redemption_id not in existing:
            row.redemption_id = None
    Old.objects.bulk_create(rows, batch_size=BATCH, ignore_conflicts=True)
    New.objects.filter(scope__startswith=PREFIX).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("redemption", "0001_merchants_redemptions_holdings"),
        ("core", "0003_api_idempotency_and_spent_nonces"),
    ]

    operations = [migrations.RunPython(copy_to_core, copy_back)]
