import json

import numpy as np
import pytest
from django.core.management import call_command

from annotator import services as annotator_services
from annotator.demo import DEMO_DATA
from annotator.models import Membership, Prediction
from learning import services
from learning.simulation import KEY_S, MENTAL_S, Annotator, Tally, _answer, _nodes
from tests.factories import MembershipFactory
from tests.learning.conftest import answer_truthfully, easy_images

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


def test_a_right_prediction_costs_one_enter_and_a_wrong_one_the_full_path(
    easy_project, django_capture_on_commit_callbacks
):
    """The labeling page's Enter confirms the shown prediction in any mode (keymap.js)."""
    user = MembershipFactory(project=easy_project, role=Membership.Role.ANNOTATOR).user
    answer_truthfully(easy_project, user, 40)
    with django_capture_on_commit_callbacks(execute=True):
        run, _ = services.training_run_request(project=easy_project, trigger="manual")
    predictions = Prediction.objects.filter(model_version__training_run=run)
    predictions.update(mode=Prediction.Mode.FULL, settled_depth=0)
    leaves, children, depth = _nodes(easy_project)
    # Every other prediction made wrong: a leaf other than the item's true one.
    for prediction in predictions.select_related("item")[::2]:
        prediction.predicted_node = next(
            leaf for leaf in leaves if leaf.pk != prediction.item.ground_truth_id
        )
        prediction.save(update_fields=["predicted_node"])
    person = Annotator(
        user=user,
        rng=np.random.default_rng(0),
        noise=0.0,
        leaves=leaves,
        choices_at=children,
        depth=depth,
    )

    costs = {True: set(), False: set()}
    for _ in range(30):
        lease = annotator_services.queue_next(project=easy_project, user=user)
        right = lease.prediction.predicted_node_id == lease.item.ground_truth_id
        tally = Tally()
        _answer(easy_project, person, lease, tally)
        costs[right].add((tally.keystrokes, round(tally.seconds, 6)))

    assert costs[True] == {(1, round(MENTAL_S + KEY_S, 6))}
    assert {keys for keys, _ in costs[False]} == {2}  # a pick per level
