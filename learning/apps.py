from django.apps import AppConfig


class LearningConfig(AppConfig):
    name = "learning"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from annotator.signals import answers_committed, images_imported

        # These need the app registry, so they are imported here.
        from learning import embeddings, services

        answers_committed.connect(
            services.training_on_answers, dispatch_uid="learning.training_on_answers"
        )
        images_imported.connect(
            embeddings.embeddings_request, dispatch_uid="learning.embeddings_request"
        )
