from django.core.management.base import BaseCommand, CommandError

from voucherhub.core.audit import audit_chain_verify


class Command(BaseCommand):
    help = (
        "Seal pending audit entries, then walk the audit hash chain and report the first broken link "
        "(edited, deleted or moved rows). Exits 1 when the chain is broken."
    )

    def add_arguments(self, parser):
        parser.add_argument("--no-seal", action="store_true", help="Verify only what is sealed; do not seal pending rows first.")
        parser.add_argument(
            "--expect-head",
            metavar="SEQ:HASH",
            help="A head printed by an earlier run and kept elsewhere; fails if the chain no longer contains it.",
        )

    def handle(self, *args, **options):
        expect = None
        if options["expect_head"]:
            seq, _, digest = options["expect_head"].partition(":")
            if not seq.isdigit() or len(digest) != 64:
                raise CommandError("--expect-head takes SEQ:HASH, as printed by this command")
            expect = (int(seq), digest)
        report = audit_chain_verify(seal=not options["no_seal"], expect_head=expect)
        if not report.ok:
            self.stderr.write(self.style.ERROR(f"audit chain BROKEN at #{report.broken_seq}: {report.problem}"))
            self.stderr.write(f"entries verified before the break: {report.checked}")
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS(f"audit chain OK: {report.checked} entries verified"))
        self.stdout.write(f"head: {report.head_seq}:{report.head_hash}")
        if report.unsealed:
            self.stdout.write(f"not yet sealed (written during the check): {report.unsealed}")
