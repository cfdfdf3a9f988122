"""Mask card codes that sit in plaintext in after-sales cases (settlement_codeissue.details / resolution_note).

Before the free-text guard compared on the folded form, a code typed with dots, without its check symbol or
with zero-width spaces between its symbols was stored as typed. This finds such cases through the vault's
blind index (nothing is decrypted) and replaces each code by its masked hint, one short transaction per case.
Safe to run again; `--dry-run` only counts.
"""

from django.core.management.base import BaseCommand

from settlement.services.aftersales import code_issue_mask_codes, code_issues_holding_codes


class Command(BaseCommand):
    help = "Replace card codes typed into after-sales cases by their masked hints (use --dry-run to count first)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only count the cases that hold a code.")

    def handle(self, *args, dry_run=False, **options):
        cases = code_issues_holding_codes()
        if dry_run:
            self.stdout.write(f"cases holding a card code: {len(cases)} (nothing changed)")
            return
        masked = sum(code_issue_mask_codes(case_id=pk) for pk in cases)
        self.stdout.write(self.style.SUCCESS(f"cases masked: {len(cases)}, codes masked: {masked}"))
