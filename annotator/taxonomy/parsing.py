"""Taxonomy files, JSON or CSV, read into a validated plan of nodes in tree order.

The input is treated as hostile: every refusal is an ``ImportRejected`` with a message in
words for the user, raised before anything is written.
"""

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from annotator.exceptions import ImportRejected
from annotator.models import TaxonomyNode

# Taxonomy limits: far above any real class hierarchy, low enough to keep a request cheap.
MAX_TAXONOMY_NODES = 10_000
MAX_TAXONOMY_DEPTH = 10
MAX_TAXONOMY_CSV_CHARS = 1_000_000
MAX_NAME_LENGTH = TaxonomyNode._meta.get_field("name").max_length
MAX_PATH_LENGTH = TaxonomyNode._meta.get_field("path").max_length


def taxonomy_json_parse(text: str) -> dict[str, Any]:
    """JSON text to a dict, refusing duplicate keys (json would silently keep the last)."""

    def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        counts = Counter(key for key, _ in pairs)
        repeated = [key for key, count in counts.items() if count > 1]
        if repeated:
            raise ImportRejected(f"The name '{repeated[0]}' appears twice under one parent.")
        return dict(pairs)

    try:
        data = json.loads(text, object_pairs_hook=unique_keys)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ImportRejected(f"The taxonomy is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ImportRejected('The taxonomy JSON must be an object with a "tree".')
    return data


def _label(path: tuple[str, ...]) -> str:
    return f"'{'/'.join(path)}'" if path else "the top level"


def json_leaf_paths(tree: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Leaf paths in file order: a dict maps names to children, a list holds leaf names."""
    if len(prefix) >= MAX_TAXONOMY_DEPTH:
        raise ImportRejected(f"The taxonomy is deeper than {MAX_TAXONOMY_DEPTH} levels.")
    if not isinstance(tree, dict | list):
        raise ImportRejected(
            f"The children under {_label(prefix)} must be an object (an inner level) "
            "or a list of leaf names (the level above the leaves)."
        )
    if not tree:
        raise ImportRejected(f"No children under {_label(prefix)}.")
    if isinstance(tree, dict):
        for name, children in tree.items():
            yield from json_leaf_paths(children, (*prefix, name))
        return
    for name in tree:
        if not isinstance(name, str):
            raise ImportRejected(
                f"The list under {_label(prefix)} must hold leaf names only, "
                f"not {json.dumps(name)[:80]}."
            )
        yield (*prefix, name)


def csv_leaf_paths(csv_text: str) -> list[tuple[str, ...]]:
    if len(csv_text) > MAX_TAXONOMY_CSV_CHARS:
        raise ImportRejected(f"The CSV is larger than {MAX_TAXONOMY_CSV_CHARS:,} characters.")
    paths = []
    try:
        for row_number, row in enumerate(csv.reader(io.StringIO(csv_text)), start=1):
            cells = [cell.strip() for cell in row]
            if not any(cells):
                continue
            if not paths and [cell.lower() for cell in cells] == ["path"]:
                continue
            if len([cell for cell in cells if cell]) > 1 or not cells[0]:
                raise ImportRejected(
                    f"Row {row_number}: write one path per row, such as vehicle/truck."
                )
            paths.append(tuple(cells[0].split("/")))
    except csv.Error as exc:
        raise ImportRejected(f"The CSV cannot be read: {exc}") from None
    return paths


@dataclass(frozen=True)
class NodePlan:
    path: tuple[str, ...]
    position: int
    is_leaf: bool


def taxonomy_plan(
    raw_leaf_paths: Iterable[tuple[str, ...]], levels: list[str] | None
) -> tuple[list[NodePlan], list[str]]:
    """Validated nodes in tree order (parents before children) and the level names."""
    leaf_paths: list[tuple[str, ...]] = []
    seen: set[tuple[str, ...]] = set()
    for raw_path in raw_leaf_paths:
        path = tuple(name.strip() for name in raw_path)
        shown = "/".join(raw_path)
        if any(not name for name in path):
            raise ImportRejected(f"'{shown}' has an empty name.")
        if any("/" in name for name in path):
            raise ImportRejected(f"'{shown}': a name may not contain '/'.")
        if any(len(name) > MAX_NAME_LENGTH for name in path):
            raise ImportRejected(
                f"'{shown[:80]}...': a name may have at most {MAX_NAME_LENGTH} characters."
            )
        if len(path) > MAX_TAXONOMY_DEPTH:
            raise ImportRejected(f"'{shown}' is deeper than {MAX_TAXONOMY_DEPTH} levels.")
        if len("/".join(path)) > MAX_PATH_LENGTH:
            raise ImportRejected(
                f"'{shown[:80]}...': a path may have at most {MAX_PATH_LENGTH} characters."
            )
        if path in seen:
            raise ImportRejected(f"'{'/'.join(path)}' appears twice.")
        seen.add(path)
        leaf_paths.append(path)
        if len(leaf_paths) > MAX_TAXONOMY_NODES:
            raise ImportRejected(f"The taxonomy has more than {MAX_TAXONOMY_NODES:,} nodes.")
    if not leaf_paths:
        raise ImportRejected("The taxonomy has no classes.")

    inner = {path[:depth] for path in leaf_paths for depth in range(1, len(path))}
    both = [path for path in leaf_paths if path in inner]
    if both:
        raise ImportRejected(f"'{'/'.join(both[0])}' is a leaf and also has children.")
    # Level names describe depths, and per-level models need every leaf to have an
    # ancestor at each level: all leaves sit at the same depth.
    depth = len(leaf_paths[0])
    ragged = next((path for path in leaf_paths if len(path) != depth), None)
    if ragged:
        raise ImportRejected(
            f"Every leaf must be at the same depth: '{'/'.join(leaf_paths[0])}' is at depth "
            f"{depth} but '{'/'.join(ragged)}' is at depth {len(ragged)}."
        )
    if levels is None:
        levels = [f"level{number}" for number in range(1, depth + 1)]
    elif len(levels) != depth:
        raise ImportRejected(
            f"The tree is {depth} level(s) deep but {len(levels)} level name(s) are given."
        )

    plans: dict[tuple[str, ...], NodePlan] = {}
    children = Counter[tuple[str, ...]]()
    for path in leaf_paths:
        for end in range(1, len(path) + 1):
            node = path[:end]
            if node not in plans:
                plans[node] = NodePlan(node, children[node[:-1]], is_leaf=end == len(path))
                children[node[:-1]] += 1
    if len(plans) > MAX_TAXONOMY_NODES:
        raise ImportRejected(f"The taxonomy has more than {MAX_TAXONOMY_NODES:,} nodes.")
    return list(plans.values()), levels


def levels_clean(levels: Any) -> list[str] | None:
    if levels is None:
        return None
    if not isinstance(levels, list) or not all(isinstance(level, str) for level in levels):
        raise ImportRejected('"levels" must be a list of level names.')
    cleaned = [level.strip() for level in levels]
    if not all(cleaned):
        raise ImportRejected("A level name is empty.")
    if any(len(level) > MAX_NAME_LENGTH for level in cleaned):
        raise ImportRejected(f"A level name may have at most {MAX_NAME_LENGTH} characters.")
    if len(set(cleaned)) != len(cleaned):
        raise ImportRejected("Two levels have the same name.")
    return cleaned
