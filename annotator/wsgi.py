import os

from django.core.wsgi import get_wsgi_application

# Deployed entry points fail closed: the production settings refuse to start without a
# SECRET_KEY. Development says annotator.settings.base (manage.py does by default).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.settings.production")
application = get_wsgi_application()
