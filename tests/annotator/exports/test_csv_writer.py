"""The CSV export: one row per labeled item, readable by csv and by the importer."""

import csv

from annotator.selectors import taxonomy_current
from annotator.taxonomy.creation import taxonomy_create
from tests.annotator.export_data import annotate
from tests.annotator.exports.helpers import csv_rows, write
from tests.factories import ProjectFactory, item_create, taxonomy_build


def test_csv_has_one_row_per_labeled_item(project, labeled, tmp_path):
    out, counts = write(project, tmp_path, "csv")

    rows = csv_rows(out)
    with out.open(encoding="utf-8") as stream:
        header = next(csv.reader(stream))

    assert header[:6] == ["file", "image_hash", "item_id", "coarse", "fine", "label"]
    assert set(rows) == {"1.png", "2.png", "3.png", "6.png"}  # no auto, no unlabeled
    agreed = rows["1.png"]
    assert agreed["image_hash"] == labeled["agreed"].content_hash
    assert (agreed["coarse"], agreed["fine"], agreed["label"]) == (
        "animal",
        "animal/cat",
        "animal/cat",
    )
    assert agreed["source"] == "confirmed"
    assert agreed["annotators"] == "alice;bob"
    assert agreed["human_annotations"] == "2"
    assert agreed["agreement"] == "1.0"
    # The newest model's prediction, whatever it says.
    assert (agreed["model_version"], agreed["confidence"]) == ("2", "0.7")
    assert agreed["taxonomy_version"] == "1"
    assert agreed["created_at"] and agreed["labeled_at"].startswith("20")
    majority = rows["2.png"]
    assert (majority["label"], majority["source"], majority["agreement"]) == (
        "vehicle/truck",
        "corrected",
        "0.6667",
    )
    assert majority["annotators"] == "alice;bob;carol"
    assert (majority["model_version"], majority["confidence"]) == ("1", "0.6")
    assert (rows["3.png"]["coarse"], rows["3.png"]["fine"], rows["3.png"]["label"]) == (
        "animal",
        "",
        "animal",
    )
    assert rows["6.png"]["label"] == "animal/dog"  # a tie goes to the most recent
    assert rows["6.png"]["model_version"] == ""
    assert counts.exported == 4
    assert counts.left_out == {"auto_label": 1}


def test_csv_labels_go_back_in_through_the_importer(project, labeled, tmp_path):
    out, _ = write(project, tmp_path, "csv")
    rows = csv_rows(out).values()
    leaf_paths = sorted({row["fine"] for row in rows if row["fine"]})

    copy = ProjectFactory()
    taxonomy = taxonomy_create(
        project=copy, csv_text="path\n" + "\n".join(leaf_paths), levels=["coarse", "fine"]
    )

    leaves = taxonomy.nodes.filter(is_leaf=True)
    assert sorted(leaves.values_list("path", flat=True)) == leaf_paths
    assert taxonomy.levels == taxonomy_current(project=project).levels


def test_a_level_named_like_a_column_does_not_shadow_it(tmp_path, people):
    project = ProjectFactory()
    taxonomy_build(project, {"a": ["b"]}, levels=("label", "fine"))
    annotate(item_create(project, 1), "a/b", annotator=people["alice"])

    out, _ = write(project, tmp_path, "csv")

    row = next(iter(csv_rows(out).values()))
    assert (row["level_label"], row["fine"], row["label"]) == ("a", "a/b", "a/b")
