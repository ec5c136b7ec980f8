"""Decode photographs at a backbone's input size, batch by batch.

What torchvision's classification presets do to a PIL image (``weights.transforms()``:
resize the shorter side to ``resize_size``, then centre-crop ``crop_size``, e.g. 256 then
224), done by Pillow alone so decoding threads never touch torch. Real files need more
than ``convert("RGB")``: EXIF orientation, alpha (composited on white, not on whatever
colour hides under transparent pixels), 16-bit greyscale (which ``convert`` clips to
white), and large JPEGs, which JPEG draft mode decodes at 1/2, 1/4 or 1/8 scale in the
DCT instead of at full size.

This does not replace ``data.decode_images``: that one squeezes the whole image into a
small square (no crop) for the patch-k-means features.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageOps

WHITE = (255, 255, 255, 255)


def _rgb(image: Image.Image) -> Image.Image:
    """``image`` as 8-bit RGB, transparency composited on white."""
    if image.mode.startswith("I"):
        # 16-bit greyscale (and "I", which 16-bit PNGs open as on some Pillows): keep
        # the top byte, since Pillow's own conversion clips every value above 255.
        pixels = np.clip(np.asarray(image), 0, 65535) >> 8
        image = Image.fromarray(pixels.astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        background = Image.new("RGBA", image.size, WHITE)
        image = Image.alpha_composite(background, image.convert("RGBA"))
    return image.convert("RGB") if image.mode != "RGB" else image


def _check_sizes(resize: int, crop: int) -> None:
    if not 0 < crop <= resize:
        raise ValueError(f"need 0 < crop <= resize, got crop={crop}, resize={resize}")


def image_decode(
    path: str | Path | IO[bytes],
    *,
    resize: int,
    crop: int,
    interpolation: Image.Resampling = Image.Resampling.BILINEAR,
) -> np.ndarray:
    """One image as ``(crop, crop, 3)`` uint8 RGB: shorter side to ``resize``, centre crop.

    The sizes are rounded as torchvision's ``Resize(resize)`` and ``CenterCrop(crop)``
    round them; Pillow's resampling antialiases when it shrinks, as torchvision's
    ``antialias=True`` does.
    """
    _check_sizes(resize, crop)
    with Image.open(path) as image:
        # A square request keeps both sides >= resize whatever the EXIF orientation;
        # formats other than JPEG ignore it.
        image.draft("RGB", (resize, resize))
        ImageOps.exif_transpose(image, in_place=True)
        image = _rgb(image)
        width, height = image.size
        long = int(resize * max(width, height) / min(width, height))
        size = (resize, long) if width <= height else (long, resize)
        image = image.resize(size, interpolation)
    left = int(round((size[0] - crop) / 2.0))
    top = int(round((size[1] - crop) / 2.0))
    return np.asarray(image.crop((left, top, left + crop, top + crop)), dtype=np.uint8)


def images_stream(
    paths: Sequence[str | Path],
    *,
    resize: int,
    crop: int,
    batch_size: int = 64,
    workers: int = 1,
    interpolation: Image.Resampling = Image.Resampling.BILINEAR,
    open_file: Callable[[str], IO[bytes]] | None = None,
) -> Iterator[np.ndarray]:
    """``(n, crop, crop, 3)`` uint8 batches of ``paths`` in order, decoded when asked for.

    Only one batch is decoded at a time (across ``workers`` threads: Pillow releases the
    GIL while decoding and resizing), so memory holds one batch and ``workers`` images
    being decoded, whatever the number of paths. A file that cannot be decoded raises.
    ``open_file`` opens a name (a Django storage's ``open``, say); default: a local path.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    _check_sizes(resize, crop)

    def decode(path: str | Path) -> np.ndarray:
        if open_file is None:
            return image_decode(path, resize=resize, crop=crop, interpolation=interpolation)
        with open_file(str(path)) as file:
            return image_decode(file, resize=resize, crop=crop, interpolation=interpolation)

    def batches() -> Iterator[np.ndarray]:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as executor:
            for start in range(0, len(paths), batch_size):
                # map() re-raises the first decoding error; nothing of the next batch
                # is submitted before this one is consumed.
                chunk = paths[start : start + batch_size]
                yield np.stack(list(executor.map(decode, chunk)))

    # The checks above run at the call, not at the first next().
    return batches()
