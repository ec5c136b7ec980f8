"""Backbones by name: sizes from their weights' metadata, weights found or refused by name."""

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from safetensors.torch import save_file

from learning.core.backbones import (
    BUILT_IN,
    WeightsMissing,
    backbone_create,
    backbone_spec,
    weights_locate,
)
from learning.core.embedding_store import EmbeddingStore

TORCHVISION = ("resnet18", "resnet50", "convnext_tiny", "efficientnet_b0", "vit_b_16")


@pytest.fixture
def empty_hub(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub" / "checkpoints"


@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_sizes_and_statistics_come_from_the_weights_metadata(name):
    preset = torchvision.models.get_model_weights(name).DEFAULT.transforms()
    spec = backbone_spec(name)
    assert (spec.crop, spec.resize) == (preset.crop_size[0], preset.resize_size[0])
    assert spec.mean == pytest.approx([value * 255 for value in preset.mean])
    assert spec.std == pytest.approx([value * 255 for value in preset.std])
    assert spec.interpolation == preset.interpolation.value


def test_the_cpu_defaults_need_no_weights(empty_hub):
    assert not BUILT_IN["patch-kmeans"].pretrained and BUILT_IN["patch-kmeans"].crop == 32
    assert weights_locate(BUILT_IN["small-resnet"]) is None
    assert backbone_create("patch-kmeans", centroids=8).needs_fit


def test_missing_pretrained_weights_name_the_file_and_never_fall_back(empty_hub, tmp_path):
    with pytest.raises(WeightsMissing) as missing:
        backbone_create("resnet18", weights_dir=tmp_path / "weights")
    assert missing.value.path == empty_hub / "resnet18-f37072fd.pth"
    message = str(missing.value)
    assert "resnet18-f37072fd.pth" in message and str(empty_hub) in message
    assert str(tmp_path / "weights") in message and "ARBOR_ALLOW_DOWNLOADS=true" in message
    with pytest.raises(WeightsMissing, match="does not exist"):
        backbone_create("resnet18", weights=tmp_path / "absent.safetensors")


def test_downloads_only_when_allowed_and_a_check_never_downloads(empty_hub, monkeypatch):
    fetched = []
    monkeypatch.setattr(
        torch.hub, "download_url_to_file", lambda url, path, progress: fetched.append(url)
    )
    path = weights_locate(backbone_spec("resnet18"), allow_downloads=True, fetch=False)
    assert path == empty_hub / "resnet18-f37072fd.pth" and fetched == []
    weights_locate(backbone_spec("resnet18"), allow_downloads=True)
    assert fetched == [backbone_spec("resnet18").hub_url]


def test_weights_from_the_hub_cache_or_a_safetensors_file_load_into_the_trunk(empty_hub, tmp_path):
    source = torchvision.models.resnet18(weights=None)
    empty_hub.mkdir(parents=True)
    torch.save(source.state_dict(), empty_hub / "resnet18-f37072fd.pth")
    save_file(source.state_dict(), str(tmp_path / "mine.safetensors"))
    for backbone in (
        backbone_create("resnet18"),
        backbone_create("resnet18", weights=tmp_path / "mine.safetensors"),
    ):
        assert torch.equal(backbone.trunk.conv1.weight, source.conv1.weight)
        pixels = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
        assert backbone.embed(pixels).shape == (2, 512)


def test_a_file_of_another_architecture_is_refused_not_loaded_in_part(tmp_path):
    # An ImageNet resnet18 shares every name with the CIFAR one but its stem's shape.
    save_file(
        torchvision.models.resnet18(weights=None).state_dict(), str(tmp_path / "in.safetensors")
    )

    with pytest.raises(ValueError, match=r"does not fit this architecture: 1 of .*conv1"):
        backbone_create("cifar-resnet18", weights=tmp_path / "in.safetensors")


def test_unknown_names_list_the_choices():
    with pytest.raises(ValueError, match="patch-kmeans"):
        backbone_spec("resnet1000")


def test_files_are_embedded_at_the_backbone_resolution(tmp_path):
    paths = []
    for number in range(3):
        paths.append(tmp_path / f"{number}.jpg")
        Image.new("RGB", (90 + number * 40, 60), (number * 80, 10, 200)).save(paths[-1])
    backbone = backbone_create("small-resnet", pretrained=False)
    batches = list(backbone.stream(paths, batch_size=2))
    assert [batch.shape for batch in batches] == [(2, 32, 32, 3), (1, 32, 32, 3)]
    assert backbone.embed_files(paths).shape == (3, backbone.embedding_dim)


def test_timm_backbones_when_timm_is_installed(empty_hub, tmp_path):
    import timm

    spec = backbone_spec("timm:resnet18")
    assert spec.hub_id and spec.crop == 224
    with pytest.raises(WeightsMissing):
        backbone_create("timm:resnet18")  # not in the Hugging Face cache, no downloads
    source = timm.create_model("resnet18", pretrained=False)
    save_file(source.state_dict(), str(tmp_path / "timm.safetensors"))
    backbone = backbone_create("timm:resnet18", weights=tmp_path / "timm.safetensors")
    assert torch.equal(backbone.trunk.conv1.weight, source.conv1.weight)
    assert backbone(torch.rand(1, 3, 64, 64) * 255).shape == (1, 512)


def test_the_store_keeps_whole_chunks_and_reads_each_id_once(tmp_path, monkeypatch):
    store = EmbeddingStore(tmp_path / "store")
    rows = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
    with store.writer():
        store.append(np.arange(5), rows[:5])
        store.append(np.arange(5, 10), rows[5:])
        store.append(np.array([3]), rows[:1])  # written twice: the first stays
    assert store.ids().tolist() == list(range(10))
    np.testing.assert_allclose(store.read(np.array([9, 3, 0])), rows[[9, 3, 0]], atol=1e-2)
    assert store.read(np.array([2])).dtype == np.float32
    with pytest.raises(KeyError, match="1 items"):
        store.read(np.array([4, 11]))

    monkeypatch.setattr("learning.core.embedding_store.MERGE_AT", 2)
    with store.writer():
        store.merge()
    assert len(list(store.folder.glob("chunk-*.npz"))) == 1
    np.testing.assert_allclose(store.read(np.arange(10)), rows, atol=1e-2)
    # A write that died before its rename leaves a temporary file nobody reads.
    (store.folder / ".chunk-dead.tmp").write_bytes(b"partial")
    assert store.ids().tolist() == list(range(10))
