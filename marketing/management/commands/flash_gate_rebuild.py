"""Rebuild the flash-sale gate in Redis from the database: every flash sale that runs now or will run
(after a Redis restart, a flush, or a change of slots), or only the campaigns named with --campaign."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from marketing.gate import gate_enabled, gate_rebuild
from marketing.models import Campaign


class Command(BaseCommand):
    help = "Rebuild the flash-sale admission gate (Redis) from the database, which is the truth."

    def add_arguments(self, parser):
        parser.add_argument("--campaign", type=int, action="append", default=[], help="only this campaign id (repeatable)")

    def handle(self, *args, **options):
        if not gate_enabled():
            self.stdout.write("No Redis cache (CACHE_URL): the flash sales run on the database alone; nothing to rebuild.")
            return
        campaigns = Campaign.objects.filter(kind=Campaign.Kind.FLASH_SALE)
        if options["campaign"]:
            campaigns = campaigns.filter(pk__in=options["campaign"])
            if campaigns.count() != len(set(options["campaign"])):
                raise CommandError("Not a flash-sale campaign id: check --campaign.")
        else:
            campaigns = campaigns.filter(ends_at__gt=timezone.now()).exclude(status=Campaign.Status.ENDED)
        rebuilt = busy = 0
        for campaign in campaigns.order_by("pk"):
            if gate_rebuild(campaign=campaign):
                rebuilt += 1
            else:
                busy += 1
                self.stdout.write(f"campaign {campaign.pk}: another process is rebuilding it now")
        self.stdout.write(self.style.SUCCESS(f"Flash gate rebuilt for {rebuilt} campaign(s); {busy} busy."))
