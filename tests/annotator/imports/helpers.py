"""Images and folders of them, good and bad, for the import tests."""

import io
import random
import struct
import zipfile
import zlib
from pathlib import Path

from PIL import Image

from annotator.models import Item, Project


def image_bytes(seed: int, image_format: str = "JPEG", size=(8, 8)) -> bytes:
    """A small image of random pixels: distinct per seed, and incompressible."""
    pixels = random.Random(seed).randbytes(size[0] * size[1] * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", size, pixels).save(buffer, format=image_format)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size in its header, with (almost) no pixel data behind it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
)


BAD_FILES = {
    "empty.jpg": (b"", "empty"),
    "truncated.jpg": (image_bytes(1, size=(64, 64))[:700], "truncated"),
    "notes.jpg": (b"just some text, not an image\n", "Not a JPEG, PNG or WebP"),
    "drawing.jpg": (SVG, "SVG"),
    "page.png": (b"<!doctype html><html><body>hi</body></html>", "SVG, HTML"),
    "huge.png": (png_header_only(20_000, 20_000), "larger than the limit"),
}


def write_files(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def items_of(project: Project) -> list[Item]:
    return list(Item.objects.filter(project=project).select_related("ground_truth"))


def zip_write(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return path
