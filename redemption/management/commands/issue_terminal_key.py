from django.core.management.base import BaseCommand, CommandError

from redemption import services
from redemption.models import Store


class Command(BaseCommand):
    help = "Create a terminal for a store; prints `key=<key id> secret=<secret>` (the secret is shown once)."

    def add_arguments(self, parser):
        parser.add_argument("--merchant", required=True, help="merchant code, e.g. starbucks")
        parser.add_argument("--store", required=True, help="store code, e.g. sh-nanjingxilu")
        parser.add_argument("--name", default="POS (issued by command)", help="the terminal's name")
        parser.add_argument("--ip", action="append", default=[], help="allowed address or network (repeatable); none allows any")

    def handle(self, *args, merchant, store, name, ip, **options):
        target = Store.objects.filter(merchant__code=merchant, code=store).select_related("merchant").first()
        if target is None:
            raise CommandError(f"no store {store!r} of merchant {merchant!r}")
        terminal, secret = services.terminal_create(store=target, name=name, ip_allowlist=ip)
        self.stdout.write(f"key={terminal.key_id} secret={secret}")
