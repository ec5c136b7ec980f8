import pytest
from django.contrib import admin
from django.urls import reverse

from tests.annotator.test_access import world  # noqa: F401  (fixture: one of everything)
from tests.factories import PASSWORD


@pytest.mark.django_db
def test_every_admin_page_loads(client, world, admin_user):  # noqa: F811
    admin_user.is_superuser = True
    admin_user.save()
    client.login(username=admin_user.username, password=PASSWORD)
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        listing = client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        assert listing.status_code == 200, meta.label
        first = model_admin.get_queryset(listing.wsgi_request).first()
        if first is not None:
            page = client.get(
                reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[first.pk])
            )
            assert page.status_code == 200, meta.label
