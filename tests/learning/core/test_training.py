import numpy as np
import pytest
import torch
import torch.nn.functional as F

from learning.core.backbones import read_state_dict
from learning.core.networks import build_network
from learning.core.scoring import score_images
from learning.core.training import (
    HeadConfig,
    TaxonomyMismatchError,
    TrainConfig,
    balanced_weights,
    hierarchical_loss,
    load_head,
    save_head,
    train_head,
    train_network,
)
from tests.learning.core.helpers import blob_images, small, three_level, two_level


def membership(taxonomy):
    return torch.from_numpy(taxonomy.membership)


def test_a_leaf_label_gives_plain_cross_entropy():
    taxonomy = two_level()
    logits = torch.randn(6, 10, generator=torch.Generator().manual_seed(0))
    leaf_columns = torch.tensor([0, 3, 5, 9, 2, 2])
    nodes = torch.tensor([taxonomy.leaves[c] for c in leaf_columns])
    loss = hierarchical_loss(logits, nodes, membership(taxonomy))
    assert loss.item() == pytest.approx(F.cross_entropy(logits, leaf_columns).item(), rel=1e-6)


def test_a_coarse_only_label_rewards_any_mass_on_its_leaves():
    taxonomy = small()  # a: a1 a2, b: b1 b2
    node_a = torch.tensor([taxonomy.node_index("a")])
    matrix = membership(taxonomy)
    on_a1 = hierarchical_loss(torch.tensor([[5.0, 0.0, 0.0, 0.0]]), node_a, matrix)
    on_a2 = hierarchical_loss(torch.tensor([[0.0, 5.0, 0.0, 0.0]]), node_a, matrix)
    on_b1 = hierarchical_loss(torch.tensor([[0.0, 0.0, 5.0, 0.0]]), node_a, matrix)
    assert on_a1.item() == pytest.approx(on_a2.item())  # how the mass splits inside a is free
    assert on_a1.item() < 0.05 < on_b1.item()
    # Equal to -log(p(a1) + p(a2)).
    logits = torch.tensor([[1.0, 2.0, 0.5, -1.0]])
    expected = -torch.log(logits.softmax(dim=1)[0, :2].sum())
    assert hierarchical_loss(logits, node_a, matrix).item() == pytest.approx(
        expected.item(), rel=1e-6
    )


def test_coarse_only_gradient_moves_mass_into_the_node():
    taxonomy = three_level()
    logits = torch.zeros(1, 10, requires_grad=True)
    mammal = torch.tensor([taxonomy.node_index("animal/mammal")])
    hierarchical_loss(logits, mammal, membership(taxonomy)).backward()
    inside = taxonomy.membership[mammal.item()] > 0
    assert (logits.grad[0, inside] < 0).all() and (logits.grad[0, ~inside] > 0).all()


def test_balanced_weights_give_every_label_the_same_total():
    weights = balanced_weights(np.array([1, 1, 1, 1, 2]))
    assert weights.mean() == pytest.approx(1.0)
    assert weights[:4].sum() == pytest.approx(weights[4])
    assert balanced_weights(np.array([], dtype=int)).shape == (0,)


def gaussian_blobs(taxonomy, per_class, seed):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (taxonomy.num_leaves, 8))
    columns = np.repeat(np.arange(taxonomy.num_leaves), per_class)
    return (centres[columns] + rng.normal(0, 1, (len(columns), 8))).astype(np.float32), columns


def head_accuracy(head, features, columns):
    with torch.no_grad():
        return (head(torch.from_numpy(features)).argmax(dim=1).numpy() == columns).mean()


def test_the_head_learns_and_is_deterministic():
    taxonomy = two_level()
    features, columns = gaussian_blobs(taxonomy, 20, seed=0)
    test_features, test_columns = gaussian_blobs(taxonomy, 20, seed=0)
    nodes = np.asarray(taxonomy.leaves)[columns]
    pool, _ = gaussian_blobs(taxonomy, 30, seed=1)
    first = train_head(features, nodes, taxonomy, pool, HeadConfig(self_training_rounds=1, seed=3))
    second = train_head(features, nodes, taxonomy, pool, HeadConfig(self_training_rounds=1, seed=3))
    assert head_accuracy(first, test_features, test_columns) > 0.8
    assert torch.equal(first.weight, second.weight)


def test_the_head_learns_the_coarse_level_from_coarse_only_labels():
    taxonomy = two_level()
    features, columns = gaussian_blobs(taxonomy, 20, seed=0)
    coarse_nodes = taxonomy.leaf_ancestors[columns, 0]
    head = train_head(features, coarse_nodes, taxonomy, config=HeadConfig(self_training_rounds=0))
    with torch.no_grad():
        probs = head(torch.from_numpy(features)).softmax(dim=1).numpy()
    assert taxonomy.evaluate(probs, columns)["acc_coarse"] > 0.9


def test_the_head_without_labels_predicts_uniformly():
    head = train_head(np.zeros((0, 4)), np.zeros(0, dtype=int), small())
    assert torch.allclose(head(torch.ones(1, 4)).softmax(dim=1), torch.full((1, 4), 0.25))


def test_a_small_network_learns_images_above_chance_and_is_deterministic():
    torch.set_num_threads(2)
    taxonomy = small()
    images, columns = blob_images(per_class=24, classes=4, size=16, seed=0)
    nodes = np.asarray(taxonomy.leaves)[columns]
    config = TrainConfig(epochs=4, batch_size=16, seed=5)
    runs = []
    for _ in range(2):
        network = build_network("small-resnet", taxonomy.num_leaves, seed=1)
        runs.append(
            train_network(
                network, images, nodes, taxonomy, unlabeled_images=images[::3], config=config
            )
        )
    test_images, test_columns = blob_images(per_class=10, classes=4, size=16, seed=9)
    scores = score_images(runs[0], test_images, taxonomy)
    assert (scores.leaf_probs.argmax(axis=1) == test_columns).mean() > 0.5  # chance is 0.25
    for first, second in zip(
        runs[0].state_dict().values(), runs[1].state_dict().values(), strict=True
    ):
        assert torch.equal(first, second)


def test_a_saved_head_round_trips_names_its_backbone_and_refuses_another_taxonomy(tmp_path):
    taxonomy = two_level()
    head = torch.nn.Linear(512, taxonomy.num_leaves)
    path = save_head(
        tmp_path / "models" / "model.pt", head, taxonomy, "resnet18", "ssl.safetensors", {"v": 3}
    )
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temp files left
    # The backbone is named, not copied: the file holds the head's 512 x 10 + 10 floats.
    assert path.stat().st_size < 64_000
    loaded = load_head(path, taxonomy)
    assert (loaded.backbone, loaded.weights, loaded.metadata) == (
        "resnet18",
        "ssl.safetensors",
        {"v": 3},
    )
    assert loaded.taxonomy == taxonomy
    embeddings = torch.randn(5, 512, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(loaded.head(embeddings), head(embeddings))
    with pytest.raises(TaxonomyMismatchError, match="cifar10-2level.*not for 'cifar10-3level'"):
        load_head(path, three_level())


def test_overwriting_a_head_replaces_it_whole_and_other_files_are_refused(tmp_path):
    taxonomy = small()
    path = tmp_path / "model.pt"
    save_head(path, torch.nn.Linear(8, 4), taxonomy, "patch-kmeans", "", {"version": 1})
    save_head(path, torch.nn.Linear(8, 4), taxonomy, "patch-kmeans", "", {"version": 2})
    assert load_head(path).metadata == {"version": 2}
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="is not a head file"):
        load_head(tmp_path / "other.pt")


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_pretrained_backbone_weights_load_from_a_local_file_only(tmp_path, suffix, monkeypatch):
    source = build_network("small-resnet", 10, seed=7)
    file = tmp_path / f"backbone{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(source.backbone.state_dict(), str(file))
    else:
        torch.save({"state_dict": source.backbone.state_dict()}, file)

    def no_pickle_loads(*args, **kwargs):
        assert kwargs.get("weights_only") is True
        return real_load(*args, **kwargs)

    real_load = torch.load
    monkeypatch.setattr(torch, "load", no_pickle_loads)
    loaded = build_network("small-resnet", 10, weights=file, seed=0)
    for key, value in source.backbone.state_dict().items():
        assert torch.equal(loaded.backbone.state_dict()[key], value)
    assert set(read_state_dict(file)) == set(source.backbone.state_dict())


def test_a_weights_file_for_another_architecture_is_refused(tmp_path):
    file = tmp_path / "other.pt"
    torch.save({"unrelated.weight": torch.zeros(3)}, file)
    with pytest.raises(ValueError, match="does not fit this architecture"):
        build_network("small-resnet", 10, weights=file)


def test_torchvision_architectures_build_without_downloading(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))  # an empty cache
    network = build_network("mobilenet_v3_small", 10)  # random: a checkpoint loads over it
    logits, embedding = network(torch.rand(2, 3, 64, 64) * 255)
    assert logits.shape == (2, 10) and embedding.shape == (2, network.embedding_dim)
