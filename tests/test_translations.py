from django.utils import translation

from osis_async.models import AsyncTask, TaskState


def test_labels_are_translated_to_french() -> None:
    with translation.override("fr"):
        assert [str(label) for label in TaskState.labels] == [
            "En attente",
            "En cours",
            "Terminée",
            "Erreur",
            "Annulée",
        ]
        assert str(AsyncTask._meta.verbose_name_plural) == "tâches asynchrones"


def test_english_is_the_source_language() -> None:
    with translation.override("en"):
        assert str(TaskState.ERROR.label) == "Error"
