"""Reads of after-sales cases for the operations pages."""

from settlement.models import CodeIssue


def code_issues_open_count() -> int:
    return CodeIssue.objects.filter(status=CodeIssue.Status.OPEN).count()
