from django.core.management.base import BaseCommand, CommandError

from settlement.selectors.ledger import ledger_check


class Command(BaseCommand):
    help = "Prove the ledger: every balance equals the sum of its entries, every transfer and the trial balance are zero."

    def handle(self, *args, **options):
        report = ledger_check()
        self.stdout.write(f"accounts={report.accounts} entries={report.entries}")
        for currency, total in sorted(report.trial_balance.items()):
            self.stdout.write(f"trial balance {currency}: {total}")
        for row in report.mismatched:
            self.stdout.write(self.style.ERROR(f"balance mismatch: {row}"))
        for row in report.unbalanced_transfers:
            self.stdout.write(self.style.ERROR(f"unbalanced transfer: {row}"))
        for row in report.limit_breaches:
            self.stdout.write(self.style.ERROR(f"past its limit: {row}"))
        if not report.ok:
            raise CommandError("ledger check FAILED")
        self.stdout.write(self.style.SUCCESS("ledger check OK"))
