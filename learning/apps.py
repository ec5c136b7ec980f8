from django.apps import AppConfig


class LearningConfig(AppConfig):
    name = "learning"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from annotator.signals import answers_committed
        from learning import services  # needs the app registry, so imported here

        answers_committed.connect(
            services.training_on_answers, dispatch_uid="learning.training_on_answers"
        )
