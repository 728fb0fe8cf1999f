"""The validation proxy: shared noise that does not depend on batching or subsets, its numbers recomputed by hand
on a tiny stand-in, the sign for lower-is-better metrics, the best-epoch rule and the bootstrap intervals."""

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats
from support import Blur, ItemSet

from msbiqa.data.images import psnr
from msbiqa.models.validation import ProxySet, best_epoch, evaluate, noisy_copies, proxy_scores

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def proxy(photos):
    return ProxySet.from_dataset(ItemSet(photos))


def test_noise_depends_on_seed_and_index_only():
    image = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0))
    many, few = noisy_copies(image, 3, sigma=0.1, draws=32), noisy_copies(image, 3, sigma=0.1, draws=4)
    assert torch.equal(many[:4], few)  # the training proxy's draws are the first draws of the selection proxy
    assert not torch.equal(noisy_copies(image, 4, sigma=0.1, draws=4), few)
    assert not torch.equal(noisy_copies(image, 3, sigma=0.1, draws=4, seed=1), few)
    assert many.min() >= 0 and many.max() <= 1


def test_numbers_by_hand(proxy, tiny_metric):
    denoiser = Blur()
    got = proxy_scores(denoiser, tiny_metric, proxy, sigma=0.1, draws=5, batch_size=3)
    rows, psnrs = [], []
    for image, index in zip(proxy.images, proxy.index):
        copies = noisy_copies(image, index, sigma=0.1, draws=5)
        denoised = denoiser(copies).clamp(0, 1)
        rows.append(tiny_metric(denoised).detach().numpy())
        psnrs.append(psnr(denoised, image.expand_as(copies)).mean().item())
    scores = np.array(rows, dtype=np.float64)
    np.testing.assert_allclose(got.scores, scores, rtol=1e-5)
    np.testing.assert_allclose(got.psnr, psnrs, rtol=1e-5)
    summary = got.summary(proxy.mos)
    medians = np.median(scores, axis=1)
    within, across = scores.std(axis=1, ddof=1).mean(), medians.std(ddof=1)
    assert summary["srocc"] == pytest.approx(stats.spearmanr(medians, proxy.mos).statistic)
    assert summary["within_sd"] == pytest.approx(within, rel=1e-5)
    assert summary["across_sd"] == pytest.approx(across, rel=1e-5)
    assert summary["spread"] == pytest.approx(within / across, rel=1e-5)
    assert summary["psnr"] == pytest.approx(np.mean(psnrs), rel=1e-5)


def test_batching_and_subsets_do_not_change_the_scores(photos, proxy, tiny_metric):
    one = proxy_scores(None, tiny_metric, proxy, sigma=0.1, draws=4, batch_size=1).scores
    many = proxy_scores(None, tiny_metric, proxy, sigma=0.1, draws=4, batch_size=64).scores
    np.testing.assert_allclose(one, many, rtol=1e-6)
    subset = ProxySet.from_dataset(ItemSet(photos), count=3)  # images 0, 4 (rounded from 3.5) and 7
    assert subset.index == [0, 4, 7]
    sub = proxy_scores(None, tiny_metric, subset, sigma=0.1, draws=4).scores
    np.testing.assert_allclose(sub, many[subset.index], rtol=1e-6)


def test_no_denoiser_psnr_is_that_of_the_noisy_copies(proxy, tiny_metric):
    got = proxy_scores(None, tiny_metric, proxy, sigma=0.1, draws=2)
    image, index = proxy.images[0], proxy.index[0]
    noisy = noisy_copies(image, index, sigma=0.1, draws=2)
    assert got.psnr[0] == pytest.approx(psnr(noisy, image.expand_as(noisy)).mean().item(), rel=1e-5)


def test_lower_is_better_metric_is_sign_corrected(proxy, tiny_metric):
    class Lower(torch.nn.Module):
        higher_is_better = False

        def forward(self, x):
            return -tiny_metric(x)

    up = proxy_scores(None, tiny_metric, proxy, sigma=0.1, draws=3).summary(proxy.mos)
    down = proxy_scores(None, Lower(), proxy, sigma=0.1, draws=3).summary(proxy.mos)
    assert down["srocc"] == pytest.approx(up["srocc"]) and down["spread"] == pytest.approx(up["spread"])


@pytest.mark.parametrize(
    "values, chosen",
    [
        ([0.5, 0.6, 0.55], 2),
        ([0.5, 0.6, 0.601, 0.59], 2),  # within 0.002 of the best: the earlier epoch
        ([0.5, 0.600, 0.601, 0.6025], 3),  # a later best moves the tie's floor past epoch 2
        ([0.5, 0.6, 0.603], 3),
        ([float("nan"), 0.1, 0.05], 2),  # an undefined SROCC never wins
        ([float("nan"), float("nan")], 2),  # nothing defined: the last epoch
    ],
)
def test_best_epoch_rule(values, chosen):
    assert best_epoch([{"epoch": i + 1, "val_srocc": v} for i, v in enumerate(values)]) == chosen


def test_evaluate_intervals_over_images_and_photos(photos, tiny_metric):
    items = ItemSet(photos)
    items.table = pd.DataFrame({"ref": ["p", "q"] * 4})
    proxy = ProxySet.from_dataset(items)
    assert proxy.photos == ["p", "q"] * 4
    row = evaluate(Blur(), tiny_metric, proxy, sigma=0.1, draws=4)
    assert row["images"] == 8 and row["draws"] == 4
    assert row["srocc_lo"] <= row["srocc"] <= row["srocc_hi"]
    assert row["srocc_photo_lo"] <= row["srocc_photo_hi"]
    alone = evaluate(Blur(), tiny_metric, ProxySet.from_dataset(ItemSet(photos)), sigma=0.1, draws=4)
    assert np.isnan(alone["srocc_photo_lo"]) and alone["srocc"] == row["srocc"]


def test_a_split_too_small_to_rank_gives_nan(photos, tiny_metric):
    proxy = ProxySet.from_dataset(ItemSet(photos[:2]))
    summary = proxy_scores(None, tiny_metric, proxy, sigma=0.1, draws=3).summary(proxy.mos)
    assert np.isnan(summary["srocc"]) and summary["within_sd"] > 0
