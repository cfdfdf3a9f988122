"""Each SKU that has codes gets its allocation cursor at its first available code (or past its last code
when none is available), so the first claims after the upgrade do not scan the codes sold before it."""

from django.db import migrations
from django.db.models import Max, Min, Q


def cursors_start(apps, schema_editor):
    CardCode = apps.get_model("catalog", "CardCode")
    AllocationCursor = apps.get_model("catalog", "AllocationCursor")
    rows = CardCode.objects.order_by().values("sku_id").annotate(first_available=Min("id", filter=Q(status="available")), last=Max("id"))
    AllocationCursor.objects.bulk_create(
        [AllocationCursor(sku_id=row["sku_id"], position=row["first_available"] or row["last"] + 1) for row in rows],
        ignore_conflicts=True,
        batch_size=1000,
    )


class Migration(migrations.Migration):
    dependencies = [("catalog", "0006_allocation_cursor_and_returned_codes")]

    operations = [migrations.RunPython(cursors_start, migrations.RunPython.noop)]
