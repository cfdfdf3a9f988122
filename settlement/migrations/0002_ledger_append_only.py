"""PostgreSQL: ledger entries and transfers are append-only (UPDATE and DELETE are refused)."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION settlement_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: %% on %% is refused (post a reversing transfer)', TG_OP, TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER settlement_entry_append_only BEFORE UPDATE OR DELETE ON settlement_entry
    FOR EACH ROW EXECUTE FUNCTION settlement_refuse_change();
CREATE TRIGGER settlement_transfer_append_only BEFORE UPDATE OR DELETE ON settlement_transfer
    FOR EACH ROW EXECUTE FUNCTION settlement_refuse_change();
"""

DROP = """
DROP TRIGGER IF EXISTS settlement_entry_append_only ON settlement_entry;
DROP TRIGGER IF EXISTS settlement_transfer_append_only ON settlement_transfer;
DROP FUNCTION IF EXISTS settlement_refuse_change();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("settlement", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
