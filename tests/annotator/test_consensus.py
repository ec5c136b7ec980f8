import datetime as dt

import pytest

from annotator.consensus import Vote, agreement, final_label, path_at_level

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def vote(path: str, minute: int, source: str = "manual") -> Vote:
    return Vote(path, source, T0 + dt.timedelta(minutes=minute))


def test_no_votes_no_label():
    assert final_label([]) is None


def test_one_annotator_agrees_with_itself():
    label = final_label([vote("animal/cat", 0)])
    assert (label.path, label.source, label.agreement) == ("animal/cat", "manual", (1.0, 1.0))
    assert label.final_agreement == 1.0


def test_majority_wins():
    label = final_label(
        [vote("animal/cat", 0), vote("animal/dog", 1), vote("animal/cat", 2, "corrected")]
    )
    assert label.path == "animal/cat"
    assert label.source == "corrected"
    assert label.labeled_at == T0 + dt.timedelta(minutes=2)
    assert label.agreement == (1.0, pytest.approx(2 / 3))


def test_tie_goes_to_the_most_recent():
    assert final_label([vote("animal/cat", 0), vote("animal/dog", 1)]).path == "animal/dog"
    assert final_label([vote("animal/dog", 0), vote("animal/cat", 1)]).path == "animal/cat"


def test_coarse_answers_count_towards_their_ancestors_only():
    # Three say animal (one of them coarse-only); two say vehicle/truck.
    votes = [
        vote("vehicle/truck", 0),
        vote("vehicle/truck", 1),
        vote("animal/cat", 2),
        vote("animal", 3),
        vote("animal", 4),
    ]
    label = final_label(votes)
    assert label.path == "animal/cat"
    assert label.agreement == (pytest.approx(3 / 5), pytest.approx(1 / 5))


def test_coarse_only_label_when_nobody_goes_deeper():
    label = final_label([vote("animal", 0), vote("animal", 1), vote("vehicle/truck", 2)])
    assert label.path == "animal"
    assert label.agreement == (pytest.approx(2 / 3),)


def test_coarse_answer_does_not_break_a_tie_below_it():
    label = final_label([vote("animal/cat", 0), vote("animal/dog", 1), vote("animal", 2)])
    assert label.path == "animal/dog"
    assert label.agreement == (1.0, pytest.approx(1 / 3))


def test_auto_label_only_without_human_answers():
    auto = final_label([vote("animal/cat", 0, "auto"), vote("animal/dog", 1, "auto")])
    human_wins = final_label([vote("animal/cat", 5, "auto"), vote("animal/dog", 0, "confirmed")])

    assert (auto.path, auto.source, auto.agreement, auto.final_agreement) == (
        "animal/dog",
        "auto",
        (),
        None,
    )
    assert (human_wins.path, human_wins.source) == ("animal/dog", "confirmed")
    assert human_wins.agreement == (1.0, 1.0)


def test_deeper_taxonomies():
    votes = [vote("a/b/c", 0), vote("a/b/d", 1), vote("a/e/f", 2), vote("a/b/c", 3)]
    label = final_label(votes)
    assert label.path == "a/b/c"
    assert label.agreement == (1.0, 0.75, 0.5)


def test_helpers():
    assert path_at_level("animal/cat", 1) == "animal"
    assert path_at_level("animal", 2) is None
    assert agreement(paths=[], label_path="animal") == ()
