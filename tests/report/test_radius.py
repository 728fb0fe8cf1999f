"""The radius visualisation and the sliders' figure: the certified interval per radius, fixed score axes, and a
value that cannot be certified explained in the figure."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from msbiqa.report.plots import plot_certificate, score_limits
from msbiqa.report.radius import certificate_figure, radius_table
from msbiqa.smoothing.certify import certificate_from_scores
from msbiqa.smoothing.theory import largest_eps

SCORES = 50 + 5 * torch.randn(200, generator=torch.Generator().manual_seed(0))


def test_radius_table_widens_with_eps_up_to_the_largest_certifiable_radius():
    table = radius_table(SCORES[:40], 0.12, 0.001, eps_max=0.2)
    assert table["eps"].iloc[0] == 0 and table["eps"].iloc[-1] == pytest.approx(largest_eps(40, 0.12, 0.001))
    assert table["lower"].is_monotonic_decreasing and table["upper"].is_monotonic_increasing
    assert len(radius_table(SCORES, 0.12, 0.001, eps_max=0.05)) == 81  # all of the grid when n allows it


def test_histograms_share_a_fixed_score_axis_with_labels():
    wide = 50 + 10 * torch.randn(200, generator=torch.Generator().manual_seed(1))
    xlim = score_limits(SCORES, wide, 80.0)
    assert xlim[0] < float(wide.min()) and xlim[1] > 80.0
    fig, axes = plt.subplots(1, 2)
    for ax, scores in zip(axes, (SCORES, wide)):
        cert = certificate_from_scores(scores, sigma=0.12, eps=0.05, alpha=0.001)
        plot_certificate(ax, scores, cert, base=80.0, xlim=xlim)
        assert ax.get_xlim() == pytest.approx(xlim) and ax.get_ylabel() == "noisy samples"
        assert "undefended score" in ax.get_legend_handles_labels()[1]
    plt.close(fig)


def test_certificate_figure_shows_samples_histogram_and_radius():
    image = torch.rand(3, 16, 16)
    images = [(image, "noisy"), (image, "denoised")]
    fig, reason = certificate_figure(
        SCORES, sigma=0.12, eps=0.05, alpha=0.001, base=60.0, images=images, title="DMS-IQA on tiny", xlim=(30.0, 70.0)
    )
    assert reason is None and len(fig.axes) == 4
    hist, radius = fig.axes[2], fig.axes[3]
    assert fig._suptitle.get_text().startswith("DMS-IQA on tiny: σ=0.12, ε=0.05, n=200")
    assert hist.get_title().startswith("σ=0.12, ε=0.05, n=200: [") and "δ=" in hist.get_title()
    assert radius.get_xlim() == pytest.approx((30.0, 70.0)) and radius.get_ylabel() == "ε (l2 radius)"
    assert np.isclose([line.get_ydata()[0] for line in radius.lines], 0.05).any()  # the chosen eps
    plt.close(fig)


def test_a_value_that_cannot_be_certified_says_why():
    fig, reason = certificate_figure(SCORES[:20], sigma=0.12, eps=0.2, alpha=0.001)
    assert "cannot certify" in reason and "raise n to at least" in reason
    hist = fig.axes[0]
    assert "not certified" in hist.get_title() and any("raise n" in t.get_text() for t in hist.texts)
    plt.close(fig)
