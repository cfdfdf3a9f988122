"""`manage.py rebuild_rollups --since 2026-09-01 [--until 2026-12-07] [--only sales commission]`: recompute every
local day of the rollups from the source tables (docs/analytics.md); prints the days recomputed per rollup."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from analytics.rollups import all_rollups, rollups_rebuild


def _date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(_("%(option)s: %(value)r is not a date (YYYY-MM-DD).") % {"option": option, "value": value}) from None


class Command(BaseCommand):
    help = "Recompute the analytics rollups of every local day from --since to --until (today by default)."

    def add_arguments(self, parser):
        parser.add_argument("--since", required=True, help="First local day, YYYY-MM-DD.")
        parser.add_argument("--until", help="Last local day, YYYY-MM-DD (default: today).")
        parser.add_argument("--only", nargs="+", metavar="NAME", help="Only these rollups (default: all).")

    def handle(self, *args, since, until=None, only=None, **options):
        first = _date(since, "--since")
        last = _date(until, "--until") if until else timezone.localdate()
        if last < first:
            raise CommandError(_("--until (%(until)s) is before --since (%(since)s).") % {"until": last, "since": first})
        known = [rollup.name for rollup in all_rollups()]
        unknown = sorted(set(only or ()) - set(known))
        if unknown:
            raise CommandError(_("Unknown rollup: %(names)s. Known: %(known)s.") % {"names": ", ".join(unknown), "known": ", ".join(known)})
        for name, days in rollups_rebuild(first, last, names=only).items():
            self.stdout.write(_("%(name)s: %(days)s days recomputed") % {"name": name, "days": days})
