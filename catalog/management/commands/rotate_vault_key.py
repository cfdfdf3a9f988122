"""`manage.py rotate_vault_key`: re-encrypt every card code under the current vault key.

Put the new key first in VAULT_KEYS (keep the old ones after it), restart the site, then run this.
It works through the vault in primary-key order, one short transaction per chunk, locking rows with
SKIP LOCKED so orders keep flowing; rows that were busy are picked up on a later pass. Rows already
under the current key are skipped, so after a crash or Ctrl-C simply run it again: it continues.
`--dry-run` only counts rows per key id. Once no row is left under an old key (and no import job in
progress holds an upload sealed under it), drop that key from VAULT_KEYS.
"""

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from catalog import selectors, vault
from catalog.models import CardCode, ImportJob


class Command(BaseCommand):
    help = "Re-encrypt every card code under the current vault key (chunked, resumable, online)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="only count rows per key id")
        parser.add_argument("--chunk-size", type=int, default=1000, help="rows per transaction (default 1000)")
        parser.add_argument("--max-passes", type=int, default=5, help="passes over rows that were locked by running orders")
        parser.add_argument("--pause", type=float, default=1.0, help="seconds to wait between passes")

    def handle(self, *args, dry_run, chunk_size, max_passes, pause, **options):
        if chunk_size < 1 or max_passes < 1:
            raise CommandError("--chunk-size and --max-passes must be at least 1")
        ring = vault.keyring()
        current = ring.current_id
        usage = selectors.key_usage()
        self._report(ring, usage)
        unknown = {key_id: n for key_id, n in usage.items() if key_id not in ring.key_ids}
        if unknown:
            listed = ", ".join(f"{key_id} ({n} rows)" for key_id, n in sorted(unknown.items()))
            raise CommandError(f"rows are sealed under keys missing from VAULT_KEYS: {listed}. Add those keys back after the current one.")
        todo = sum(n for key_id, n in usage.items() if key_id != current)
        if dry_run:
            self.stdout.write(f"dry run: {todo} rows would be re-encrypted under {current}")
            return
        if not todo:
            self.stdout.write(self.style.SUCCESS(f"nothing to do: every code is under the current key {current}"))
            return

        self.stdout.write(f"re-encrypting {todo} rows under {current} in chunks of {chunk_size}")
        done = 0
        for attempt in range(1, max_passes + 1):
            done += self._pass(ring, chunk_size=chunk_size, done=done, todo=todo)
            left = CardCode.objects.exclude(key_id=current).count()
            if not left:
                break
            if attempt < max_passes:
                self.stdout.write(f"{left} rows were busy (locked by running transactions); pass {attempt + 1} in {pause:g}s")
                time.sleep(pause)
        else:
            raise CommandError(f"{left} rows are still under an old key (locked by running transactions): run the command again")
        self.stdout.write(self.style.SUCCESS(f"done: {done} rows re-encrypted; every code is under the current key {current}"))

    def _pass(self, ring: vault.Keyring, *, chunk_size: int, done: int, todo: int) -> int:
        """One walk through the vault by primary key; returns how many rows it re-encrypted."""
        current = ring.current_id
        after = 0
        rotated = 0
        while True:
            with transaction.atomic():
                rows = list(
                    CardCode.objects.select_for_update(skip_locked=True)
                    .filter(pk__gt=after)
                    .exclude(key_id=current)
                    .order_by("pk")
                    .only("pk", "ciphertext", "key_id", "blind_index")[:chunk_size]
                )
                if not rows:
                    return rotated
                for row in rows:
                    try:
                        row.ciphertext, row.key_id = ring.reseal(ciphertext=row.ciphertext, key_id=row.key_id, blind_index=row.blind_index)
                    except vault.VaultError as exc:
                        # Earlier chunks are committed; this one is rolled back. Fix the row, then run again.
                        raise CommandError(f"card code #{row.pk} does not open ({exc}); {done + rotated} rows were re-encrypted before it")
                CardCode.objects.bulk_update(rows, ["ciphertext", "key_id"])
            after = rows[-1].pk
            rotated += len(rows)
            self.stdout.write(f"  {done + rotated}/{todo} rows ({100 * (done + rotated) // todo}%), up to #{after}")

    def _report(self, ring: vault.Keyring, usage: dict[str, int]) -> None:
        self.stdout.write(f"current key: {ring.current_id}; configured: {', '.join(ring.key_ids)}")
        for key_id, n in sorted(usage.items(), key=lambda item: (item[0] != ring.current_id, item[0])):
            note = "current" if key_id == ring.current_id else ("old" if key_id in ring.key_ids else "NOT CONFIGURED")
            self.stdout.write(f"  {key_id}: {n} rows ({note})")
        pending = ImportJob.objects.filter(payload__isnull=False).exclude(payload_key_id=ring.current_id).count()
        if pending:
            self.stdout.write(f"  note: {pending} import jobs hold an upload sealed under an older key; keep that key until they finish")
