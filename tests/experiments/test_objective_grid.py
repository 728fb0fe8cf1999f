"""The objective grid: its rows come from the weights files and their proxy rows (matched by digest), the rule picks
the best qualifying point (not the best overall), falls back to the lowest spread, and the command writes the table,
figure and choice."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from msbiqa.cli import main
from msbiqa.experiments.objective_grid import choose, grid_table, label_offsets, trained_arm
from msbiqa.fingerprint import weights_digest
from msbiqa.models.denoisers import DnCNN, UNet, load_denoiser, save_denoiser
from msbiqa.models.validation import budget_check


def history(values):
    return [{"epoch": e, "val_srocc": v, "val_spread": 0.2} for e, v in enumerate(values, start=1)]


def arm_file(path, seed, weights, chosen, curve, arch=UNet):
    torch.manual_seed(seed)
    model = arch(depth=1, width=4) if arch is UNet else arch(depth=3, channels=4)
    config = {
        "sigma": 0.12,
        "kind": "dms-iqa",
        "seed": 0,
        "weights": weights,
        "rank_against": "mos",
        "rank_min_gap": 0.0,
        "history": history(curve),
        "chosen_epoch": chosen,
        "gradient_shares": {"first": {"mse": 0.01, "target": 50.0}, "last": {"mse": 0.02, "target": 60.0}},
    }
    return save_denoiser(model, path, config)


def proxy_row(path, srocc, spread):
    digest = weights_digest(load_denoiser(path))
    return {
        "denoiser": str(path),
        "digest": digest,
        "sigma": 0.12,
        "images": 10,
        "draws": 32,
        "split": "val",
        "noise_seed": 20261206,
        "srocc": srocc,
        "srocc_lo": srocc - 0.05,
        "srocc_hi": srocc + 0.05,
        "srocc_photo_lo": srocc - 0.1,
        "srocc_photo_hi": srocc + 0.1,
        "within_sd": spread * 10,
        "across_sd": 10.0,
        "spread": spread,
        "psnr": 25.0,
    }


@pytest.fixture
def grid(tmp_path):
    """A reference (spread 0.20) and three points: G0 qualifies, G1 is better but too spread, G2 qualifies."""
    specs = {  # name: (seed, srocc, spread, chosen epoch, curve)
        "G0": (1, 0.60, 0.21, 2, [0.5, 0.6, 0.59]),
        "G1": (2, 0.70, 0.30, 3, [0.5, 0.6, 0.70]),
        "G2": (3, 0.55, 0.18, 1, [0.55, 0.5, 0.5]),
    }
    ref = arm_file(tmp_path / "dms-sigma0.12.pt", 0, {"mse": 1.0}, 3, [0.5, 0.55, 0.58], arch=DnCNN)
    files = {
        name: arm_file(tmp_path / f"{name}-sigma0.12.pt", s, {"mse": 1, "target": 256}, c, v)
        for name, (s, _, _, c, v) in specs.items()
    }
    rows = [proxy_row(ref, 0.58, 0.20)] + [proxy_row(files[n], r, sp) for n, (_, r, sp, _, _) in specs.items()]
    proxy = pd.DataFrame(rows)
    proxy.to_csv(tmp_path / "proxy.csv", index=False)
    return ref, files, proxy


def test_rule_picks_the_best_qualifying_point_not_the_best_overall(grid):
    ref, files, proxy = grid
    table = grid_table([trained_arm("DMS", ref, proxy)] + [trained_arm(n, p, proxy) for n, p in files.items()])
    assert list(table["qualifies"]) == [None, True, False, True]
    assert table["spread_ratio"].tolist() == pytest.approx([1.0, 1.05, 1.5, 0.9])
    assert choose(table)["chosen"] == "G0" and choose(table)["qualified"]
    assert table.loc[2, "best_is_last"] and not table.loc[1, "best_is_last"]
    assert table.loc[1, "grad_first_target"] == 50.0 and table.loc[1, "w_target"] == 256.0


def test_without_a_qualifying_point_the_lowest_spread_is_chosen_and_said(grid):
    ref, files, proxy = grid
    proxy.loc[proxy["denoiser"] == str(files["G0"]), "spread"] = 0.5
    proxy.loc[proxy["denoiser"] == str(files["G2"]), "spread"] = 0.25
    table = grid_table([trained_arm("DMS", ref, proxy)] + [trained_arm(n, p, proxy) for n, p in files.items()])
    choice = choose(table)
    assert choice["chosen"] == "G2" and not choice["qualified"] and "no grid point" in choice["why"]


def test_weights_without_a_proxy_row_name_the_command_that_writes_it(grid):
    ref, files, proxy = grid
    with pytest.raises(ValueError, match="msbiqa validate-denoisers"):
        trained_arm("G1", files["G1"], proxy[proxy["denoiser"] != str(files["G1"])])


def test_budget_check_flags_a_last_epoch_best_and_measures_the_tail():
    check = budget_check(history([0.5, 0.6, 0.58, 0.62]), 4)
    assert check["best_is_last"] and check["epochs"] == 4 and check["last3_range"] == pytest.approx(0.04)
    assert check["kept_val_srocc"] == 0.62 and not budget_check(history([0.5, 0.6]), 1)["best_is_last"]
    unvalidated = budget_check([{"epoch": 1, "loss": 0.3}, {"epoch": 2, "loss": 0.2}], 2)
    assert unvalidated["best_is_last"] is None and unvalidated["epochs"] == 2  # kept by design, not by validation


def test_command_writes_table_figure_and_choice(grid, tmp_path, capsys):
    ref, files, _ = grid
    out = tmp_path / "out"
    args = [
        "choose-objective",
        *map(str, files.values()),
        "--reference",
        str(ref),
        "--proxy",
        str(tmp_path / "proxy.csv"),
    ]
    assert main([*args, "--out", str(out)]) == 0
    assert "chosen: G0" in capsys.readouterr().out
    assert json.loads((out / "choice.json").read_text())["chosen"] == "G0"
    text = (out / "grid.md").read_text()
    assert "**Chosen: G0**" in text and "| G1 | 1/0/256/0 |" in text and "3 / 3 (last: possibly under-trained)" in text
    assert (out / "grid.png").stat().st_size > 0 and len(pd.read_csv(out / "grid.csv")) == 4


def test_labels_of_close_points_take_different_rows_and_distant_ones_the_first():
    offsets = label_offsets(np.array([1.0, 1.20, 1.18, 1.19, 1.55, 1.21]))
    assert offsets[0] == offsets[4] == (6, 4)  # alone: the first row
    close = [offsets[i] for i in (2, 3, 1, 5)]  # 1.18, 1.19, 1.20, 1.21 in x order
    assert len(set(close)) == 4
