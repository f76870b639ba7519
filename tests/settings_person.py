"""The test settings with tasks shown to a ``Person`` model, as in OSIS (``base.Person``)."""

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.personapp"]
OSIS_ASYNC_PERSON_MODEL = "personapp.Person"
