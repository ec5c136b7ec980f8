"""The JSON export: full records with the taxonomy."""

import json

from tests.annotator.exports.helpers import write


def test_json_holds_full_records_with_the_taxonomy(project, labeled, tmp_path):
    out, _ = write(project, tmp_path, "json")

    data = json.loads(out.read_text(encoding="utf-8"))

    export = data["export"]
    assert export["project"] == {"id": project.id, "name": project.name}
    assert export["taxonomy"]["version"] == 1
    assert export["model_version"]["version"] == 2
    assert export["arbor_version"] and export["as_of"] and export["created_at"]
    assert export["filters"] == {
        "human_only": False,
        "include_auto": False,
        "min_agreement": None,
        "layout": None,
    }
    assert data["taxonomy"]["levels"] == ["coarse", "fine"]
    assert {node["path"] for node in data["taxonomy"]["nodes"]} >= {"animal", "animal/cat"}
    records = {record["file"]: record for record in data["items"]}
    assert set(records) == {"1.png", "2.png", "3.png", "6.png"}
    agreed = records["1.png"]
    assert agreed["label"]["path"] == "animal/cat"
    assert agreed["label"]["agreement"] == [1.0, 1.0]
    assert [(a["annotator"], a["source"]) for a in agreed["annotations"]] == [
        (None, "auto"),
        ("alice", "manual"),
        ("bob", "confirmed"),
    ]
    assert agreed["annotations"][1]["duration_ms"] == 1500
    assert agreed["prediction"]["model_version"] == 2
    assert agreed["prediction"]["path"] == "animal/dog"
    assert records["6.png"]["prediction"] is None
    assert data["counts"] == {"exported": 4, "left_out": {"auto_label": 1}}
