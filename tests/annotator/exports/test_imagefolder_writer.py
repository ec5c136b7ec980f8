"""The ImageFolder zip, as torchvision loads it and as the importer takes it back."""

import json
import zipfile

from torchvision.datasets import ImageFolder

from annotator.imports.job import images_import
from annotator.models import Item
from tests.annotator.export_data import annotate
from tests.annotator.exports.helpers import unzip, write
from tests.factories import ProjectFactory, item_create, taxonomy_build


def test_torchvision_loads_the_flat_zip(project, labeled, tmp_path):
    out, counts = write(project, tmp_path, "imagefolder", layout="flat")

    dataset = ImageFolder(unzip(out, tmp_path / "flat"))

    assert dataset.classes == ["cat", "dog", "truck"]
    assert len(dataset) == 3
    image, target = dataset[0]
    assert image.size == (8, 8) and dataset.classes[target] == "cat"
    assert counts.left_out == {"auto_label": 1, "coarse_only": 1}
    provenance = json.loads((tmp_path / "flat" / "PROVENANCE.json").read_text())
    assert provenance["layout"] == "flat"
    assert provenance["left_out"] == {"auto_label": 1, "coarse_only": 1}
    assert provenance["taxonomy"]["version"] == 1


def test_torchvision_loads_the_nested_zip_with_coarse_labels_in_their_folder(
    project, labeled, tmp_path
):
    out, counts = write(project, tmp_path, "imagefolder")

    folder = unzip(out, tmp_path / "nested")
    dataset = ImageFolder(folder)

    assert dataset.classes == ["animal", "vehicle"]
    assert len(dataset) == 4
    coarse = labeled["coarse"].content_hash
    assert (folder / "animal" / f"{coarse}.png").is_file()
    assert (folder / "animal" / "cat" / f"{labeled['agreed'].content_hash}.png").is_file()
    assert counts.exported == 4


def test_imagefolder_zip_goes_back_in_with_the_same_labels(project, labeled, tmp_path):
    out, _ = write(project, tmp_path, "imagefolder")
    copy = ProjectFactory()
    taxonomy_build(copy)

    job = images_import(project=copy, source=out, with_labels=True)

    assert job.imported == 4
    assert [error["file"] for error in job.errors] == ["PROVENANCE.json"]
    truth = dict(
        Item.objects.filter(project=copy).values_list("content_hash", "ground_truth__path")
    )
    assert truth == {
        labeled["agreed"].content_hash: "animal/cat",
        labeled["majority"].content_hash: "vehicle/truck",
        labeled["tie"].content_hash: "animal/dog",
        labeled["coarse"].content_hash: None,  # coarse-only: no leaf to give
    }


def test_flat_layout_keeps_leaves_with_one_name_apart(tmp_path, people):
    project = ProjectFactory()
    taxonomy_build(project, {"vehicle": ["other"], "animal": ["other", "cat"]})
    annotate(item_create(project, 1), "vehicle/other", annotator=people["alice"])
    annotate(item_create(project, 2), "animal/other", annotator=people["alice"])
    annotate(item_create(project, 3), "animal/cat", annotator=people["alice"])

    out, _ = write(project, tmp_path, "imagefolder", layout="flat")

    assert ImageFolder(unzip(out, tmp_path / "flat")).classes == [
        "animal__other",
        "cat",
        "vehicle__other",
    ]


def test_folder_names_cannot_climb_out(tmp_path, people):
    project = ProjectFactory()
    taxonomy_build(project, {"..": [".."]})
    annotate(item_create(project, 1), "../..", annotator=people["alice"])

    out, _ = write(project, tmp_path, "imagefolder")

    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
    assert names[0].startswith("_../_../") and len(names) == 2
