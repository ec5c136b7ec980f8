import json

import pytest
from django.core.management import call_command

from annotator.demo import DEMO_DATA
from tests.learning.conftest import easy_images

pytestmark = pytest.mark.django_db(transaction=True)


def _simulate(tmp_path, capsys, **options):
    out = tmp_path / "report.json"
    call_command(
        "simulate",
        images=easy_images(tmp_path / "images"),
        taxonomy=DEMO_DATA / "taxonomy.json",
        strategy="combined",
        annotators=2,
        batch=20,
        retrain_every=40,
        shadow_size=20,
        out=out,
        **options,
    )
    return json.loads(out.read_text()), capsys.readouterr().out.strip().splitlines()[-1]


def test_simulated_campaign_labels_everything_with_fewer_keys(
    tmp_path, capsys, settings, small_features
):
    settings.ARBOR_AUTO_RETRAIN = True

    report, last_line = _simulate(tmp_path, capsys, budget=400, audit_size=80, auto_accept=0.95)

    final = report["final"]
    assert final["items"] == final["labeled"] == 400
    assert final["label_accuracy"] >= 0.95
    assert final["manual_keystrokes"] == 800  # two picks per item, one by one
    assert final["keystrokes"] < final["manual_keystrokes"]
    assert final["human_seconds"] < final["manual_human_seconds"]
    assert final["auto_accepted"] > 0
    assert final["human_annotations"] + final["auto_accepted"] == 400
    versions = [row["model_version"] for row in report["rounds"] if row["model_version"]]
    assert versions == sorted(versions) and len(versions) >= 2
    assert report["rounds"][-1]["model_accuracy"]["fine"] > 0.9
    ratio = final["keystrokes"] / final["manual_keystrokes"]
    assert last_line == f"label_accuracy={final['label_accuracy']:.4f} keystroke_ratio={ratio:.4f}"


def test_noise_and_budget_show_in_the_report(tmp_path, capsys, settings, small_features):
    settings.ARBOR_AUTO_RETRAIN = True

    report, _ = _simulate(tmp_path, capsys, budget=100, noise=0.3)

    final = report["final"]
    assert final["human_annotations"] == 100
    assert final["labeled"] == 100 < final["items"]
    assert 0.5 < final["label_accuracy"] < 0.9
