"""The COCO export, as pycocotools loads it."""

from pycocotools.coco import COCO

from tests.annotator.exports.helpers import write


def test_pycocotools_loads_the_coco_file(project, labeled, tmp_path):
    out, _ = write(project, tmp_path, "coco")

    coco = COCO(str(out))

    cats = {cat["path"]: cat for cat in coco.loadCats(coco.getCatIds())}
    assert cats["animal/cat"]["supercategory"] == "animal"
    assert cats["vehicle/truck"]["supercategory"] == "vehicle"
    assert cats["animal"]["supercategory"] == "animal"  # a top node is its own
    assert len(cats) == 7  # every node, so coarse-only labels keep theirs
    images = {image["original_name"]: image for image in coco.loadImgs(coco.getImgIds())}
    assert set(images) == {"1.png", "2.png", "3.png", "6.png"}
    agreed = images["1.png"]
    assert agreed["file_name"] == f"{labeled['agreed'].content_hash}.png"
    assert (agreed["width"], agreed["height"]) == (8, 8)

    def category_of(name: str) -> str:
        (annotation,) = coco.loadAnns(coco.getAnnIds(imgIds=[images[name]["id"]]))
        assert annotation["bbox"] == [0, 0, 8, 8] and annotation["area"] == 64
        return coco.loadCats(annotation["category_id"])[0]["path"]

    assert category_of("1.png") == "animal/cat"
    assert category_of("2.png") == "vehicle/truck"
    assert category_of("3.png") == "animal"
    assert coco.getImgIds(catIds=[cats["animal/dog"]["id"]]) == [labeled["tie"].id]
    assert coco.dataset["info"]["taxonomy"]["version"] == 1
    assert coco.dataset["info"]["model_version"]["version"] == 2
