import os
from pathlib import Path

from celery import Celery

# Deployed entry points fail closed: the production settings refuse to start without a
# SECRET_KEY. Development says annotator.settings.base (manage.py does by default).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.settings.production")

app = Celery("arbor")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _filesystem_broker_folders(sender: Celery, **kwargs) -> None:
    """kombu's filesystem transport expects its folders to exist."""
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if key in options:
            Path(options[key]).mkdir(parents=True, exist_ok=True)
