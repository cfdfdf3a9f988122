"""`python manage.py import_codes --sku SKU PATH [--mode all|valid]`: import card codes from CSV or XLSX.

Prints the counts and every bad row (row number, reason, masked hint; never a code). Exits with 1 when
mode `all` refused the file (nothing stored) and 2 when the file itself is unusable."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from catalog.importing import checks, errors, jobs
from catalog.models import ImportJob, Sku


class Command(BaseCommand):
    help = "Import card codes from a CSV or XLSX file (columns: code, and optionally serial and expires_at)."

    def add_arguments(self, parser):
        parser.add_argument("path", help="CSV or XLSX file with a header row naming a `code` column")
        parser.add_argument("--sku", required=True, help="SKU code the codes belong to")
        parser.add_argument(
            "--mode",
            choices=[ImportJob.Mode.ALL, ImportJob.Mode.VALID],
            default=ImportJob.Mode.ALL,
            help="all: store nothing unless every row is good (default); valid: store the good rows, report the bad",
        )
        parser.add_argument("--user", help="username recorded as the importer (default: system)")

    def handle(self, *args, path, sku, mode, user=None, **options):
        sku_obj = Sku.objects.filter(code=sku).first()
        if sku_obj is None:
            raise CommandError(f"unknown SKU: {sku}", returncode=2)
        actor = None
        if user:
            actor = get_user_model().objects.filter(username=user).first()
            if actor is None:
                raise CommandError(f"unknown user: {user}", returncode=2)
        try:
            job = jobs.codes_import(sku=sku_obj, path_or_file=path, mode=mode, actor=actor)
        except FileNotFoundError:
            raise CommandError(f"no such file: {path}", returncode=2)
        except errors.ImportRefused as refused:
            self._report(refused.job)
            raise CommandError(
                f"refused (mode all): {refused.job.invalid_rows} bad row(s) of {refused.job.total_rows}; nothing stored", returncode=1
            )
        except errors.ImportFileRejected as rejected:
            if rejected.job is not None:
                self._report(rejected.job)
            raise CommandError(f"file rejected: {rejected.failure}: {rejected.message}", returncode=2)
        self._report(job)
        style = self.style.SUCCESS if not job.invalid_rows else self.style.WARNING
        self.stdout.write(style(f"stored {job.stored_rows} code(s) in batch #{job.batch_id or '-'} (import #{job.pk})"))

    def _report(self, job: ImportJob) -> None:
        self.stdout.write(
            f"import #{job.pk} {job.filename} sku={job.sku.code} mode={job.mode}: "
            f"rows={job.total_rows} valid={job.valid_rows} bad={job.invalid_rows} stored={job.stored_rows}"
        )
        for reason, count in sorted(job.reason_counts.items()):
            self.stdout.write(f"  {reason}: {count}")
        for error in job.errors:
            line = f"row {error['row']}\t{error['reason']}\t{checks.error_text(error)}"
            if error.get("hint"):
                line += f"\t{error['hint']}"
            self.stdout.write(line)
