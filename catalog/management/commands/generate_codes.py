"""`manage.py generate_codes --sku SKU --count N`: new random codes for a SKU, in one new batch."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from catalog.models import Sku
from catalog.services import codes_generate
from voucherhub.core.errors import DomainError


class Command(BaseCommand):
    help = "Generate N random card codes (80-bit, Crockford base32 with a check symbol) for a SKU, sealed in the vault."

    def add_arguments(self, parser):
        parser.add_argument("--sku", required=True, help="SKU code, e.g. IQIYI-VIP-M1")
        parser.add_argument("--count", required=True, type=int, help="how many codes (1 to 1,000,000)")
        parser.add_argument("--label", default="", help="note shown on the batch")
        parser.add_argument("--user", default="", help="username recorded as the batch's creator and in the audit log")

    def handle(self, *args, sku, count, label, user, **options):
        try:
            sku_obj = Sku.objects.get(code=sku)
        except Sku.DoesNotExist:
            raise CommandError(f"no SKU with code {sku!r}")
        actor = None
        if user:
            try:
                actor = get_user_model().objects.get(username=user)
            except get_user_model().DoesNotExist:
                raise CommandError(f"no user {user!r}")
        try:
            batch = codes_generate(sku=sku_obj, count=count, actor=actor, label=label)
        except DomainError as exc:
            raise CommandError(str(exc.message))
        # Only counts and ids: the codes themselves stay in the vault (reveal them through the admin).
        self.stdout.write(self.style.SUCCESS(f"generated {batch.code_count} codes for {sku_obj.code} in batch #{batch.pk}"))
