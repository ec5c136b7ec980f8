import itertools

import numpy as np
import torch
from PIL import Image
from torch import nn

from learning.core.decode import image_decode
from learning.core.pretrain import StopReason, finetune, pretrain
from tests.learning.core.helpers import blob_images, small
from tests.learning.core.test_bench_and_isolation import run_python


class TinyBackbone(nn.Module):
    """0..255 pixels in, 16-d embeddings out, as every backbone of ours."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.net = nn.Sequential(
            nn.Conv2d(3, 8, 3, 2, 1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, 2, 1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images / 255)


def embed(backbone: nn.Module, images: np.ndarray) -> torch.Tensor:
    with torch.no_grad():
        return backbone(torch.from_numpy(images).permute(0, 3, 1, 2).float())


def test_simclr_lowers_its_loss_and_moves_the_embeddings_on_the_cpu():
    torch.set_num_threads(2)
    images, _ = blob_images(per_class=8, classes=4, size=16)
    backbone = TinyBackbone()
    before = embed(backbone.eval(), images)

    result = pretrain(
        backbone, images, time_budget_s=1e9, max_steps=40, batch_size=16, input_size=16, seed=3
    )

    assert (result.stop_reason, result.steps, result.device) == (StopReason.MAX_STEPS, 40, "cpu")
    assert result.images_seen == 40 * 16
    assert np.mean(result.losses[-8:]) < np.mean(result.losses[:8])
    assert not torch.allclose(embed(backbone, images), before, atol=1e-3)
    # The returned state is the trained backbone's.
    for name, tensor in backbone.state_dict().items():
        assert torch.equal(result.state_dict[name], tensor)
    assert result.stats()["loss_last"] < result.stats()["loss_first"]


def test_the_run_stops_before_a_step_that_would_end_past_the_budget():
    images, _ = blob_images(per_class=4, classes=2, size=16)
    ticks = itertools.count()  # every reading of the clock is one second later

    result = pretrain(
        TinyBackbone(),
        images,
        time_budget_s=5.5,
        max_steps=1000,
        batch_size=4,
        input_size=16,
        clock=lambda: float(next(ticks)),
    )

    # Steps start at t=1, 2, 3, 4, each taking a second; at t=5 a step would end at 6.
    assert (result.stop_reason, result.steps) == (StopReason.TIME_BUDGET, 4)


def test_it_streams_files_through_a_decoder(tmp_path):
    images, _ = blob_images(per_class=3, classes=2, size=24)
    paths = []
    for index, image in enumerate(images):
        paths.append(tmp_path / f"{index}.jpg")
        Image.fromarray(image).save(paths[-1])
    decoded = []

    def decode(path):
        decoded.append(path)
        return image_decode(path, resize=20, crop=16)

    result = pretrain(
        TinyBackbone(), paths, time_budget_s=1e9, max_steps=3, batch_size=4, decode=decode
    )

    assert result.steps == 3 and len(decoded) == 3 * 4
    assert set(decoded) <= set(paths)


def test_the_parts_taken_from_lightly_reach_no_network():
    code = (
        "import socket\n"
        "def refuse(*args, **kwargs):\n"
        "    raise RuntimeError('network')\n"
        "socket.socket.connect = refuse\n"
        "import numpy as np, torch\n"
        "from learning.core.pretrain import pretrain\n"
        "backbone = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1),"
        " torch.nn.Flatten())\n"
        "images = np.random.default_rng(0).integers(0, 255, (4, 16, 16, 3), dtype=np.uint8)\n"
        "print(pretrain(backbone, images, time_budget_s=60, max_steps=2, input_size=16).steps)\n"
    )
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"


def test_finetune_learns_the_human_labels_on_the_cpu():
    torch.set_num_threads(2)
    taxonomy = small()
    images, columns = blob_images(per_class=12, classes=4, size=16)
    nodes = np.asarray(taxonomy.leaves)[columns]
    backbone, head = TinyBackbone(), nn.Linear(16, taxonomy.num_leaves)
    before = {name: value.clone() for name, value in backbone.state_dict().items()}

    result = finetune(
        backbone,
        head,
        images,
        nodes,
        taxonomy=small(),
        time_budget_s=600,
        device="cpu",
        max_epochs=15,
        batch_size=16,
        learning_rate=0.05,
    )

    # 48 images in batches of 16: 3 steps an epoch, all 15 epochs well inside the budget.
    assert (result.steps, result.stop_reason, result.method) == (45, "max_steps", "finetune")
    assert result.stats()["loss_last"] < result.stats()["loss_first"]
    assert any(not torch.equal(before[name], value) for name, value in result.state_dict.items())
    with torch.no_grad():
        logits = head(backbone(torch.from_numpy(images).permute(0, 3, 1, 2).float()))
    assert (logits.argmax(dim=1).numpy() == columns).mean() > 0.5  # chance is 0.25


def test_finetune_stops_within_its_time_budget():
    taxonomy = small()
    images, columns = blob_images(per_class=4, classes=4, size=16)
    ticks = iter(range(0, 1000, 10))  # every step seems to take 10 s

    result = finetune(
        TinyBackbone(),
        nn.Linear(16, taxonomy.num_leaves),
        images,
        np.asarray(taxonomy.leaves)[columns],
        taxonomy=taxonomy,
        time_budget_s=45,
        device="cpu",
        batch_size=4,
        clock=lambda: next(ticks),
    )

    # The clock starts at 0 and steps start at 10, 20 and 30 s; a fourth, from 40 s,
    # would end past 45 s.
    assert (result.steps, result.stop_reason) == (3, "time_budget")
