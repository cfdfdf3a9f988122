"""redemption.IdempotencyRecord goes: its rows are in core's table (0002)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("redemption", "0002_idempotency_records_to_core")]

    operations = [migrations.DeleteModel(name="IdempotencyRecord")]
