"""Every audit action code has a readable, translated label, and the audit log pages show it beside the code."""

import ast
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import translation

from voucherhub.core import audit
from voucherhub.core.audit import audit_action_label, audit_action_labels, audit_record

ROOT = Path(__file__).resolve().parents[2]
APPS = ["catalog", "channels", "settlement", "redemption", "riskcontrol", "marketing", "voucherhub", "analytics"]
WRITERS = {"audit_record", "audit_record_many"}
ROWS = {"AuditLog"}  # core's own writers build rows directly (the admin's LogEntry copies)


def _callee(call: ast.Call) -> str | None:
    return getattr(call.func, "id", None) or getattr(call.func, "attr", None)


def _strings(expr: ast.AST) -> set[str]:
    """The string literals an expression can evaluate to: not dict keys, not what a comparison compares."""
    skip: set[int] = set()
    for node in ast.walk(expr):
        if isinstance(node, ast.Dict):
            skip |= {id(key) for key in node.keys if key is not None}
        if isinstance(node, ast.Compare):
            skip |= {id(sub) for sub in ast.walk(node)}
    return {n.value for n in ast.walk(expr) if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in skip}


def _assigned(nodes, name: str) -> list[ast.AST]:
    return [
        node.value for node in nodes if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
    ]


class _Scan(ast.NodeVisitor):
    """Collect the action codes of every audit write in one module, and the audit writers' wrappers."""

    def __init__(self, module: ast.Module, path: str, wrappers: set[str]):
        self.module, self.path, self.wrappers = module, path, wrappers
        self.codes: dict[str, str] = {}
        self.problems: list[str] = []
        self.function: ast.FunctionDef | None = None

    def visit_FunctionDef(self, node):
        outer, self.function = self.function, node
        self.generic_visit(node)
        self.function = outer

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Call(self, node):
        self.generic_visit(node)
        if _callee(node) not in WRITERS | ROWS | self.wrappers:
            return
        for keyword in node.keywords:
            if keyword.arg == "action":
                self._collect(keyword.value, node.lineno)

    def _collect(self, expr: ast.AST, line: int) -> None:
        where = f"{self.path}:{line}"
        if any(isinstance(n, ast.JoinedStr | ast.BinOp) for n in ast.walk(expr)):
            self.problems.append(f"{where}: build no action code from pieces; write each whole code as a literal")
            return
        found = _strings(expr)
        params = {a.arg for a in self.function.args.kwonlyargs + self.function.args.args} if self.function else set()
        passed_on = False
        for name in {n.id for n in ast.walk(expr) if isinstance(n, ast.Name)}:
            if name == "action" and name in params:
                passed_on = True  # a wrapper passing its caller's code on: the callers are scanned
                continue
            # a local of the writing function, else a module constant (not another function's local)
            values = (_assigned(ast.walk(self.function), name) if self.function else []) or _assigned(self.module.body, name)
            for value in values:
                found |= _strings(value)
        if not found and not passed_on:
            self.problems.append(f"{where}: cannot tell which action code this writes")
        for code in found:
            self.codes.setdefault(code, where)


def _modules():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield str(path.relative_to(ROOT)), ast.parse(path.read_text())


def _wrappers(modules) -> set[str]:
    """Functions taking an `action` and handing it to an audit writer (channels' _set_status, settlement's reconcile)."""
    names = set()
    for _path, module in modules:
        for fn in ast.walk(module):
            if isinstance(fn, ast.FunctionDef) and "action" in {a.arg for a in fn.args.kwonlyargs + fn.args.args}:
                for call in ast.walk(fn):
                    if isinstance(call, ast.Call) and _callee(call) in WRITERS:
                        if any(k.arg == "action" and isinstance(k.value, ast.Name) and k.value.id == "action" for k in call.keywords):
                            names.add(fn.name)
    return names - WRITERS


def action_codes_in_the_code() -> tuple[dict[str, str], list[str]]:
    modules = list(_modules())
    wrappers = _wrappers(modules)
    codes, problems = {}, []
    for path, module in modules:
        scan = _Scan(module, path, wrappers)
        scan.visit(module)
        problems += scan.problems
        for code, where in scan.codes.items():
            codes.setdefault(code, where)
    return codes, problems


def test_the_scan_finds_the_audit_writes_literal_ternary_mapped_and_wrapped():
    codes, problems = action_codes_in_the_code()
    assert not problems, "\n".join(problems)
    assert {
        "wallet.topup",  # audit_record(action="...")
        "codes.reveal",  # audit_record_many
        "storefront.update",  # "a" if created else "b"
        "codes.import_cancelled",  # a local {status: code} mapping
        "aftersales.rejected",  # a module-level mapping
        "admin.delete",  # core's admin LogEntry mapping
        "distributor.suspend",  # through channels' _set_status(action=...)
        "merchant_statement.reconcile",  # through settlement's reconcile(action=...)
    } <= set(codes)
    assert len(codes) >= 70
    assert not {"store_true", "append", "purchase"} & set(codes)  # argparse and risk contexts are no audit writes


def test_every_audit_action_in_the_code_has_a_label():
    codes, _problems = action_codes_in_the_code()
    labels = audit_action_labels()
    missing = sorted(f"{where}: {code}" for code, where in codes.items() if code not in labels)
    assert not missing, "give these audit actions a label in their app's audit_actions.py:\n" + "\n".join(missing)


def test_a_code_built_from_pieces_is_refused_by_the_scan():
    module = ast.parse('def close(status):\n    audit_record(action=f"case.{status}")\n')
    scan = _Scan(module, "x.py", set())
    scan.visit(module)
    assert scan.problems and "literal" in scan.problems[0]


@pytest.mark.parametrize(("language", "label"), [("zh-hans", "钱包充值"), ("en", "Wallet topped up")])
def test_labels_follow_the_active_language(language, label):
    with translation.override(language):
        assert audit_action_label("wallet.topup") == label


def test_every_label_has_a_chinese_translation():
    with translation.override("zh-hans"):
        untranslated = [code for code, label in audit_action_labels().items() if str(label).isascii()]
    assert not untranslated


def test_an_unknown_action_reads_as_its_code():
    assert audit_action_label("nobody.registered_this") == "nobody.registered_this"


def test_one_app_owns_a_code(monkeypatch):
    monkeypatch.setattr(audit, "_ACTION_LABELS", dict(audit._ACTION_LABELS))
    same = audit_action_labels()["wallet.topup"]
    audit.audit_actions_register({"wallet.topup": same})  # the same registration again: fine
    with pytest.raises(ValueError, match="wallet.topup"):
        audit.audit_actions_register({"wallet.topup": "Another label"})


# --- the pages ----------------------------------------------------------------------------------


@pytest.fixture
def entries(db, finance_user):
    topup = audit_record(actor=finance_user, action="wallet.topup", obj="wallet W-1", data={"amount": "100.00"})
    reveal = audit_record(actor=finance_user, action="codes.reveal", obj="batch 7")
    unknown = audit_record(action="legacy.thing", obj="old row")
    return topup, reveal, unknown


def test_the_audit_log_shows_the_chinese_label_and_keeps_the_code(finance_client, entries):
    page = finance_client.get(reverse("admin:core_auditlog_changelist"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    body = page.content.decode()
    assert page.status_code == 200
    assert "钱包充值" in body and "显示卡密明文" in body
    assert 'data-audit-action="wallet.topup" title="wallet.topup"' in body  # the raw code stays there for ops
    assert 'data-audit-action="legacy.thing">legacy.thing<' in body  # no label: the code itself


def test_the_audit_log_in_english(finance_client, entries):
    body = finance_client.get(reverse("admin:core_auditlog_changelist"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Wallet topped up" in body and "钱包充值" not in body


def test_the_action_filter_offers_labels_and_filters_by_code(finance_client, entries):
    url = reverse("admin:core_auditlog_changelist")
    page = finance_client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans")
    options = page.content.decode().split('name="action"')[1].split("</select>")[0]
    assert 'value="wallet.topup"' in options and "钱包充值 · wallet.topup" in options
    assert "legacy.thing" in options

    filtered = finance_client.get(url, {"action": "wallet.topup"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert list(filtered.context["cl"].result_list) == [entries[0]]


def test_the_audit_log_is_searchable_by_label_and_by_code(finance_client, entries):
    url = reverse("admin:core_auditlog_changelist")
    by_label = finance_client.get(url, {"q": "充值"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert list(by_label.context["cl"].result_list) == [entries[0]]
    by_code = finance_client.get(url, {"q": "codes.reveal"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert list(by_code.context["cl"].result_list) == [entries[1]]
    # a label search stays inside the chosen filter
    both = finance_client.get(url, {"q": "充值", "action": "codes.reveal"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert list(both.context["cl"].result_list) == []


def test_an_audit_entry_shows_its_label(finance_client, entries):
    page = finance_client.get(reverse("admin:core_auditlog_change", args=[entries[0].pk]), HTTP_ACCEPT_LANGUAGE="zh-hans")
    body = page.content.decode()
    assert page.status_code == 200
    assert "钱包充值" in body and "wallet.topup" in body
    with translation.override("zh-hans"):
        assert "钱包充值" in str(entries[0])
