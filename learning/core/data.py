"""Decode image files once into a cached uint8 array.

Training and scoring read the same pool many times; decoding JPEGs each time would cost
more than the model itself on a CPU. Images are decoded (in parallel threads: Pillow
releases the GIL while decoding) into one ``(N, H, W, 3)`` uint8 array at a fixed size
and optionally saved as ``.npy`` files under a cache key derived from the file list, so
a second run loads them with one memory-mapped read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from learning.core.files import atomic_path

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"})


@dataclass(frozen=True)
class ImageArray:
    """Decoded images with the class folder each came from.

    ``images`` is ``(N, size, size, 3)`` uint8 (NHWC); ``class_names[i]`` is the name of
    the folder holding ``paths[i]`` (the leaf label in ImageFolder layout, ``""`` for
    loose files).
    """

    images: np.ndarray
    paths: tuple[str, ...]
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.paths)


def list_image_folder(root: str | Path) -> list[Path]:
    """All image files under an ImageFolder tree (``root/<class>/<file>``), sorted."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    return sorted(
        path
        for path in root.glob("*/*")
        if path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")
    )


def decode_image(path: str | Path, size: int) -> np.ndarray:
    """One image as ``(size, size, 3)`` uint8 RGB, resized (bilinear) if needed."""
    with Image.open(path) as image:
        image = image.convert("RGB")
        if image.size != (size, size):
            image = image.resize((size, size), Image.Resampling.BILINEAR)
        return np.asarray(image, dtype=np.uint8)


def decode_images(paths: Sequence[str | Path], size: int = 32, workers: int = 4) -> np.ndarray:
    """Decode ``paths`` in parallel threads into one ``(N, size, size, 3)`` uint8 array."""
    images = np.empty((len(paths), size, size, 3), dtype=np.uint8)

    def decode_into(index: int) -> None:
        images[index] = decode_image(paths[index], size)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as executor:
        # list() re-raises the first decoding error instead of swallowing it.
        list(executor.map(decode_into, range(len(paths))))
    return images


def _cache_key(paths: Sequence[Path], size: int) -> str:
    """A key that changes when any file is added, removed, replaced or resized."""
    digest = hashlib.sha256(f"size={size}\n".encode())
    for path in paths:
        stat = path.stat()
        digest.update(f"{path}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def load_image_folder(
    root: str | Path,
    size: int = 32,
    cache_dir: str | Path | None = None,
    workers: int = 4,
) -> ImageArray:
    """Decode an ImageFolder tree once, reusing a ``.npy`` cache under ``cache_dir``.

    The cache never lives in the repository: pass a data directory (e.g. ``/work/data``).
    """
    paths = list_image_folder(root)
    if not paths:
        raise ValueError(f"no images under {root}")
    class_names = tuple(path.parent.name for path in paths)
    relative = tuple(str(path.relative_to(root)) for path in paths)
    if cache_dir is None:
        return ImageArray(decode_images(paths, size, workers), relative, class_names)

    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = _cache_key(paths, size)
    array_file = cache_dir / f"images-{key}.npy"
    index_file = cache_dir / f"images-{key}.json"
    cached = array_file.exists() and index_file.exists()
    if cached and json.loads(index_file.read_text()) == list(relative):
        return ImageArray(np.load(array_file), relative, class_names)

    images = decode_images(paths, size, workers)
    # Replaced whole, so an interrupted run never leaves a half-written cache that a
    # later run would trust.
    with atomic_path(array_file) as temporary, temporary.open("wb") as file:
        np.save(file, images)
    with atomic_path(index_file) as temporary:
        temporary.write_text(json.dumps(list(relative)))
    return ImageArray(images, relative, class_names)
