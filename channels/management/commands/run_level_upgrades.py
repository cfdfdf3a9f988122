from django.core.management.base import BaseCommand

from channels.services import levels_upgrade


class Command(BaseCommand):
    help = "Run the distributor level upgrade now (the same job django-q2 runs daily)."

    def handle(self, *args, **options):
        changes = levels_upgrade()
        for change in changes:
            self.stdout.write(f"{change.distributor}: {change.from_level} -> {change.to_level}")
        self.stdout.write(f"{len(changes)} distributor(s) upgraded")
