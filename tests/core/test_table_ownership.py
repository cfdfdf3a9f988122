"""Each app writes only its own tables (issue 14, DESIGN.md): no SQL in an app names another app's table.

The test reads the source of every app (migrations aside) and looks for another app's table, written out
(`catalog_cardcode`) or taken from its model (`CardCode._meta.db_table`, `_table(CardCode)`,
`prepared.select_list(CardCode, …)`). The ORM's own queries never name a table in our source, so what it
finds is hand-written SQL. Exports and read-only reports may join other apps' tables: they are listed below,
each with why.
"""

import re
from pathlib import Path

from django.apps import apps

ROOT = Path(__file__).resolve().parents[2]

# (file, table or model named there): read-only SQL that spans apps on purpose.
ALLOWED = {
    # The finance exports: one streamed SELECT per sheet, joining the distributor, SKU and storefront names.
    ("settlement/exporting.py", "catalog_sku"),
    ("settlement/exporting.py", "catalog_product"),
    ("settlement/exporting.py", "catalog_supplier"),
    ("settlement/exporting.py", "catalog_codebatch"),
    ("settlement/exporting.py", "catalog_cardcode"),
    ("settlement/exporting.py", "catalog_codeevent"),
    ("settlement/exporting.py", "channels_distributor"),
    ("settlement/exporting.py", "channels_storefront"),
    ("settlement/exporting.py", "marketing_campaign"),
    # The supplier sheet values codes and top-ups at what the supplier really charged.
    ("settlement/exporting.py", "supply_replenishment"),
    ("settlement/exporting.py", "supply_topup"),
    ("settlement/exporting.py", "supply_upstream"),
}

# Where a model's table is taken into hand-written SQL.
MODEL_IN_SQL = re.compile(r"\b([A-Z]\w*)\._meta\.db_table|\b_table\(\s*([A-Z]\w*)\s*\)|\bselect_list\(\s*([A-Z]\w*)\s*,")


def _owners():
    """Our apps' source folders (the deepest first, so voucherhub/core is core's, not the project's)."""
    ours = [(Path(config.path), config.label) for config in apps.get_app_configs() if Path(config.path).is_relative_to(ROOT)]
    return sorted(ours, key=lambda pair: -len(pair[0].parts))


def _tables():
    tables, models = {}, {}
    for model in apps.get_models(include_auto_created=True):
        tables[model._meta.db_table] = model._meta.app_label
        models.setdefault(model.__name__, set()).add(model._meta.app_label)
    return tables, models


def _crossings(path: Path, owner: str, tables: dict, models: dict) -> list[tuple[str, int, str]]:
    text = path.read_text(encoding="utf-8")
    rel = path.relative_to(ROOT).as_posix()
    found = []
    for table, app in tables.items():
        if app == owner:
            continue
        for match in re.finditer(rf"(?<![\w.]){re.escape(table)}\b", text):
            found.append((rel, text.count("\n", 0, match.start()) + 1, table))
    for match in MODEL_IN_SQL.finditer(text):
        name = next(group for group in match.groups() if group)
        labels = models.get(name, set())
        if labels and owner not in labels:
            found.append((rel, text.count("\n", 0, match.start()) + 1, name))
    return [(rel, line, name) for rel, line, name in found if (rel, name) not in ALLOWED]


def _sources():
    owners = _owners()
    for owner_path, owner in owners:
        for path in sorted(owner_path.rglob("*.py")):
            rel = path.relative_to(ROOT)
            if "migrations" in rel.parts:
                continue
            # a file inside a nested app belongs to that app only
            if next(label for folder, label in owners if path.is_relative_to(folder)) != owner:
                continue
            yield path, owner


def test_no_app_names_another_apps_table_in_sql():
    tables, models = _tables()
    crossings = [crossing for path, owner in _sources() for crossing in _crossings(path, owner, tables, models)]
    assert crossings == [], "\n".join(f"{rel}:{line}: names {name} (another app's table)" for rel, line, name in crossings)


def test_the_check_finds_a_crossing(tmp_path, monkeypatch):
    # given: settlement code with an UPDATE of catalog's codes, written out and through the model
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    (tmp_path / "settlement").mkdir()
    sneaky = tmp_path / "settlement" / "sneaky.py"
    sneaky.write_text('SQL = "UPDATE catalog_cardcode SET status = %s"\nOTHER = f"DELETE FROM {CodeEvent._meta.db_table}"\n')
    tables, models = _tables()
    # then: both are found, and the app's own tables are not
    found = _crossings(sneaky, "settlement", tables, models)
    assert [(line, name) for _rel, line, name in found] == [(1, "catalog_cardcode"), (2, "CodeEvent")]
    assert _crossings(sneaky, "catalog", tables, models) == []


def test_every_allowed_crossing_is_still_there():
    """An allow-list entry that no longer matches anything is stale: remove it."""
    seen = set()
    for path, _owner in _sources():
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(ROOT).as_posix()
        seen |= {(rel, name) for rel_, name in ALLOWED if rel_ == rel and re.search(rf"(?<![\w.]){re.escape(name)}\b", text)}
    assert seen == ALLOWED
