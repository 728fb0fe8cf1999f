"""The decisive comparison: tables from per-image rows (main table, paired differences, ablation and its factor
effects, cost), and one tiny end-to-end run through the local engine on a KonIQ-layout folder."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from msbiqa.cli import main
from msbiqa.data.source import DataSource
from msbiqa.devices import Compute
from msbiqa.experiments.certification import Certification, image_count
from msbiqa.experiments.claim import ABLATION_ROWS, FACTORS, Claim, claim_tables, run_claim
from msbiqa.smoothing.certify import Bounds
from msbiqa.statistics.evidence import with_context
from msbiqa.statistics.uncertainty import Bootstrap

DEFENCES = ("none", "ms", "dms", "dms-iqa", "binned-rs", "dncnn-full", "unet-mse")


def synthetic_rows(n=30):
    """Rows of every defence on two splits; the U-Net cells are less noisy than the DnCNN ones."""
    rng = np.random.default_rng(0)
    noise = {"none": 1, "ms": 20, "dms": 15, "dncnn-full": 15, "unet-mse": 5, "dms-iqa": 5, "binned-rs": 25}
    out = []
    for split in ("test", "test-ood"):
        mos = rng.uniform(0, 100, n)
        for d in DEFENCES:
            score = mos + rng.normal(0, noise[d], n)
            out += [
                {
                    "split": split,
                    "sigma": 0.12,
                    "defence": d,
                    "image": f"{split}{i}",
                    "mos": mos[i],
                    "score": score[i],
                    "delta": np.nan if d == "none" else 2.0,
                    "certified": d != "none",
                    "seconds": 0.5,
                    "photo": f"p{i % 3}",
                }
                for i in range(n)
            ]
    frame = pd.DataFrame(out)
    return pd.concat([with_context(g, by=("split",)) for _, g in frame.groupby("split")], ignore_index=True)


def test_tables_cover_main_differences_ablation_and_cost():
    tables = claim_tables(
        synthetic_rows(), None, Bootstrap(resamples=100), bare_ms={"test": 2.0, "test-ood": 2.0}, n=50
    )
    assert set(tables) == {"main_table", "differences", "ablation", "ablation_effects", "cost"}
    main = tables["main_table"]
    assert list(main["defence"].unique()) == ["none", "ms", "dms", "dms-iqa", "binned-rs"]
    assert set(main["split"]) == {"test", "test-ood"} and (main["photos"] == 3).all()
    diff = tables["differences"]
    assert list(diff["comparison"].unique()) == ["dms-iqa - ms", "dms-iqa - dms"]
    assert diff.set_index(["split", "comparison"]).loc[("test", "dms-iqa - ms"), "srocc"] > 0
    ablation = tables["ablation"]
    assert set(ablation["defence"]) == set(ABLATION_ROWS)
    assert set(zip(ablation["architecture"], ablation["loss"])) >= {("DnCNN", "MSE"), ("U-Net", "MSE + rank + target")}
    effects = tables["ablation_effects"].set_index(["split", "factor", "held_fixed"])
    assert len(effects) == 2 * len(FACTORS)
    assert effects.loc[("test", "architecture", "MSE"), "srocc"] > 0  # U-Net less noisy than DnCNN here
    cost = tables["cost"].set_index(["split", "defence"])
    assert cost.loc[("test", "ms"), "ms_per_sample"] == pytest.approx(10.0)  # 0.5 s / 50 samples
    assert cost.loc[("test", "binned-rs"), "ratio_to_bare"] == pytest.approx(500 / 66 / 2.0)


def test_without_the_ablation_cells_only_main_tables():
    rows = synthetic_rows()
    rows = rows[rows["defence"].isin(["none", "ms", "dms-iqa"])]
    tables = claim_tables(rows, None, Bootstrap(resamples=50), bare_ms={"test": 1.0, "test-ood": 1.0}, n=50)
    assert "ablation" not in tables and list(tables["differences"]["comparison"].unique()) == ["dms-iqa - ms"]


def test_image_count_option():
    assert image_count("all") is None and image_count("60") == 60
    with pytest.raises(ValueError, match="positive whole number or 'all'"):
        image_count("0")


def koniq_folder(tmp_path):
    """A KonIQ-layout folder of ten 32 px images, five training and five test, MOS falling with the noise."""
    root = tmp_path / "koniq"
    names = [f"{1000 + i}.png" for i in range(10)]
    (root / "512x384").mkdir(parents=True)
    rng = np.random.default_rng(0)
    base = rng.uniform(0.2, 0.8, size=(32, 32, 3))
    for i, name in enumerate(names):  # one texture, blurred and noised more and more
        pixels = np.clip(base + rng.normal(0, 0.03 * i, base.shape), 0, 1)
        Image.fromarray((pixels * 255).astype(np.uint8)).save(root / "512x384" / name)
    sets = ["training"] * 5 + ["test"] * 5
    pd.DataFrame({"image_name": names, "MOS": np.linspace(90, 10, 10), "SD": 0.5, "set": sets}).to_csv(
        root / "koniq10k_distributions_sets.csv", index=False
    )
    return root


def tiny_claim(root, defences, splits=("train", "test"), **kw) -> Claim:
    return Claim(
        source=DataSource("koniq10k", str(root)),
        splits=list(splits),
        run=Certification(images=None, bounds=Bounds(n=20, eps=0.01, alpha=0.05), defences=list(defences)),
        bootstrap=Bootstrap(resamples=50),
        **kw,
    )


def test_end_to_end(tmp_path):
    config = tiny_claim(koniq_folder(tmp_path), DEFENCES)
    tables = run_claim(config, tmp_path / "out")
    record = json.loads((tmp_path / "out" / "run.json").read_text())
    assert record["engine"] == "local" and set(record["bare_forward_ms"]) == {"train", "test"}
    assert (tables["main_table"]["images"] == 5).all() and (tables["main_table"]["photos"] == 0).all()
    assert tables["main_table"]["srocc_photo_lo"].isna().all()  # KonIQ has no reference photos
    assert set(tables["denoising"]["defence"]) == {"dms", "dms-iqa", "dncnn-full", "unet-mse"}
    assert (tables["main_table"]["replicate"] == "shipped").all() and "main_table_combined" not in tables
    verdict = (tmp_path / "out" / "verdict.md").read_text()
    assert "of one training replicate" in verdict and verdict.count("\n- **") == 2  # one line per split
    for name in ("main_table", "differences", "ablation", "ablation_effects", "cost", "denoising"):
        text = (tmp_path / "out" / f"{name}.md").read_text()
        assert "sigma=0.12" in text and "|" in text
        if name not in ("cost", "denoising"):
            assert "| mean delta | normalised delta |" in text
            assert "normalised delta = mean delta / across-image SD" in text
        assert len(pd.read_csv(tmp_path / "out" / f"{name}.csv")) == len(tables[name])
    again = shutil.copytree(tmp_path / "out", tmp_path / "again")
    for name in ("main_table", "verdict"):
        (again / f"{name}.md").unlink()
    assert main(["claim-tables", str(again)]) == 0  # the same tables from the record's rows and settings alone
    for name in [*tables, "verdict"]:
        assert (again / f"{name}.md").read_text() == (tmp_path / "out" / f"{name}.md").read_text(), name


def test_claim_tables_names_what_is_not_a_record(tmp_path, capsys):
    assert main(["claim-tables", str(tmp_path)]) == 2
    assert "not a claim record" in capsys.readouterr().err


def test_an_unavailable_device_fails_before_any_work(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="not available on this machine"):
        run_claim(Claim(compute=Compute(device="cuda")), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_claim_compares_at_one_sigma_and_knows_its_defences():
    with pytest.raises(ValueError, match="one sigma"):
        Claim(run=Certification(sigmas=[0.06, 0.12]))
    with pytest.raises(ValueError, match="unknown defence"):
        Claim(run=Certification(defences=["none", "ms", "dms", "mss"]))
    with pytest.raises(ValueError, match="distinct denoiser sets"):
        Claim(replicates=["shipped", "shipped"])


def test_a_claim_without_a_comparison_is_refused_before_any_work(tmp_path, capsys):
    assert main(["claim", "--defences", "none", "ms", "dms", "--out", str(tmp_path / "out")]) == 2
    assert "add dms-iqa and ms or dms" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_a_replicate_without_a_denoiser_file_is_refused_before_any_work(tmp_path):
    from msbiqa.models.denoisers import shipped_path

    seed1 = tmp_path / "seed1"
    seed1.mkdir()
    (seed1 / "dms-sigma0.12.pt").write_bytes(shipped_path("dms", 0.12).read_bytes())  # no dms-iqa file
    config = tiny_claim(koniq_folder(tmp_path), ("none", "ms", "dms", "dms-iqa"), replicates=["shipped", str(seed1)])
    with pytest.raises(FileNotFoundError, match=r"lack 1 weights file\(s\): .*seed1/dms-iqa-sigma0\.12\.pt; train"):
        run_claim(config, tmp_path / "out")
    assert not (tmp_path / "out" / "per_image_train.csv").exists()  # nothing was certified


def test_the_generic_dms_is_certified_from_a_folders_generic_subfolder_and_compared(tmp_path):
    from msbiqa.models.denoisers import shipped_path

    folder = tmp_path / "seed0"
    (folder / "generic").mkdir(parents=True)
    for kind in ("dms", "dms-iqa"):
        (folder / f"{kind}-sigma0.12.pt").write_bytes(shipped_path(kind, 0.12).read_bytes())
    generic = folder / "generic" / "dms-sigma0.12.pt"  # another DnCNN: the shipped DMS weights, halved
    weights = torch.load(shipped_path("dms", 0.12), weights_only=True)
    weights["state_dict"] = {k: v / 2 if v.is_floating_point() else v for k, v in weights["state_dict"].items()}
    torch.save(weights, generic)
    defences = ("none", "ms", "dms", "dms-iqa", "dms-generic")
    tables = run_claim(tiny_claim(koniq_folder(tmp_path), defences, ["test"], replicates=[str(folder)]), tmp_path / "o")
    assert list(tables["main_table"]["defence"]) == ["none", "ms", "dms", "dms-iqa", "dms-generic"]
    comparisons = set(tables["differences"]["comparison"])
    assert {"dms-iqa - dms-generic", "dms - dms-generic"} <= comparisons
    assert "| generic DMS |" in (tmp_path / "o" / "main_table.md").read_text()
    rows = pd.read_csv(tmp_path / "o" / "per_image_test.csv")
    assert (
        rows.groupby("defence")["denoiser_digest"].first()["dms-generic"]
        != rows.groupby("defence")["denoiser_digest"].first()["dms"]
    )
    with pytest.raises(
        FileNotFoundError, match=r"dms-generic has no shipped weights: train it \(scripts/train_fair_test.sh generic\)"
    ):
        run_claim(tiny_claim(koniq_folder(tmp_path / "k"), defences, ["test"]), tmp_path / "shipped")


def test_ms_over_a_noise_trained_metric_is_keyed_by_that_metric_and_compared(tmp_path):
    from msbiqa.models.denoisers import shipped_path
    from msbiqa.models.metrics.tinyiqa import SPEC

    folder = tmp_path / "seed0"
    folder.mkdir()
    (folder / "dms-iqa-sigma0.12.pt").write_bytes(shipped_path("dms-iqa", 0.12).read_bytes())
    weights = torch.load(SPEC.shipped_path(), weights_only=True)  # another TinyIQA: the shipped one, perturbed
    weights["state_dict"] = {k: v * 0.9 if v.is_floating_point() else v for k, v in weights["state_dict"].items()}
    torch.save(weights, folder / "tinyiqa-noise0.12.pt")
    defences = ("ms", "dms-iqa", "ms-noisy")
    tables = run_claim(tiny_claim(koniq_folder(tmp_path), defences, ["test"], replicates=[str(folder)]), tmp_path / "o")
    assert list(tables["main_table"]["defence"]) == ["ms", "dms-iqa", "ms-noisy"]
    assert {"dms-iqa - ms-noisy", "ms-noisy - ms"} <= set(tables["differences"]["comparison"])
    rows = pd.read_csv(tmp_path / "o" / "per_image_test.csv").set_index("defence")
    assert rows.loc["ms-noisy", "denoiser"].iloc[0] == "none (noise-trained metric)"
    assert rows.loc["ms-noisy", "denoiser_digest"].iloc[0] != rows.loc["ms", "denoiser_digest"].iloc[0]
    assert (rows.loc["ms-noisy", "score"].to_numpy() != rows.loc["ms", "score"].to_numpy()).all()
    (folder / "tinyiqa-noise0.12.pt").unlink()
    with pytest.raises(FileNotFoundError, match=r"lack 1 weights file\(s\): .*seed0/tinyiqa-noise0\.12\.pt"):
        run_claim(tiny_claim(koniq_folder(tmp_path / "k"), defences, ["test"], replicates=[str(folder)]), tmp_path)
    with pytest.raises(
        FileNotFoundError,
        match=r"ms-noisy has no shipped weights: train it \(scripts/train_fair_test.sh noisy-metric\)",
    ):
        run_claim(tiny_claim(koniq_folder(tmp_path / "k2"), defences, ["test"]), tmp_path / "shipped")


def test_a_record_s_rows_are_reused_and_only_new_rows_certified(tmp_path):
    root = koniq_folder(tmp_path)
    run_claim(tiny_claim(root, ("ms", "dms-iqa"), ["test"]), tmp_path / "first")
    first = pd.read_csv(tmp_path / "first" / "rows.csv")
    run_claim(tiny_claim(root, ("ms", "dms", "dms-iqa"), ["test"], reuse=str(tmp_path / "first")), tmp_path / "again")
    again = pd.read_csv(tmp_path / "again" / "rows.csv")
    shared = again[again["defence"] != "dms"].reset_index(drop=True)
    pd.testing.assert_frame_equal(shared, first)  # the seconds too: the rows were read, not recomputed
    assert (again["defence"] == "dms").sum() == 5
    with pytest.raises(FileNotFoundError, match=r"is not a claim record \(no rows.csv\)"):
        run_claim(tiny_claim(root, ("ms", "dms-iqa"), ["test"], reuse=str(tmp_path)), tmp_path / "third")


def test_replicates_replace_the_denoisers_option():
    import argparse

    from msbiqa.cli.options import add_options, from_args
    from msbiqa.experiments.claim import SKIPPED

    parser = argparse.ArgumentParser()
    add_options(parser, Claim, skip=SKIPPED)
    assert from_args(Claim, parser.parse_args([])).replicates == ["shipped"]
    assert from_args(Claim, parser.parse_args(["--replicates", "a", "b"])).replicates == ["a", "b"]
    with pytest.raises(SystemExit):
        parser.parse_args(["--denoisers", "a"])


def test_training_replicates_end_to_end_resumable_and_from_stored_rows(tmp_path):
    from support import tiny_train_config

    from msbiqa.models.denoiser_training import train_denoiser
    from msbiqa.models.denoisers import weights_filename
    from msbiqa.models.metrics import MetricChoice

    seed1 = tmp_path / "seed1"  # a second training replicate: tiny denoisers trained with seed 1
    photos = [(torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(i)), 10.0 * i, f"p{i}") for i in range(6)]
    for kind in ("dms", "dms-iqa"):
        cfg = tiny_train_config(kind, epochs=1, sigma=0.12, seed=1)
        metric = MetricChoice().load(device="cpu")
        train_denoiser(cfg, out=seed1 / weights_filename(kind, 0.12), metric=metric, dataset=photos, progress=False)
    root, out, defences = koniq_folder(tmp_path), tmp_path / "out", ("none", "ms", "dms", "dms-iqa")
    first = run_claim(tiny_claim(root, defences, ["test"]), out)
    ms_seconds = first["main_table"].set_index(["split", "defence"]).loc[("test", "ms"), "s_per_image"]
    config = tiny_claim(root, defences, ["test"], replicates=["shipped", str(seed1)])
    tables = run_claim(config, out)  # continues the first run: the shipped and shared rows are not recomputed

    stored = pd.read_csv(out / "per_image_test.csv")
    assert stored.groupby("defence").size().to_dict() == {"none": 5, "ms": 5, "dms": 10, "dms-iqa": 10}
    assert (tables["main_table"]["images"] == 5).all()  # each replicate's own rows, not every row of the file
    main = tables["main_table"].set_index(["split", "defence", "replicate"]).sort_index()
    assert main.loc[("test", "ms", str(seed1)), "s_per_image"] == ms_seconds  # computed once, by the first run
    assert main.loc[("test", "dms", "shipped"), "srocc"] != main.loc[("test", "dms", str(seed1)), "srocc"]
    combined = tables["main_table_combined"].set_index(["split", "defence"])
    assert (combined["replicates"] == 2).all() and (combined["images"] == 5).all()
    for defence in ("ms", "dms-iqa"):
        assert combined.loc[("test", defence), "srocc"] == pytest.approx(main.loc[("test", defence), "srocc"].mean())
    diff = tables["differences_combined"]
    assert set(diff["comparison"]) == {"dms-iqa - ms", "dms-iqa - dms"} and (diff["replicates"] == 2).all()
    assert {"srocc_decided", "norm_delta_decided"} <= set(diff.columns)
    assert set(tables["denoising"]["replicate"]) == {"shipped", str(seed1)}
    trained = tables["denoising"].set_index(["replicate", "defence"]).loc[str(seed1)]
    assert (trained["chosen_epoch"] == 1).all() and (trained["epochs"] == 1).all()  # from the weights' config
    assert "combined over the training replicates" in (out / "verdict.md").read_text()
    text = (out / "differences_combined.md").read_text()
    assert "two-level" in text and "decided (normalised delta)" in text and "| replicates |" in text
    again = claim_tables(pd.read_csv(out / "rows.csv"), None, Bootstrap(resamples=50), bare_ms=_bare(out), n=20)
    for name in ("main_table", "differences", "main_table_combined", "differences_combined"):
        pd.testing.assert_frame_equal(again[name], tables[name])


def _bare(out) -> dict[str, float]:
    return json.loads((out / "run.json").read_text())["bare_forward_ms"]
