"""The records an export holds: filters, the request's moment, and chunked reading."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotator.exports.job import export_write
from annotator.exports.options import ExportOptions, export_spec_build
from tests.annotator.export_data import annotate, model_version, predict
from tests.annotator.exports.helpers import csv_rows, write
from tests.factories import item_create


def test_include_auto_adds_auto_labels_with_their_source(project, labeled, tmp_path):
    out, counts = write(project, tmp_path, "csv", include_auto=True)

    auto = csv_rows(out)["4.png"]
    assert (auto["label"], auto["source"], auto["annotators"], auto["agreement"]) == (
        "animal/dog",
        "auto",
        "",
        "",
    )
    assert counts.exported == 5 and not counts.left_out


def test_human_only_drops_auto_answers_from_the_records(project, labeled, tmp_path):
    out, counts = write(project, tmp_path, "json", human_only=True)

    records = {r["file"]: r for r in json.loads(out.read_text())["items"]}
    assert [a["source"] for a in records["1.png"]["annotations"]] == ["manual", "confirmed"]
    assert "4.png" not in records
    assert counts.left_out == {"auto_label": 1}


def test_min_agreement(project, labeled, tmp_path):
    out, counts = write(project, tmp_path, "csv", min_agreement=0.6)

    assert set(csv_rows(out)) == {"1.png", "2.png", "3.png"}  # the tie agrees at 0.5
    assert counts.left_out == {"auto_label": 1, "below_min_agreement": 1}


def test_annotations_after_the_request_are_not_exported(project, people, tmp_path):
    item = item_create(project, 1)
    annotate(item, "animal/cat", annotator=people["alice"])
    spec = export_spec_build(project=project, format="csv", options=ExportOptions())
    late = annotate(item, "animal/dog", annotator=people["bob"], minute=60 * 48)
    assert late.created_at > spec.as_of

    counts = export_write(spec=spec, destination=tmp_path / "out.csv")

    assert csv_rows(tmp_path / "out.csv")["1.png"]["label"] == "animal/cat"
    assert counts.exported == 1


def _labeled_items(project, seeds: range, user, version) -> None:
    for seed in seeds:
        item = item_create(project, seed)
        annotate(item, "animal/cat", annotator=user)
        predict(item, "animal/cat", version=version, confidence=0.5)


@pytest.mark.parametrize("format", ["csv", "json", "coco", "imagefolder"])
def test_queries_per_chunk_are_pinned(
    project, people, tmp_path, monkeypatch, django_assert_max_num_queries, format
):
    """Items, annotations and predictions: three queries per chunk, whatever its size."""
    monkeypatch.setattr("annotator.exports.records.CHUNK_SIZE", 4)
    version = model_version(project)
    options = ExportOptions(layout="nested" if format == "imagefolder" else None)

    def queries(count: int) -> int:
        spec = export_spec_build(project=project, format=format, options=options)
        with CaptureQueriesContext(connection) as captured:
            export_write(spec=spec, destination=tmp_path / "out")
        return len(captured)

    _labeled_items(project, range(100, 108), people["alice"], version)
    two_chunks = queries(8)
    _labeled_items(project, range(200, 208), people["bob"], version)  # 16 items: four chunks
    spec = export_spec_build(project=project, format=format, options=options)
    # count + 3 per chunk + the empty last page + the taxonomy (json, coco, imagefolder)
    with django_assert_max_num_queries(1 + 3 * 4 + 1 + 1):
        export_write(spec=spec, destination=tmp_path / "out")
    assert queries(16) - two_chunks == 3 * 2


def test_progress_is_reported_per_chunk(project, labeled, tmp_path, monkeypatch):
    monkeypatch.setattr("annotator.exports.records.CHUNK_SIZE", 2)
    seen = []
    spec = export_spec_build(project=project, format="csv", options=ExportOptions())

    export_write(
        spec=spec,
        destination=tmp_path / "out.csv",
        progress=lambda counts: seen.append((counts.processed, counts.total)),
    )

    assert seen == [(0, 5), (2, 5), (4, 5), (5, 5)]
