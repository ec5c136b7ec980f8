"""Folder labels imported as gold (ground truth, never shown) or as human answers."""

import pytest

from annotator.imports.job import images_import
from annotator.models import Annotation, ImportJob, Item
from tests.annotator.imports.helpers import image_bytes, write_files


@pytest.mark.django_db
def test_folder_labels_as_human_answers_take_the_items_out_of_the_queue(project, lead, tmp_path):
    folder = write_files(
        tmp_path / "photos",
        {"cat/a.jpg": image_bytes(1), "dog/b.jpg": image_bytes(2), "misc/c.jpg": image_bytes(3)},
    )
    job = ImportJob.objects.create(
        project=project, created_by=lead, source=str(folder), with_labels=True, labels_as="human"
    )

    images_import(project=project, source=folder, with_labels=True, job=job)

    answers = {
        (a.item.original_name, a.node.path, a.annotator, a.source) for a in Annotation.objects.all()
    }
    assert answers == {
        ("cat/a.jpg", "animal/cat", lead, "manual"),
        ("dog/b.jpg", "animal/dog", lead, "manual"),
    }
    states = dict(Item.objects.values_list("original_name", "state"))
    assert states == {"cat/a.jpg": "labeled", "dog/b.jpg": "labeled", "misc/c.jpg": "unlabeled"}
    assert not Item.objects.exclude(ground_truth=None).exists()  # human, not gold


@pytest.mark.django_db
def test_folder_labels_as_gold_stay_ground_truth(project, lead, tmp_path):
    folder = write_files(tmp_path / "photos", {"cat/a.jpg": image_bytes(1)})
    job = ImportJob.objects.create(
        project=project, created_by=lead, source=str(folder), with_labels=True, labels_as="gold"
    )

    images_import(project=project, source=folder, with_labels=True, job=job)

    item = Item.objects.get()
    assert (item.ground_truth.path, item.state) == ("animal/cat", "unlabeled")
    assert not Annotation.objects.exists()
