"""Small shared builders for the learning-core tests (no Django, no files on disk)."""

from __future__ import annotations

import numpy as np

from learning.core.taxonomy import Taxonomy

TWO_LEVEL = {
    "name": "cifar10-2level",
    "levels": ["coarse", "fine"],
    "tree": {
        "vehicle": ["airplane", "automobile", "ship", "truck"],
        "animal": ["bird", "cat", "deer", "dog", "frog", "horse"],
    },
}

THREE_LEVEL = {
    "name": "cifar10-3level",
    "levels": ["domain", "group", "class"],
    "tree": {
        "vehicle": {
            "road vehicle": ["automobile", "truck"],
            "other vehicle": ["airplane", "ship"],
        },
        "animal": {
            "mammal": ["cat", "deer", "dog", "horse"],
            "non-mammal": ["bird", "frog"],
        },
    },
}

# Four leaves under two coarse nodes: small enough to reason about by hand.
SMALL = {
    "name": "small",
    "levels": ["coarse", "fine"],
    "tree": {"a": ["a1", "a2"], "b": ["b1", "b2"]},
}


def two_level() -> Taxonomy:
    return Taxonomy.from_dict(TWO_LEVEL)


def three_level() -> Taxonomy:
    return Taxonomy.from_dict(THREE_LEVEL)


def small() -> Taxonomy:
    return Taxonomy.from_dict(SMALL)


def random_probabilities(rows: int, columns: int, seed: int = 0) -> np.ndarray:
    """Rows of a Dirichlet(1) distribution: valid, varied probability vectors."""
    return np.random.default_rng(seed).dirichlet(np.ones(columns), size=rows)


def blob_images(
    per_class: int, classes: int, size: int = 16, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """uint8 NHWC images whose class is a colour plus a bright quadrant, with noise.

    Easy enough that a few epochs of a small CNN beat chance clearly.
    """
    colours = np.random.default_rng(1234).integers(30, 225, size=(classes, 3))  # fixed per class
    rng = np.random.default_rng(seed)
    images, labels = [], []
    half = size // 2
    for label in range(classes):
        for _ in range(per_class):
            image = np.clip(colours[label] + rng.normal(0, 25, (size, size, 3)), 0, 255)
            row, col = divmod(label % 4, 2)
            image[row * half : (row + 1) * half, col * half : (col + 1) * half] = 250
            images.append(image.astype(np.uint8))
            labels.append(label)
    return np.stack(images), np.array(labels)
