import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from learning.core.data import load_image_folder
from tests.learning.core.helpers import SMALL, blob_images

REPO = Path(__file__).resolve().parents[3]


def run_python(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_importing_the_core_and_the_bench_does_not_import_django():
    code = (
        "import sys, learning.core.taxonomy, learning.core.data, learning.core.decode, "
        "learning.core.networks, learning.core.training, learning.core.scoring, "
        "learning.core.strategies, learning.core.pretrain, learning.core.zeroshot, "
        "learning.core.evaluation, learning.core.label_review, learning.core.backbones, "
        "learning.core.embedding_store, learning.bench, learning.embed_bench, "
        "learning.gpu_pretrain; "
        "print(sorted(m for m in sys.modules if m == 'django' or m.startswith('django.')))"
    )
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def write_folder(root: Path, per_class: int, seed: int, suffix: str = ".png") -> None:
    images, labels = blob_images(per_class=per_class, classes=4, size=32, seed=seed)
    leaves = ["a1", "a2", "b1", "b2"]
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / leaves[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{index:04d}{suffix}")


def test_an_image_folder_decodes_once_and_is_cached(tmp_path):
    write_folder(tmp_path / "images", per_class=3, seed=0, suffix=".jpg")
    first = load_image_folder(tmp_path / "images", size=16, cache_dir=tmp_path / "cache")
    assert first.images.shape == (12, 16, 16, 3) and first.images.dtype == np.uint8
    assert first.class_names[:3] == ("a1", "a1", "a1")
    assert len(list((tmp_path / "cache").glob("images-*.npy"))) == 1
    second = load_image_folder(tmp_path / "images", size=16, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(first.images, second.images)
    assert second.paths == first.paths


def test_the_benchmark_runs_end_to_end_on_a_few_images(tmp_path):
    write_folder(tmp_path / "pool", per_class=12, seed=0)
    write_folder(tmp_path / "eval", per_class=5, seed=1)
    (tmp_path / "taxonomy.json").write_text(json.dumps(SMALL))
    out = tmp_path / "results.json"
    result = run_python(
        "-m", "learning.bench",
        "--images", str(tmp_path / "pool"),
        "--eval-images", str(tmp_path / "eval"),
        "--taxonomy", str(tmp_path / "taxonomy.json"),
        "--strategies", "random,margin,combined",
        "--seed-size", "8", "--batch", "8", "--budget", "24", "--repeats", "2",
        "--centroids", "16", "--epochs", "2", "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    last_line = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"best=\w+ ratio_to_random=(None|\d+(\.\d+)?)", last_line), last_line
    data = json.loads(out.read_text())
    assert {"rounds", "summary"} <= set(data)
    assert len(data["rounds"]) == 3 * 2 * 3  # strategies x repeats x rounds (8, 16, 24 labels)
    for row in data["rounds"]:
        assert {
            "strategy",
            "repeat",
            "labels",
            "acc_fine",
            "acc_coarse",
            "hierarchical_f1",
            "train_s",
            "score_s",
        } <= set(row)
    assert {row["labels"] for row in data["rounds"]} == {8, 16, 24}
    for strategy in ("random", "margin", "combined"):
        assert {"final_acc_fine", "labels_to_reach_random_final", "ratio_to_random"} <= set(
            data["summary"][strategy]
        )
    assert data["summary"]["random"]["ratio_to_random"] <= 1.0
