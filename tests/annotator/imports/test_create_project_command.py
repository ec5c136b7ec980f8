"""The create_project command: a taxonomy and images in, a project out."""

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from annotator.models import Item, Membership, Project
from tests.annotator.imports.helpers import image_bytes, items_of, write_files, zip_write
from tests.factories import UserFactory


def command_run(*args: str) -> tuple[list[str], str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("create_project", *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue().splitlines(), stderr.getvalue()


@pytest.fixture
def taxonomy_file(tmp_path) -> Path:
    path = tmp_path / "taxonomy.json"
    path.write_text(
        '{"levels": ["coarse", "fine"], "tree": {"vehicle": ["truck"], "animal": ["cat", "dog"]}}'
    )
    return path


@pytest.mark.django_db
def test_create_project_command_end_to_end(tmp_path, taxonomy_file):
    UserFactory(username="lea")
    images = write_files(
        tmp_path / "images",
        {
            "cat/1.jpg": image_bytes(1),
            "cat/2.png": image_bytes(2, "PNG"),
            "dog/3.jpg": image_bytes(3),
            "dog/3-copy.jpg": image_bytes(3),
            "misc/4.jpg": image_bytes(4),
            "dog/broken.jpg": b"",
        },
    )

    lines, progress = command_run(
        "--name", "Pets", "--taxonomy", str(taxonomy_file), "--images", str(images),
        "--labels", "--lead", "lea",
    )  # fmt: skip

    project = Project.objects.get(pk=int(lines[-1]))
    assert lines[-1] == str(project.pk)
    assert project.name == "Pets"
    assert project.taxonomies.get().nodes.count() == 5
    assert Membership.objects.get(project=project).user.username == "lea"
    labels = {item.original_name: item.ground_truth for item in items_of(project)}
    assert {name: node and node.path for name, node in labels.items()} == {
        "cat/1.jpg": "animal/cat",
        "cat/2.png": "animal/cat",
        "dog/3-copy.jpg": "animal/dog",
        "misc/4.jpg": None,
    }
    summary = "\n".join(lines)
    assert "Imported 4 images, 1 duplicates, 1 skipped." in summary
    assert "dog/broken.jpg: The file is empty." in summary
    assert "No ground truth for 1 images in 'misc'" in summary
    assert "6/6 files (100%)" in progress


@pytest.mark.django_db
def test_create_project_command_with_a_csv_taxonomy_and_a_zip(tmp_path):
    taxonomy = tmp_path / "classes.csv"
    taxonomy.write_text("path\nanimal/cat\nvehicle/truck\n")
    images = zip_write(tmp_path / "images.zip", [("truck/1.jpg", image_bytes(1))])

    lines, _ = command_run(
        "--name", "Zip", "--taxonomy", str(taxonomy), "--levels", "coarse,fine",
        "--images", str(images), "--with-labels",
    )  # fmt: skip

    project = Project.objects.get(pk=int(lines[-1]))
    assert project.taxonomies.get().levels == ["coarse", "fine"]
    assert Item.objects.get(project=project).ground_truth.path == "vehicle/truck"


@pytest.mark.django_db
def test_create_project_command_refuses_a_blank_name_or_unknown_lead(tmp_path, taxonomy_file):
    images = write_files(tmp_path / "images", {"a.jpg": image_bytes(1)})
    common = ("--taxonomy", str(taxonomy_file), "--images", str(images))

    with pytest.raises(CommandError, match="A project needs a name"):
        command_run("--name", "  ", *common)
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        command_run("--name", "X", "--lead", "nobody", *common)
    assert not Project.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("taxonomy_text", "suffix", "images_name", "message"),
    [
        (None, ".json", "images", "No such taxonomy file"),
        ('{"tree": {"a": []}}', ".json", "images", "No children under 'a'"),
        ("{oops", ".json", "images", "not valid JSON"),
        ("a//b\n", ".csv", "images", "has an empty name"),
        ("levels: a", ".yaml", "images", "must be a .json or .csv file"),
        ('{"tree": {"a": ["b"]}}', ".json", "nowhere", "neither a folder nor a zip"),
    ],
)
def test_create_project_command_refuses_bad_input(
    tmp_path, taxonomy_text, suffix, images_name, message
):
    taxonomy = tmp_path / f"taxonomy{suffix}"
    if taxonomy_text is not None:
        taxonomy.write_text(taxonomy_text)
    write_files(tmp_path / "images", {"a.jpg": image_bytes(1)})

    with pytest.raises(CommandError, match=message):
        command_run(
            "--name", "X", "--taxonomy", str(taxonomy), "--images", str(tmp_path / images_name)
        )

    assert not Project.objects.exists()
