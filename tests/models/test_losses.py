"""Losses: hand-computed values (ties, batch of one, lower-is-better), the combined objective, and that one
optimisation step on each loss lowers it on a fixed batch."""

import pytest
import torch

from msbiqa.models.denoisers import UNet
from msbiqa.models.losses import (
    DenoiserObjective,
    LossWeights,
    consistency_loss,
    gradient_shares,
    mse_loss,
    ranking_loss,
    target_loss,
)
from msbiqa.models.metrics.base import score_span

pytestmark = pytest.mark.usefixtures("one_thread")


def test_mse_hand_computed():
    a, b = torch.zeros(1, 1, 2, 2), torch.tensor([[[[1.0, 0.0], [2.0, 1.0]]]])
    assert mse_loss(a, b).item() == pytest.approx((1 + 0 + 4 + 1) / 4)


def test_ranking_correct_order_with_margin_is_zero():
    scores, mos = torch.tensor([3.0, 1.0, 2.0]), torch.tensor([30.0, 10.0, 20.0])
    assert ranking_loss(scores, mos, margin=0.5).item() == 0.0


def test_ranking_hand_computed():
    # pairs with mos_i > mos_j: (0,1): s0-s1=-1 -> relu(0.5+1)=1.5; (0,2): 0 -> 0.5; (2,1): -1 -> 1.5
    scores, mos = torch.tensor([1.0, 2.0, 1.0]), torch.tensor([30.0, 10.0, 20.0])
    assert ranking_loss(scores, mos, margin=0.5).item() == pytest.approx((1.5 + 0.5 + 1.5) / 3)
    # in units of scale=10 the differences shrink tenfold: (0.6 + 0.5 + 0.6) / 3
    assert ranking_loss(scores, mos, margin=0.5, scale=10).item() == pytest.approx(1.7 / 3)


def test_ranking_lower_is_better_flips_order():
    scores, mos = torch.tensor([1.0, 2.0]), torch.tensor([20.0, 10.0])
    assert ranking_loss(scores, mos, margin=0.5).item() == pytest.approx(1.5)
    assert ranking_loss(scores, mos, margin=0.5, higher_is_better=False).item() == pytest.approx(0.0)


def test_ranking_ties_are_skipped():
    # pair (0,1) tied in mos: skipped; only (0,2) and (1,2) count: relu(1-(0-5))=6, relu(1-(5-5))=1
    scores, mos = torch.tensor([0.0, 5.0, 5.0]), torch.tensor([20.0, 20.0, 10.0])
    assert ranking_loss(scores, mos, margin=1.0).item() == pytest.approx((6 + 1) / 2)


@pytest.mark.parametrize("scores,mos", [([4.0], [50.0]), ([1.0, 9.0], [30.0, 30.0])])
def test_ranking_no_strict_pair_is_zero_and_differentiable(scores, mos):
    s = torch.tensor(scores, requires_grad=True)
    loss = ranking_loss(s, torch.tensor(mos), margin=1.0)
    loss.backward()
    assert loss.item() == 0.0 and torch.equal(s.grad, torch.zeros_like(s))


def test_ranking_gradient_pushes_misordered_pair_apart():
    s = torch.tensor([1.0, 2.0], requires_grad=True)
    ranking_loss(s, torch.tensor([20.0, 10.0]), margin=0.5).backward()
    assert s.grad.tolist() == [-1.0, 1.0]


def test_ranking_length_mismatch():
    with pytest.raises(ValueError, match="2 scores but 3"):
        ranking_loss(torch.zeros(2), torch.zeros(3))


def test_target_hand_computed():
    assert target_loss(torch.tensor([1.0, 4.0]), torch.tensor([2.0, 2.0])).item() == pytest.approx((1 + 4) / 2)
    assert target_loss(torch.tensor([10.0]), torch.tensor([0.0]), scale=10).item() == pytest.approx(1.0)


def test_score_span(tiny_metric):
    assert score_span(tiny_metric) == 100.0
    assert score_span(torch.nn.Identity()) == 1.0


def _batch():
    g = torch.Generator().manual_seed(1)
    clean = torch.rand(4, 3, 16, 16, generator=g)
    noisy = (clean + 0.1 * torch.randn(clean.shape, generator=g)).clamp(0, 1)
    return noisy, clean, torch.tensor([10.0, 40.0, 20.0, 30.0])


def test_combined_is_weighted_sum_and_metric_frozen(tiny_metric):
    metric = tiny_metric
    objective = DenoiserObjective(LossWeights(mse=2.0, rank=3.0, target=5.0), metric, margin=0.05).train()
    assert not metric.training and not any(p.requires_grad for p in metric.parameters())
    noisy, clean, mos = _batch()
    total, parts = objective(noisy, clean, mos)
    assert set(parts) == {"mse", "rank", "target"}
    assert total.item() == pytest.approx(2 * parts["mse"] + 3 * parts["rank"] + 5 * parts["target"], rel=1e-5)
    scores = metric(noisy)
    assert parts["rank"] == pytest.approx(ranking_loss(scores, mos, margin=0.05, scale=100).item(), rel=1e-5)
    assert parts["target"] == pytest.approx(target_loss(scores, metric(clean), scale=100).item(), rel=1e-5)


def test_combined_needs_metric_and_mos(tiny_metric):
    with pytest.raises(ValueError, match="base metric"):
        DenoiserObjective(LossWeights(rank=1.0))
    noisy, clean, _ = _batch()
    with pytest.raises(ValueError, match="MOS"):
        DenoiserObjective(LossWeights(rank=1.0), tiny_metric)(noisy, clean)


@pytest.mark.parametrize("weights", [LossWeights(mse=1), LossWeights(mse=0, rank=1), LossWeights(mse=0, target=1)])
def test_one_step_lowers_each_loss(weights, tiny_metric):
    torch.manual_seed(0)
    model = UNet(depth=1, width=8)
    torch.nn.init.normal_(model.head.weight, std=0.05)  # start away from the identity, where only the head learns
    objective = DenoiserObjective(weights, tiny_metric, margin=0.5)
    noisy, clean, mos = _batch()
    before, _ = objective(model.denoise(noisy), clean, mos)
    assert before.item() > 0
    before.backward()
    grads = [p.grad for p in model.parameters()]
    norm = torch.sqrt(sum((g**2).sum() for g in grads))
    with torch.no_grad():
        for p, g in zip(model.parameters(), grads):
            p -= 1e-3 * g / norm  # a short normalised gradient step
        after, _ = objective(model.denoise(noisy), clean, mos)
    assert after.item() < before.item()


def test_consistency_hand_computed_and_through_metric():
    assert consistency_loss(torch.tensor([1.0, 4.0]), torch.tensor([3.0, 4.0])).item() == pytest.approx(4 / 2)
    assert consistency_loss(torch.tensor([10.0]), torch.tensor([0.0]), scale=10).item() == pytest.approx(1.0)
    assert LossWeights(consistency=1.0).through_metric and not LossWeights().through_metric


def test_consistency_term_compares_two_draws(tiny_metric):
    noisy, clean, mos = _batch()
    second = (clean + 0.1 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    objective = DenoiserObjective(LossWeights(mse=1.0, consistency=7.0), tiny_metric)
    with pytest.raises(ValueError, match="second noise draw"):
        objective(noisy, clean, mos)
    total, parts = objective(noisy, clean, mos, second)
    expected = consistency_loss(tiny_metric(noisy), tiny_metric(second), scale=100).item()
    assert parts["consistency"] == pytest.approx(expected, rel=1e-5) and expected > 0
    assert total.item() == pytest.approx(parts["mse"] + 7 * parts["consistency"], rel=1e-5)
    assert objective(noisy, clean, mos, noisy)[1]["consistency"] == 0.0  # the same draw twice: no spread


def test_ranking_min_gap_leaves_near_ties_out():
    # pairs by mos: (0,1) gap 20, (0,2) gap 10, (2,1) gap 10; scores all misordered by 1
    scores, mos = torch.tensor([1.0, 2.0, 1.0]), torch.tensor([30.0, 10.0, 20.0])
    assert ranking_loss(scores, mos, margin=0.5, min_gap=15).item() == pytest.approx(1.5)  # only (0,1)
    assert ranking_loss(scores, mos, margin=0.5, min_gap=25).item() == 0.0  # no pair left
    assert ranking_loss(scores, mos, margin=0.5, min_gap=10).item() == ranking_loss(scores, mos, margin=0.5).item()


def test_objective_min_gap_changes_the_rank_term(tiny_metric):
    noisy, clean, mos = _batch()  # MOS 10, 40, 20, 30: gaps of 10, 20 and 30
    parts = {
        gap: DenoiserObjective(LossWeights(rank=1.0), tiny_metric, margin=0.5, min_gap=gap)(noisy, clean, mos)[1]
        for gap in (0, 25)
    }
    scores = tiny_metric(noisy)
    assert parts[25]["rank"] == pytest.approx(ranking_loss(scores, mos, margin=0.5, scale=100, min_gap=25).item())
    assert parts[25]["rank"] != parts[0]["rank"]


def test_rank_against_clean_orders_by_the_clean_scores(tiny_metric):
    noisy, clean, _ = _batch()
    clean_scores = tiny_metric(clean)
    mos = -clean_scores.detach()  # MOS in the opposite order of the clean scores
    weights = LossWeights(mse=0.0, rank=1.0)
    by_mos = DenoiserObjective(weights, tiny_metric, margin=0.5)(noisy, clean, mos)[1]["rank"]
    objective = DenoiserObjective(weights, tiny_metric, margin=0.5, rank_against="clean")
    by_clean = objective(noisy, clean)[1]["rank"]  # needs no MOS
    expected = ranking_loss(tiny_metric(noisy), clean_scores, margin=0.5, scale=100).item()
    assert by_clean == pytest.approx(expected, rel=1e-5) and by_clean != pytest.approx(by_mos)
    with pytest.raises(ValueError, match="rank_against"):
        DenoiserObjective(weights, tiny_metric, rank_against="psnr")


def test_rank_against_clean_of_a_lower_is_better_metric(tiny_metric):
    """Flipping the metric's direction flips scores and clean references alike: the loss is unchanged."""
    noisy, clean, _ = _batch()

    class Lower(torch.nn.Module):
        higher_is_better = False
        score_range = (-100.0, 0.0)

        def forward(self, x):
            return -tiny_metric(x)

    weights = LossWeights(mse=0.0, rank=1.0)
    up = DenoiserObjective(weights, tiny_metric, margin=0.5, rank_against="clean")(noisy, clean)[1]["rank"]
    down = DenoiserObjective(weights, Lower(), margin=0.5, rank_against="clean")(noisy, clean)[1]["rank"]
    assert down == pytest.approx(up, rel=1e-5)


def test_gradient_shares_are_each_terms_own_gradient_norm(tiny_metric):
    torch.manual_seed(0)
    model = UNet(depth=1, width=8)
    torch.nn.init.normal_(model.head.weight, std=0.05)
    noisy, clean, mos = _batch()
    second = noisy.flip(0)
    weights = LossWeights(mse=2.0, rank=3.0, target=5.0, consistency=7.0)
    objective = DenoiserObjective(weights, tiny_metric, margin=0.5)
    terms = objective.terms(model.denoise(noisy), clean, mos, model.denoise(second))
    shares = gradient_shares(objective.weighted(terms), model.parameters())
    assert set(shares) == {"mse", "rank", "target", "consistency"}
    for name, share in shares.items():
        alone = LossWeights(**{k: (v if k == name else 0.0) for k, v in weights.to_dict().items()})
        model.zero_grad()
        DenoiserObjective(alone, tiny_metric, margin=0.5)(model.denoise(noisy), clean, mos, model.denoise(second))[
            0
        ].backward()
        norm = torch.sqrt(sum((p.grad**2).sum() for p in model.parameters() if p.grad is not None)).item()
        assert share == pytest.approx(norm, rel=1e-4) and share > 0, name
