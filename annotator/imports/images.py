"""One image file, recognised by its bytes and checked before and while it is decoded."""

import io

from django.conf import settings
from PIL import Image

from annotator.exceptions import ImportRejected

_MAGIC_FORMATS = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
)


def image_inspect(data: bytes) -> tuple[str, int, int]:
    """(format, width, height) of a JPEG, PNG or WebP image, recognised by its bytes.

    The size comes from the header and is checked before any pixel is decoded; then the
    image is decoded in full so that truncated or corrupt files are caught here.
    """
    if not data:
        raise ImportRejected("The file is empty.")
    image_format = next((fmt for magic, fmt in _MAGIC_FORMATS if data.startswith(magic)), None)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        image_format = "WEBP"
    if image_format is None:
        if data.lstrip()[:1] == b"<":
            raise ImportRejected("This is text (SVG, HTML or XML), not a JPEG, PNG or WebP image.")
        raise ImportRejected(
            "Not a JPEG, PNG or WebP image (the content is checked, not the name)."
        )

    limit = settings.ARBOR_MAX_IMAGE_PIXELS
    too_large = f"The image is larger than the limit of {limit:,} pixels."
    try:
        # Reads the header only; Pillow itself refuses sizes beyond twice its own limit.
        image = Image.open(io.BytesIO(data), formats=[image_format])
    except Image.DecompressionBombError:
        raise ImportRejected(too_large) from None
    except Exception as exc:  # Pillow raises many types on malformed headers.
        raise ImportRejected(f"The image header cannot be read ({exc}).") from None
    with image:
        width, height = image.size
        if width * height > limit:
            raise ImportRejected(f"{too_large[:-1]}: it is {width}x{height}.")
        try:
            # Decodes every pixel; with ImageFile.LOAD_TRUNCATED_IMAGES left at its
            # default (False), missing data raises instead of being filled in.
            image.load()
        except Exception as exc:  # Pillow's decoders raise many types on corrupt data.
            raise ImportRejected(f"The image is truncated or corrupt ({exc}).") from None
    return image_format, width, height
