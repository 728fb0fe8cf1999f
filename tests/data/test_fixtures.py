"""The stand-in KonIQ-10k, SPAQ and CLIVE folders load through the real readers, with their splits and sizes."""

from msbiqa.data import load_dataset
from msbiqa.data.fixtures import write_fixture_datasets


def test_fixture_datasets_load_like_the_real_ones(tmp_path):
    folders = write_fixture_datasets(tmp_path, count=10)
    shapes = {"koniq10k": (3, 384, 512), "spaq": (3, 512, 683), "clive": (3, 500, 500)}
    for name, folder in folders.items():
        sizes = [len(load_dataset(name, root=folder, split=split)) for split in ("train", "val", "test")]
        assert sum(sizes) == 10 and min(sizes) >= 1, (name, sizes)
        image, mos, _ = load_dataset(name, root=folder, split="test")[0]
        assert tuple(image.shape) == shapes[name] and 0 <= mos <= 100
