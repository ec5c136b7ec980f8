"""The labeling guide's maths: typical examples, confused classes, lookalikes."""

import numpy as np

from learning.core import guide
from learning.core.taxonomy import Taxonomy
from tests.learning.core.helpers import SMALL


def _points(*rows) -> np.ndarray:
    return np.array(rows, dtype=np.float64)


def test_typical_rows_are_nearest_the_class_mean_nearest_first():
    # Around the direction (1, 1), with two outliers on either side of it; row 4 is
    # row 0 scaled: only the direction counts.
    embeddings = _points([1, 1], [1, 0.9], [1, -1], [-1, 1], [3, 3], [0.9, 1])
    rows = np.arange(6)
    assert guide.nearest_rows(embeddings, rows, 2).tolist() == [0, 4]
    assert set(guide.nearest_rows(embeddings, rows, 6).tolist()[-2:]) == {2, 3}


def test_excluded_rows_are_never_chosen_and_ties_go_to_the_lower_row():
    embeddings = _points([1, 0], [1, 0], [0, 1])
    assert guide.nearest_rows(embeddings, np.array([0, 1, 2]), 1).tolist() == [0]
    assert guide.nearest_rows(embeddings, np.array([0, 1, 2]), 1, excluded={0}).tolist() == [1]
    assert guide.nearest_rows(embeddings, np.array([], dtype=np.int64), 3).tolist() == []
    assert guide.nearest_rows(embeddings, np.array([0]), 0).tolist() == []


def test_node_members_count_a_leaf_for_its_ancestors_and_a_coarse_answer_for_its_node():
    taxonomy = Taxonomy.from_dict(SMALL)
    a, a1, b2 = (taxonomy.node_index(path) for path in ("a", "a/a1", "b/b2"))
    labels = np.array([a1, -1, a, b2])
    members = guide.node_members(labels, taxonomy)
    assert members[a].tolist() == [0, 2]
    assert members[a1].tolist() == [0]
    assert members[b2].tolist() == [3]
    assert taxonomy.node_index("a/a2") not in members


def test_typical_examples_per_node_with_counts_and_exclusions():
    embeddings = _points([1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9], [0.2, 1])
    members = {7: np.array([0, 1]), 8: np.array([2, 3, 4])}
    chosen = guide.typical_examples(embeddings, members, {7: 1, 8: 2}, {8: {3}})
    assert len(chosen[7]) == 1
    assert 3 not in chosen[8].tolist() and len(chosen[8]) == 2


def test_confused_classes_either_way_round_most_first_none_when_never():
    confusion = np.array(
        [
            [10, 3, 0],  # class 0 taken for 1 three times
            [1, 8, 0],  # 1 taken for 0 once: 4 confusions of 0 and 1 in all
            [2, 0, 9],
        ]
    )
    assert guide.confused_classes(confusion, top=3) == [[(1, 4), (2, 2)], [(0, 4)], [(0, 2)]]
    assert guide.confused_classes(confusion, top=1)[0] == [(1, 4)]
    assert guide.confused_classes(np.eye(2, dtype=int) * 5, top=3) == [[], []]


def test_lookalike_is_the_other_class_item_nearest_this_class():
    # Class 1 (rows 2-4): row 3 points almost the way class 0 (rows 0-1) does.
    embeddings = _points([1, 0], [1, 0.1], [0, 1], [0.9, 0.3], [0.1, 1])
    members = {0: np.array([0, 1]), 1: np.array([2, 3, 4])}
    assert guide.lookalike_row(embeddings, members, of_node=1, like_node=0) == 3
    assert guide.lookalike_row(embeddings, members, of_node=1, like_node=0, excluded={3}) in (2, 4)
    assert guide.lookalike_row(embeddings, members, of_node=1, like_node=5) is None


def test_an_all_zero_embedding_gives_no_nan():
    embeddings = _points([0, 0], [1, 0], [1, 0.1])
    chosen = guide.nearest_rows(embeddings, np.arange(3), 3)
    assert sorted(chosen.tolist()) == [0, 1, 2]
