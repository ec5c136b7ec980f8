"""The class hierarchy as an immutable value, and the maths that uses it.

The network predicts one softmax over the leaves; every inner node's probability is the
sum of its leaves' (see docs/learning.md). Everything here is plain numpy on leaf
probabilities, so the same functions serve training, scoring, strategies and metrics.

Nodes are numbered root-down, level by level, in the order the taxonomy lists them;
leaves keep that order too, and output ``j`` of the network is leaf ``j``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

PATH_SEPARATOR = "/"


@dataclass(frozen=True)
class Node:
    """One taxonomy node: ``path`` is unique and stable (``animal/mammal/cat``)."""

    index: int
    path: str
    name: str
    level: int
    parent: int  # -1 for nodes on the top level


class Taxonomy:
    """A tree of classes with named levels and every leaf at the same (last) level."""

    def __init__(self, name: str, levels: Sequence[str], leaf_paths: Sequence[Sequence[str]]):
        """Build from leaf paths such as ``[("animal", "cat"), ...]``; see the factories."""
        levels = tuple(levels)
        if not levels:
            raise ValueError("a taxonomy needs at least one level")
        if not leaf_paths:
            raise ValueError("a taxonomy needs at least one leaf")
        nodes: list[Node] = []
        index_by_path: dict[str, int] = {}
        for depth in range(len(levels)):
            for parts in leaf_paths:
                if len(parts) != len(levels):
                    raise ValueError(
                        f"leaf {PATH_SEPARATOR.join(parts)!r} has {len(parts)} parts, "
                        f"but the taxonomy has {len(levels)} levels {list(levels)}"
                    )
                if any(not part or PATH_SEPARATOR in part for part in parts):
                    raise ValueError(f"invalid node name in {list(parts)!r}")
                path = PATH_SEPARATOR.join(parts[: depth + 1])
                if path in index_by_path:
                    continue
                parent = index_by_path[PATH_SEPARATOR.join(parts[:depth])] if depth else -1
                index_by_path[path] = len(nodes)
                nodes.append(Node(len(nodes), path, parts[depth], depth, parent))
        self.name = name
        self.levels = levels
        self.nodes: tuple[Node, ...] = tuple(nodes)
        self._index_by_path = index_by_path
        self.leaves: tuple[int, ...] = tuple(n.index for n in nodes if n.level == len(levels) - 1)
        if len(self.leaves) != len(leaf_paths):
            raise ValueError("duplicate leaf paths in taxonomy")

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Taxonomy:
        """Build from the JSON format: ``{"name", "levels", "tree"}`` (any depth).

        ``tree`` maps each node to its children: a dict for inner levels, a list of
        leaf names at the last level above the leaves (or just a list for one level).
        """
        levels = list(data["levels"])
        leaf_paths: list[tuple[str, ...]] = []

        def walk(subtree: Any, prefix: tuple[str, ...]) -> None:
            if isinstance(subtree, Mapping):
                for child, grandchildren in subtree.items():
                    walk(grandchildren, (*prefix, str(child)))
            elif isinstance(subtree, list):
                leaf_paths.extend((*prefix, str(leaf)) for leaf in subtree)
            else:
                raise ValueError(f"unexpected taxonomy tree value under {prefix}: {subtree!r}")

        walk(data["tree"], ())
        return cls(str(data.get("name", "taxonomy")), levels, leaf_paths)

    @classmethod
    def from_json_file(cls, path: str | Path) -> Taxonomy:
        """Read a taxonomy JSON file (see :meth:`from_dict`)."""
        return cls.from_dict(json.loads(Path(path).read_text()))

    @classmethod
    def from_leaf_paths(
        cls, paths: Iterable[str], levels: Sequence[str] | None = None, name: str = "taxonomy"
    ) -> Taxonomy:
        """Build from ``"animal/cat"``-style leaf paths; levels default to ``level0..``."""
        split = [tuple(path.split(PATH_SEPARATOR)) for path in paths]
        depth = len(split[0]) if split else 0
        return cls(name, levels or [f"level{i}" for i in range(depth)], split)

    def to_dict(self) -> dict[str, Any]:
        """The JSON format again (round-trips through :meth:`from_dict`)."""

        def subtree(parent: int, depth: int) -> Any:
            children = [n for n in self.nodes if n.level == depth and n.parent == parent]
            if depth == self.depth - 1:
                return [child.name for child in children]
            return {child.name: subtree(child.index, depth + 1) for child in children}

        return {"name": self.name, "levels": list(self.levels), "tree": subtree(-1, 0)}

    # -- lookups ------------------------------------------------------------------------

    @property
    def depth(self) -> int:
        return len(self.levels)

    @property
    def num_leaves(self) -> int:
        return len(self.leaves)

    @cached_property
    def leaf_names(self) -> tuple[str, ...]:
        return tuple(self.nodes[i].name for i in self.leaves)

    def level_nodes(self, level: int) -> np.ndarray:
        """Node indices on ``level`` (0 = top, -1 = leaves), in taxonomy order."""
        level = level % self.depth
        return np.array([n.index for n in self.nodes if n.level == level], dtype=np.int64)

    def node_index(self, key: str) -> int:
        """Index of a node by path (``animal/cat``) or by a name that is unique."""
        if key in self._index_by_path:
            return self._index_by_path[key]
        matches = [n.index for n in self.nodes if n.name == key]
        if len(matches) != 1:
            raise KeyError(f"{key!r} is {'ambiguous' if matches else 'not'} in taxonomy")
        return matches[0]

    def leaf_position(self, node_index: int) -> int:
        """Column of a leaf node in leaf-probability arrays."""
        return self.leaves.index(node_index)

    def ancestors(self, node_index: int) -> list[int]:
        """Path from the top level down to ``node_index`` (inclusive)."""
        path = []
        while node_index >= 0:
            path.append(node_index)
            node_index = self.nodes[node_index].parent
        return path[::-1]

    @cached_property
    def membership(self) -> np.ndarray:
        """``(num_nodes, num_leaves)`` 0/1 matrix: entry ``[n, j]`` is 1 if leaf j is under n."""
        matrix = np.zeros((len(self.nodes), self.num_leaves), dtype=np.float32)
        for column, leaf in enumerate(self.leaves):
            matrix[self.ancestors(leaf), column] = 1.0
        return matrix

    @cached_property
    def leaf_ancestors(self) -> np.ndarray:
        """``(num_leaves, depth)``: the node index at every level above (and at) each leaf."""
        return np.array([self.ancestors(leaf) for leaf in self.leaves], dtype=np.int64)

    @cached_property
    def fingerprint(self) -> str:
        """A stable hash of levels and ordered node paths; it tags every checkpoint."""
        canonical = json.dumps(
            {"levels": list(self.levels), "nodes": [n.path for n in self.nodes]},
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Taxonomy) and other.fingerprint == self.fingerprint

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __repr__(self) -> str:
        return f"Taxonomy({self.name!r}, levels={list(self.levels)}, leaves={self.num_leaves})"

    # -- probabilities and predictions --------------------------------------------------

    def node_probabilities(self, leaf_probs: np.ndarray) -> np.ndarray:
        """``(N, num_nodes)``: every node's probability is the sum of its leaves'."""
        return np.asarray(leaf_probs, dtype=np.float64) @ self.membership.T.astype(np.float64)

    def level_probabilities(self, leaf_probs: np.ndarray, level: int) -> np.ndarray:
        """``(N, nodes on level)`` probabilities, columns in :meth:`level_nodes` order."""
        rows = self.membership[self.level_nodes(level)]
        return np.asarray(leaf_probs, dtype=np.float64) @ rows.T.astype(np.float64)

    def predict_top_down(self, leaf_probs: np.ndarray) -> np.ndarray:
        """``(N, depth)`` node indices: argmax at the top, then among the chosen children.

        The predicted path is consistent by construction: each level's node lies under
        the level above it.
        """
        node_probs = self.node_probabilities(leaf_probs)
        parents = np.array([n.parent for n in self.nodes])
        levels = np.array([n.level for n in self.nodes])
        chosen = np.full(len(node_probs), -1, dtype=np.int64)
        path = np.empty((len(node_probs), self.depth), dtype=np.int64)
        for level in range(self.depth):
            allowed = (levels[None, :] == level) & (parents[None, :] == chosen[:, None])
            chosen = np.where(allowed, node_probs, -np.inf).argmax(axis=1)
            path[:, level] = chosen
        return path

    # -- metrics ------------------------------------------------------------------------

    def evaluate(self, leaf_probs: np.ndarray, true_leaf: np.ndarray) -> dict[str, Any]:
        """Accuracy per level, hierarchical P/R/F1 and mistake severity (LCA height).

        ``true_leaf`` holds leaf positions (columns of ``leaf_probs``). Predictions are
        top-down. Hierarchical precision/recall compare the ancestor sets of the
        predicted and true leaves; with full-depth single paths both equal the mean of
        the per-level accuracies. Mistake severity is the mean height of the lowest
        common ancestor over wrong leaf predictions (1 = a sibling, depth = unrelated).
        """
        true_leaf = np.asarray(true_leaf, dtype=np.int64)
        if len(true_leaf) == 0:
            raise ValueError("nothing to evaluate")
        predicted = self.predict_top_down(leaf_probs)
        truth = self.leaf_ancestors[true_leaf]
        agree = predicted == truth
        per_level = agree.mean(axis=0)
        # Paths are nested, so the ancestor sets intersect in the agreeing levels.
        overlap = agree.sum()
        precision = recall = overlap / predicted.size
        f1 = 2 * precision * recall / (precision + recall) if overlap else 0.0
        wrong = ~agree[:, -1]
        shared_levels = np.cumprod(agree, axis=1).sum(axis=1)
        severity = float((self.depth - shared_levels[wrong]).mean()) if wrong.any() else 0.0
        return {
            "accuracy": {
                name: float(acc) for name, acc in zip(self.levels, per_level, strict=True)
            },
            "acc_fine": float(per_level[-1]),
            "acc_coarse": float(per_level[0]),
            "hierarchical_precision": float(precision),
            "hierarchical_recall": float(recall),
            "hierarchical_f1": float(f1),
            "mistake_severity": severity,
        }
