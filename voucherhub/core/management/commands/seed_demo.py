import importlib

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from voucherhub.core.demo import DEMO_PASSWORD

# Each app that has demo data offers `<module>.seed(out)`; they run in the apps' import order, except supply's
# top-up SKUs, which come right after the catalog so that channels prices them like every other SKU.
DEMO_MODULES = [
    "voucherhub.core.demo",
    "catalog.demo",
    "supply.demo",
    "channels.demo",
    "riskcontrol.demo",
    "redemption.demo",
    "marketing.demo",
    "settlement.demo",
    # last: 90 days of history through the services above, then the analytics rollups rebuilt (analytics/demo.py)
    "analytics.demo",
]


class Command(BaseCommand):
    help = "Load demo data for every app. Safe to run twice: rows that exist are kept."

    def handle(self, *args, **options):
        for name in DEMO_MODULES:
            module = importlib.import_module(name)
            if getattr(module, "SEED_ATOMIC", True):
                with transaction.atomic():
                    module.seed(self.stdout)
            else:  # the module makes its own transactions (analytics.demo: one per past day)
                module.seed(self.stdout)
        host = "http://127.0.0.1:8000/"
        self.stdout.write(self.style.SUCCESS(f"Demo data ready. Open {host} and log in with a demo user."))
        self.stdout.write(f"Demo password for every demo user: {DEMO_PASSWORD}")
        if settings.DEBUG:
            self.stdout.write("(development settings: never use these users in production)")
