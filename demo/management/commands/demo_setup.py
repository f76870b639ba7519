from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the demo user (demo / demo), an admin (admin / admin), idempotently."

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        for username, staff in (("demo", False), ("admin", True)):
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"first_name": username.title(), "is_staff": staff, "is_superuser": staff},
            )
            if created:
                user.set_password(username)
                user.save()
            if options["verbosity"] >= 1:
                state = "created" if created else "already there"
                self.stdout.write(f"User {username!r} {state}.")
