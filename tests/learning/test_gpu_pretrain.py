import json

import torch
from safetensors.torch import load_file

from annotator.demo import DEMO_DATA
from learning.core.backbones import backbone_create
from learning.gpu_pretrain import CHECKPOINT, FIGURES, main, views


def test_a_short_run_writes_weights_the_registry_loads_and_probe_figures(tmp_path):
    code = main(
        [
            *("--data", str(DEMO_DATA / "images"), "--out", str(tmp_path)),
            *("--limit", "48", "--holdout", "16", "--batch-size", "8", "--max-steps", "2"),
            *("--minutes", "2", "--device", "cpu", "--workers", "2"),
        ]
    )

    assert code == 0
    checkpoint = tmp_path / CHECKPOINT.format(backbone="cifar-resnet18")
    figures = json.loads((tmp_path / FIGURES).read_text())
    assert (figures["steps"], figures["images_seen"], figures["stop_reason"]) == (
        2,
        16,
        "max_steps",
    )
    assert figures["data"] == {"root": str(DEMO_DATA / "images"), "pool": 32, "holdout": 16}
    assert 0 <= figures["probe"]["untrained"] <= 1 and 0 <= figures["probe"]["trained"] <= 1
    assert figures["epochs"] == 0.5 and figures["images_per_s"] > 0
    assert [step for step, _ in figures["loss_curve"]] == [1, 2]
    assert figures["versions"]["torch"] == torch.__version__.split("+")[0]
    assert checkpoint.stat().st_size < 50 * 2**20

    saved = load_file(checkpoint)
    loaded = backbone_create("cifar-resnet18", weights=checkpoint)
    assert loaded.trunk.state_dict().keys() == saved.keys()
    assert all(torch.equal(loaded.trunk.state_dict()[name], saved[name]) for name in saved)
    # Trained from the seed-0 initialisation, which it no longer equals.
    start = backbone_create("cifar-resnet18", pretrained=False, seed=0).trunk.state_dict()
    assert not torch.equal(start["conv1.weight"], saved["conv1.weight"])


def test_views_are_drawn_per_image_on_the_images_device():
    torch.manual_seed(0)
    gray = torch.linspace(0, 255, 32).round().to(torch.uint8).expand(2000, 3, 32, 32)
    colour = gray.clone()
    colour[:, 0] = 255 - colour[:, 0]  # the red ramp runs the other way: a coloured image

    first, second = views(colour, 24), views(colour, 24)

    assert first.shape == (2000, 3, 24, 24) and first.dtype == torch.float32
    assert first.min() >= 0 and first.max() <= 255
    assert not torch.allclose(first, second)
    # Grayscale for about a fifth of the images, each drawn on its own.
    grayscale = (first.amax(dim=1) - first.amin(dim=1)).amax(dim=(1, 2)) < 1e-3
    assert 0.15 < grayscale.float().mean() < 0.25
    # About half are mirrored: the red ramp then rises from left to right.
    rises = first[:, 0, :, -1].mean(dim=1) > first[:, 0, :, 0].mean(dim=1)
    assert 0.4 < rises[~grayscale].float().mean() < 0.6
