"""The export command: options on the command line, a file out."""

import io

import pytest
from django.core.management import CommandError, call_command
from torchvision.datasets import ImageFolder

from tests.annotator.exports.helpers import unzip


def test_the_command_writes_a_file(project, labeled, tmp_path):
    out = tmp_path / "labels.zip"
    stdout, stderr = io.StringIO(), io.StringIO()

    call_command(
        "export",
        "--project",
        str(project.id),
        "--format",
        "imagefolder",
        "--out",
        str(out),
        "--layout",
        "flat",
        "--min-agreement",
        "0.6",
        stdout=stdout,
        stderr=stderr,
    )

    assert ImageFolder(unzip(out, tmp_path / "x")).classes == ["cat", "truck"]
    assert "Exported 2 items" in stdout.getvalue()
    assert "5/5 items" in stderr.getvalue()


def test_the_command_refuses_bad_options(project, tmp_path):
    with pytest.raises(CommandError, match="exclude each other"):
        call_command(
            "export",
            *("--project", str(project.id), "--format", "csv", "--out", str(tmp_path / "x")),
            "--human-only",
            "--include-auto",
        )
    with pytest.raises(CommandError, match="No project"):
        call_command("export", "--project", "0", "--format", "csv", "--out", str(tmp_path / "x"))
