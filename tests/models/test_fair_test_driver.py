"""scripts/train_fair_test.sh: the runs it would start (FAIR_DRY=1) follow the fair-test rules' budget and grid,
skip finished outputs, and a wrong grid point is refused."""

import os
import subprocess

import pytest
from support import ROOT

SCRIPT = ROOT / "scripts" / "train_fair_test.sh"


def jobs(*args, **env):
    done = subprocess.run(
        ["bash", str(SCRIPT), *args],
        env={**os.environ, "FAIR_DRY": "1", **env},
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode, [line for line in done.stdout.splitlines() if line.startswith("[[")], done.stderr


def test_grid_phase_trains_stage1_dms_unet_mse_and_the_grid(tmp_path):
    rc, lines, _ = jobs("grid", FAIR_OUT=str(tmp_path))
    assert rc == 0 and len(lines) == 2 + 2 + 8
    stage1, stage2 = lines[:2], lines[2:]
    assert all("--epochs 8 --crop 48 --lr 1e-3 --select last" in line for line in stage1)
    assert all("--epochs 8 --crop 0 --lr 5e-4 --init" in line for line in stage2)
    assert all("--threads 1 --device cpu --sigma 0.12 --batch-size 16 --crops-per-image 1 --amp" in x for x in lines)
    assert all(line.startswith(f"[[ -f {tmp_path}/seed0/") for line in lines)  # skipped once written
    g5 = next(line for line in lines if "grid/G5-" in line)
    assert "--kind dms-iqa" in g5 and "--w-rank 76 --w-target 256 --rank-min-gap 5" in g5
    g6 = next(line for line in lines if "grid/G6-" in line)
    assert "--w-rank 4 --w-target 256 --w-consistency 256" in g6
    g7 = next(line for line in lines if "grid/G7-" in line)
    assert "--w-rank 220 --w-target 256" in g7 and "--rank-against" not in g7


def test_seeds_phase_uses_the_chosen_objective(tmp_path):
    rc, lines, _ = jobs("seeds", "G4", FAIR_OUT=str(tmp_path), FAIR_EPOCHS="1", FAIR_VAL_IMAGES="8")
    assert rc == 0
    full = [line for line in lines if "--kind dncnn-full" in line or "--kind dms-iqa" in line]
    assert len(full) == 3 + 2 and all("--w-rank 76 --w-target 256 --rank-against clean" in line for line in full)
    assert all("--epochs 1 " in line and "--val-images 8" in line for line in lines if "train-denoiser" in line)
    for seed in (1, 2):
        assert sum(f"/seed{seed}/" in line for line in lines) == 2 + 4  # stage 1 twice, four kinds


@pytest.mark.parametrize("args", [["seeds", "G9"], ["train"]])
def test_unknown_phase_or_grid_point(args):
    rc, _, err = jobs(*args)
    assert rc == 2 and "unknown" in err


def test_main_phase_trains_the_main_arms_at_another_sigma(tmp_path):
    rc, lines, _ = jobs("main", "G3", FAIR_OUT=str(tmp_path), FAIR_SIGMA="0.25")
    assert rc == 0 and len(lines) == 3 * 2 + 3 * 2 and all("--sigma 0.25 " in line for line in lines)
    iqa = [line for line in lines if "--kind dms-iqa" in line]
    assert len(iqa) == 3 and all("--w-rank 4 --w-target 64" in line and "-sigma0.25.pt" in line for line in iqa)


def test_generic_resiqa_and_noisy_metric_phases(tmp_path):
    rc, generic, _ = jobs("generic", FAIR_OUT=str(tmp_path))
    assert rc == 0 and len(generic) == 6
    assert all("--split train-pristine --crops-per-image 87" in line and "/generic/" in line for line in generic)
    assert all(f"--init {tmp_path}/seed{s}/generic/stage1/dncnn-sigma0.12.pt" in generic[3 + s] for s in range(3))
    rc, resiqa, _ = jobs("resiqa", "G3", FAIR_OUT=str(tmp_path))
    assert rc == 0 and all("--metric resiqa" in line and "/resiqa/dms-iqa-sigma0.12.pt" in line for line in resiqa)
    rc, noisy, _ = jobs("noisy-metric", FAIR_OUT=str(tmp_path))
    assert rc == 0 and all("train-metric --noise-sigma 0.12" in line for line in noisy) and len(noisy) == 3


@pytest.mark.parametrize("args", [["main"], ["resiqa"], ["seeds"]])
def test_a_phase_that_needs_the_chosen_point_asks_for_it(args):
    rc, lines, err = jobs(*args)
    assert rc == 2 and not lines and "which grid point did the rule choose" in err
