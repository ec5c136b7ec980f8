"""Decoding photographs at a backbone's size: what torchvision's presets give, from real files."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from torchvision import transforms

from learning.core.decode import image_decode, images_stream

REPO = Path(__file__).resolve().parents[3]
HYMENOPTERA = REPO.parent / "shared" / "datasets" / "hymenoptera" / "images"
RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def preset(path: Path, interpolation=transforms.InterpolationMode.BILINEAR) -> np.ndarray:
    """What torchvision's classification preset does to the RGB image before its tensor."""
    steps = transforms.Compose(
        [transforms.Resize(256, interpolation=interpolation), transforms.CenterCrop(224)]
    )
    with Image.open(path) as image:
        return np.asarray(steps(image.convert("RGB")))


def halves(mode: str, size: tuple[int, int], left, right) -> Image.Image:
    """An image whose left half is ``left`` and right half ``right``."""
    image = Image.new(mode, size, left)
    image.paste(right, (size[0] // 2, 0, size[0], size[1]))
    return image


def assert_left_right(decoded: np.ndarray, left, right, tolerance: int = 0) -> None:
    """The middle row's outer quarters hold ``left`` and ``right``."""
    row = decoded[decoded.shape[0] // 2].astype(int)
    quarter = decoded.shape[1] // 4
    np.testing.assert_allclose(row[:quarter], np.broadcast_to(left, (quarter, 3)), atol=tolerance)
    np.testing.assert_allclose(row[-quarter:], np.broadcast_to(right, (quarter, 3)), atol=tolerance)


@pytest.mark.parametrize(
    ("size", "interpolation"),
    [
        ((301, 203), transforms.InterpolationMode.BILINEAR),
        ((203, 377), transforms.InterpolationMode.BICUBIC),
        ((256, 256), transforms.InterpolationMode.BILINEAR),
    ],
)
def test_a_png_decodes_as_torchvisions_resize_then_centre_crop(tmp_path, size, interpolation):
    pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    path = tmp_path / "noise.png"
    Image.fromarray(pixels).save(path)
    resample = Image.Resampling[interpolation.name]
    decoded = image_decode(path, resize=256, crop=224, interpolation=resample)
    np.testing.assert_array_equal(decoded, preset(path, interpolation))


def test_a_twelve_megapixel_jpeg_is_decoded_in_draft_mode_near_the_target(tmp_path, monkeypatch):
    path = tmp_path / "big.jpg"
    halves("RGB", (4000, 3000), RED, BLUE).save(path, quality=90)
    resized_from = []
    resize = Image.Image.resize

    def spy(self, size, *args, **kwargs):
        resized_from.append(self.size)
        return resize(self, size, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "resize", spy)
    decoded = image_decode(path, resize=256, crop=224)
    # 1/8 scale in the DCT: the shorter side (375) still above the resize target (256).
    assert resized_from == [(500, 375)]
    assert decoded.shape == (224, 224, 3) and decoded.dtype == np.uint8
    assert_left_right(decoded, RED, BLUE, tolerance=8)


def test_the_exif_orientation_is_applied(tmp_path):
    # Stored landscape with a red top-left block; orientation 6 means "rotate 90 degrees
    # clockwise to display", so a viewer shows a portrait with the red block top-right.
    stored = Image.new("RGB", (400, 300), (128, 128, 128))
    stored.paste(RED, (0, 0, 200, 150))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    stored.save(path, exif=exif, quality=95)
    decoded = image_decode(path, resize=256, crop=224).astype(int)
    corners = {
        "top-left": decoded[20, 20],
        "top-right": decoded[20, 200],
        "bottom-left": decoded[200, 20],
        "bottom-right": decoded[200, 200],
    }
    red = [name for name, pixel in corners.items() if np.abs(pixel - RED).max() < 24]
    assert red == ["top-right"]


def test_a_cmyk_jpeg_becomes_rgb(tmp_path):
    path = tmp_path / "cmyk.jpg"
    halves("CMYK", (320, 240), (0, 255, 255, 0), (255, 255, 0, 0)).save(path, quality=95)
    with Image.open(path) as image:
        assert image.mode == "CMYK"
    decoded = image_decode(path, resize=256, crop=224)
    assert decoded.shape == (224, 224, 3) and decoded.dtype == np.uint8
    assert_left_right(decoded, RED, BLUE, tolerance=8)


def test_a_sixteen_bit_png_keeps_its_grey_levels(tmp_path):
    # Pillow's own conversion clips every 16-bit value above 255 to white.
    path = tmp_path / "depth.png"
    pixels = np.full((240, 320), 0x2000, dtype=np.uint16)
    pixels[:, 160:] = 0xE000
    Image.fromarray(pixels).save(path)
    with Image.open(path) as image:
        assert image.mode == "I;16"
    assert_left_right(image_decode(path, resize=256, crop=224), (32,) * 3, (224,) * 3)


def test_a_thirty_two_bit_integer_image_is_read_as_sixteen_bit(tmp_path):
    path = tmp_path / "integer.tif"
    pixels = np.full((240, 320), 0x2000, dtype=np.int32)
    pixels[:, 160:] = 0xE000
    Image.fromarray(pixels).save(path)
    with Image.open(path) as image:
        assert image.mode == "I"
    assert_left_right(image_decode(path, resize=256, crop=224), (32,) * 3, (224,) * 3)


def test_a_greyscale_image_becomes_three_equal_channels(tmp_path):
    path = tmp_path / "grey.png"
    Image.new("L", (300, 260), 77).save(path)
    decoded = image_decode(path, resize=256, crop=224)
    assert decoded.shape == (224, 224, 3)
    assert (decoded == 77).all()


@pytest.mark.parametrize("suffix", [".png", ".gif"])
def test_a_palette_image_shows_its_transparent_colour_as_white(tmp_path, suffix):
    # Index 0 is black in the palette but transparent: a plain convert("RGB") shows black.
    image = halves("P", (320, 240), 0, 1)
    image.putpalette([0, 0, 0, *BLUE])
    path = tmp_path / f"palette{suffix}"
    image.save(path, transparency=0)
    assert_left_right(image_decode(path, resize=256, crop=224), WHITE, BLUE)


@pytest.mark.parametrize(
    ("mode", "transparent", "opaque", "expected"),
    [
        ("RGBA", (255, 0, 0, 0), (0, 0, 255, 255), BLUE),
        ("LA", (0, 0), (40, 255), (40, 40, 40)),
    ],
)
def test_alpha_is_composited_on_white(tmp_path, mode, transparent, opaque, expected):
    path = tmp_path / "alpha.png"
    halves(mode, (320, 240), transparent, opaque).save(path)
    assert_left_right(image_decode(path, resize=256, crop=224), WHITE, expected)


def test_half_transparent_black_on_white_is_mid_grey(tmp_path):
    path = tmp_path / "half.png"
    Image.new("RGBA", (240, 240), (0, 0, 0, 128)).save(path)
    decoded = image_decode(path, resize=224, crop=224).astype(int)
    assert np.abs(decoded - 127).max() <= 1


def test_the_crop_must_fit_in_the_resized_image():
    with pytest.raises(ValueError, match="crop <= resize"):
        image_decode("unused.jpg", resize=224, crop=256)
    with pytest.raises(ValueError, match="crop <= resize"):
        images_stream([], resize=224, crop=256)  # at the call, before any next()
    with pytest.raises(ValueError, match="batch_size"):
        images_stream([], resize=256, crop=224, batch_size=0)


@pytest.mark.parametrize("workers", [1, 3])
def test_the_stream_yields_batches_in_order(tmp_path, workers):
    shades = list(range(0, 70, 10))
    paths = []
    for shade in shades:
        paths.append(tmp_path / f"{shade}.png")
        Image.new("L", (40, 30), shade).save(paths[-1])
    batches = list(images_stream(paths, resize=24, crop=16, batch_size=3, workers=workers))
    assert [batch.shape for batch in batches] == [(3, 16, 16, 3)] * 2 + [(1, 16, 16, 3)]
    assert all(batch.dtype == np.uint8 for batch in batches)
    assert [int(image[0, 0, 0]) for batch in batches for image in batch] == shades


def test_the_stream_decodes_a_batch_only_when_it_is_asked_for(tmp_path):
    good = tmp_path / "good.png"
    Image.new("RGB", (40, 30), RED).save(good)
    paths = [good] * 4 + [tmp_path / "missing.png"] * 996
    stream = images_stream(paths, resize=24, crop=16, batch_size=4, workers=2)
    first = next(stream)
    assert first.shape == (4, 16, 16, 3) and (first == RED).all()
    with pytest.raises(FileNotFoundError):
        next(stream)


@pytest.mark.skipif(not HYMENOPTERA.is_dir(), reason="the shared photographs are not here")
def test_real_photographs_and_the_stray_gif_decode_at_224():
    paths = sorted(HYMENOPTERA.glob("*/*"))
    sizes = {}
    for path in paths:
        with Image.open(path) as image:
            sizes[path] = image.size
    by_area = sorted(paths, key=lambda path: sizes[path][0] * sizes[path][1])
    gif = HYMENOPTERA / "ants" / "imageNotFound.gif"
    chosen = [gif, by_area[0], by_area[-1], *paths[::80]]
    batches = list(images_stream(chosen, resize=256, crop=224, batch_size=4, workers=2))
    decoded = np.concatenate(batches)
    assert decoded.shape == (len(chosen), 224, 224, 3) and decoded.dtype == np.uint8
    # The largest photo is decoded in draft mode, yet looks like the full decode.
    largest = decoded[2].astype(int)
    assert np.abs(largest - preset(by_area[-1])).mean() < 4
