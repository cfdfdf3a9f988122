"""Issue 14: one idempotency table. settlement's records (the API's orders, scope "api-order:<distributor>")
move to voucherhub.core's, keeping their fingerprint (an unkeyed SHA-256 of the body) marked
`fingerprint_legacy`: the orders API recomputes that fingerprint for a replay of such a record
(settlement.api._fingerprint_before_issue_14). A record without an answer was never committed by the old
code (it wrote the record with its expected answer); none is copied."""

from django.db import migrations

BATCH = 2000


def records_to_core(apps, schema_editor):
    Old = apps.get_model("settlement", "IdempotencyRecord")
    New = apps.get_model("core", "IdempotencyRecord")
    batch = []
    for old in Old.objects.filter(response__isnull=False, status_code__isnull=False).order_by("pk").iterator(chunk_size=BATCH):
        batch.append(
            New(
                scope=old.scope,
                key=old.key,
                fingerprint=old.request_hash,
                fingerprint_legacy=True,
                status_code=old.status_code,
                response=old.response,
                created_at=old.created_at,
            )
        )
        if len(batch) >= BATCH:
            New.objects.bulk_create(batch, ignore_conflicts=True)
            batch = []
    New.objects.bulk_create(batch, ignore_conflicts=True)


def records_back(apps, schema_editor):
    Old = apps.get_model("settlement", "IdempotencyRecord")
    New = apps.get_model("core", "IdempotencyRecord")
    moved = New.objects.filter(scope__startswith="api-order:", fingerprint_legacy=True)
    Old.objects.bulk_create(
        [
            Old(scope=r.scope, key=r.key, request_hash=r.fingerprint, status_code=r.status_code, response=r.response, created_at=r.created_at)
            for r in moved.iterator()
        ],
        batch_size=BATCH,
    )
    moved.delete()


class Migration(migrations.Migration):
    dependencies = [
        ("settlement", "0009_exportjob_heartbeat_attempts_failure"),
        ("core", "0004_idempotency_reference_and_legacy_fingerprint"),
    ]

    operations = [
        migrations.RunPython(records_to_core, records_back),
        migrations.DeleteModel(name="IdempotencyRecord"),
    ]
