import pytest
from django.contrib import admin
from django.urls import reverse

from annotator.models import Membership
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


@pytest.mark.django_db
def test_audited_models_are_read_only_in_the_admin(client, project, annotator, admin_user):
    """Role changes go through the services, which audit them: the admin refuses them."""
    admin_user.is_superuser = True
    admin_user.save()
    client.login(username=admin_user.username, password=PASSWORD)
    membership = Membership.objects.get(project=project, user=annotator)
    data = {"project": project.pk, "user": annotator.pk, "role": Membership.Role.LEAD}

    change = client.post(reverse("admin:annotator_membership_change", args=[membership.pk]), data)
    add = client.post(reverse("admin:annotator_membership_add"), {**data, "user": admin_user.pk})

    assert (change.status_code, add.status_code) == (403, 403)
    membership.refresh_from_db()
    assert membership.role == Membership.Role.ANNOTATOR
    assert list(Membership.objects.filter(project=project)) == [membership]
