from django.conf import settings
from django.db import models


class Person(models.Model):
    """Stands for OSIS's ``base.Person``: one per user, reached as ``request.user.person``."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, related_name="person"
    )
    global_id = models.CharField(max_length=10, blank=True)
    first_name = models.CharField(max_length=50, blank=True)
    last_name = models.CharField(max_length=50, blank=True)
    email = models.EmailField(blank=True)

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"
