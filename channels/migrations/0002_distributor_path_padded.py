"""Distributor paths become zero-padded ("/1/10/" -> "/0000000001/0000000010/") so ordering by path is tree order."""

from django.db import migrations

DIGITS = 10


def _rewrite(apps, schema_editor, pad: bool) -> None:
    Distributor = apps.get_model("channels", "Distributor")
    changed = []
    for distributor in Distributor.objects.only("pk", "path").iterator(chunk_size=2000):
        steps = [int(p) for p in distributor.path.strip("/").split("/") if p]
        path = "/" + "".join(f"{s:0{DIGITS}d}/" if pad else f"{s}/" for s in steps)
        if path != distributor.path:
            distributor.path = path
            changed.append(distributor)
    Distributor.objects.bulk_update(changed, ["path"], batch_size=2000)


def pad(apps, schema_editor):
    _rewrite(apps, schema_editor, pad=True)


def unpad(apps, schema_editor):
    _rewrite(apps, schema_editor, pad=False)


class Migration(migrations.Migration):
    dependencies = [("channels", "0001_initial")]

    operations = [migrations.RunPython(pad, unpad)]
