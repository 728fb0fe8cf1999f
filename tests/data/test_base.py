"""IQADataset: an image too small for any metric is refused when it is read, naming the file."""

import numpy as np
import pytest
from PIL import Image

from msbiqa.data.base import IQADataset


@pytest.mark.parametrize("resize", [None, 512])
def test_a_1x1_image_in_a_dataset_is_refused_naming_it(tmp_path, resize):
    """Unresized, a metric would refuse it without naming it; resized (SPAQ's 512 px), it would become a flat
    512x512 image and be scored."""
    files = [tmp_path / "fine.png", tmp_path / "dot.png"]
    Image.fromarray(np.zeros((16, 20, 3), np.uint8)).save(files[0])
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(files[1])
    ds = IQADataset(files, [1.0, 2.0], ["fine", "dot"], mos_range=(0, 5), title="t", resize=resize)
    assert ds[0][0].shape[-2:] == ((16, 20) if resize is None else (512, 640))
    with pytest.raises(ValueError, match=f"^{files[1]} is 1x1 pixels, below the 16 px a side that the metrics score"):
        ds[1]
