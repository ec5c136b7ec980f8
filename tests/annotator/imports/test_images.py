"""Image checks by content: format, size and damage, before anything is decoded."""

import pytest
from PIL import Image, ImageFile

from annotator.exceptions import ImportRejected
from annotator.imports.images import image_inspect
from tests.annotator.imports.helpers import BAD_FILES, image_bytes, png_header_only


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "WEBP"])
def test_image_inspect_accepts_by_content(image_format):
    assert image_inspect(image_bytes(3, image_format, size=(12, 7))) == (image_format, 12, 7)


@pytest.mark.parametrize(("name", "case"), BAD_FILES.items(), ids=list(BAD_FILES))
def test_image_inspect_rejects(name, case):
    data, message = case
    with pytest.raises(ImportRejected, match=message):
        image_inspect(data)


def test_image_size_is_checked_before_decoding(monkeypatch):
    def no_decoding(self):
        raise AssertionError("decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)

    with pytest.raises(ImportRejected, match="larger than the limit of 50,000,000 pixels"):
        image_inspect(png_header_only(20_000, 20_000))
    # Below Pillow's own hard limit, ours still stops it (Pillow only warns there).
    with (
        pytest.warns(Image.DecompressionBombWarning),
        pytest.raises(ImportRejected, match="it is 10000x10000"),
    ):
        image_inspect(png_header_only(10_000, 10_000))


def test_image_pixel_limit_comes_from_settings(settings):
    settings.ARBOR_MAX_IMAGE_PIXELS = 50

    with pytest.raises(ImportRejected, match="limit of 50 pixels: it is 8x8"):
        image_inspect(image_bytes(4))


def test_truncated_images_are_not_loaded_leniently():
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
