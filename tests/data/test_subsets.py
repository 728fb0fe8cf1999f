"""Spread subsets and (distorted, pristine) reference pairs."""

import pandas as pd
import pytest
import torch
from support import TinySet

from msbiqa.data.subsets import reference_pairs, spread


def test_spread_subsets_and_reference_pairs():
    assert spread(10, None) == list(range(10)) and spread(10, 3) == [0, 4, 9] and spread(3, 5) == [0, 1, 2]
    ds = TinySet()
    ds.table = pd.DataFrame({"ref": ["p"] * 4, "crop": [0] * 4, "distortion": ["pristine", "blur", "blur", "noise"]})
    ds.names = ["p_c0_pristine_0", "b1", "b2", "n1"]
    distorted, pristine, names = reference_pairs(ds, 2)
    assert names == ["b1", "n1"] and distorted.shape == pristine.shape == (2, 3, 8, 8)
    assert torch.equal(pristine[0], ds[0][0])
    with pytest.raises(ValueError, match="pristine references"):
        reference_pairs(TinySet())


def test_reference_pairs_match_each_distorted_image_to_its_own_pristine_crop():
    class Fake:  # image i is the constant i / 10, so pairs can be read off the pixel values
        table = pd.DataFrame(
            {
                "ref": ["a", "a", "a", "b", "b", "a"],
                "crop": [0, 0, 1, 0, 0, 1],
                "distortion": ["blur", "pristine", "noise", "pristine", "jpeg", "pristine"],
            }
        )
        names = ["a_c0_blur_1", "a_c0_pristine_0", "a_c1_noise_1", "b_c0_pristine_0", "b_c0_jpeg_1", "a_c1_pristine_0"]

        def __getitem__(self, i):
            return torch.full((3, 4, 4), i / 10), 50.0, self.names[i]

    distorted, pristine, names = reference_pairs(Fake())
    assert distorted[:, 0, 0, 0].tolist() == pytest.approx([0.0, 0.2, 0.4])
    assert pristine[:, 0, 0, 0].tolist() == pytest.approx([0.1, 0.5, 0.3])
    assert names == ["a_c0_blur_1", "a_c1_noise_1", "b_c0_jpeg_1"]
