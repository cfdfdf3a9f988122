from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from channels import selectors, services
from voucherhub.core.errors import DomainError


class Command(BaseCommand):
    help = "Issue an API key for the distributor USERNAME belongs to; prints `key=<key id> secret=<secret>` (shown once)."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="username of a distributor's user")
        parser.add_argument("--label", default="issued by command", help="a note to recognise the key by")
        parser.add_argument("--ip", action="append", default=[], help="allowed address or network (repeatable); none allows any")

    def handle(self, *args, user, label, ip, **options):
        account = get_user_model().objects.filter(username=user).first()
        if account is None:
            raise CommandError(f"no user named {user!r}")
        distributor = selectors.distributor_for_user(account)
        if distributor is None:
            raise CommandError(f"user {user!r} does not belong to a distributor")
        try:
            key, secret = services.api_key_issue(distributor=distributor, label=label, ip_allowlist=ip)
        except DomainError as exc:
            raise CommandError(str(exc.message))
        self.stdout.write(f"key={key.key_id} secret={secret}")
