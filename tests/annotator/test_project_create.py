"""One service creates a project with its first taxonomy, audited, for every caller."""

import json

import pytest
from django.core.management import call_command

from annotator import services
from annotator.exceptions import ImportRejected
from annotator.models import AuditEvent, Project
from tests.factories import UserFactory

TREE = {"levels": ["kind", "animal"], "tree": {"pets": ["cat", "dog"], "wild": ["bird"]}}


@pytest.mark.django_db
def test_the_service_creates_the_project_and_its_audited_first_taxonomy():
    admin = UserFactory(is_staff=True)
    project = services.project_create(name=" Pets ", created_by=admin, taxonomy=TREE)

    assert project.name == "Pets"
    taxonomy = project.taxonomies.get()
    assert sorted(taxonomy.nodes.filter(is_leaf=True).values_list("name", flat=True)) == [
        "bird",
        "cat",
        "dog",
    ]
    event = AuditEvent.objects.get(project=project)
    assert (event.action, event.actor, event.after["version"]) == ("taxonomy.create", admin, 1)


@pytest.mark.django_db
def test_a_bad_taxonomy_leaves_no_project_behind():
    with pytest.raises(ImportRejected):
        services.project_create(name="Broken", created_by=None, taxonomy={"tree": {"x": 1}})
    assert not Project.objects.filter(name="Broken").exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_the_command_goes_through_the_same_service(tmp_path):
    taxonomy = tmp_path / "taxonomy.json"
    taxonomy.write_text(json.dumps(TREE))
    (tmp_path / "images").mkdir()

    call_command("create_project", name="From CLI", taxonomy=taxonomy, images=tmp_path / "images")

    project = Project.objects.get(name="From CLI")
    assert AuditEvent.objects.filter(project=project, action="taxonomy.create").count() == 1
