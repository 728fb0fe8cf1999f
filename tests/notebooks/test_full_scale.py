"""`msbiqa reproduce --scale full` end to end on copies of the official KonIQ-10k, SPAQ and CLIVE layouts, with a
pyiqa metric whose (random) weights sit where pyiqa looks for them: the tables name the right dataset, metric
and denoiser, and a rerun into the same folder with another metric gives that metric's numbers."""

import pandas as pd
import pytest
from support import place_random_pyiqa_weights

from msbiqa.cli import main
from msbiqa.data.fixtures import write_layouts

# tiny settings: small n (alpha 0.2 lets n = 8 certify eps = 0.05 at sigma 0.12), few images, small denoisers
TINY = [
    "n=8", "alpha=0.2", "images=3", "device=cpu", "02.epochs=1", "02.images=6", "02.crop=32", "02.batch_size=6",
    "02.eval_images=1", "02.depth=3", "02.width=4", "02.sigmas=[0.12]", "03.defences=['none', 'ms', 'dms-iqa']",
    "05.images=1", "05.steps=2", "05.eot_samples=2", "05.defences=['dms-iqa']", "00.sigmas=[0.12]",
    "00.eps_values=[0.05]",
]  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("full")
    roots = write_layouts(folder / "data", count=20)
    place_random_pyiqa_weights(folder / "torch")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TORCH_HOME", str(folder / "torch"))  # the notebooks' kernels find the weights there
        data = [f"{name}={root}" for name, root in roots.items()]
        common = ["reproduce", "--scale", "full", "--out", str(folder / "results"), "--data", *data, "--set", *TINY]
        first = main([*common, "--metric", "pyiqa:cnniqa", "--only", "00", "02", "03", "05"])
        first_table = pd.read_csv(folder / "results" / "03_main_table" / "main_table.csv")
        second = main([*common, "--metric", "tinyiqa", "--only", "02", "03"])
    return folder / "results", (first, first_table), second


def test_full_scale_tables_name_dataset_metric_and_denoiser(run):
    out, (first, table), _ = run
    assert first == 0, (out / "README.md").read_text()
    cnniqa = table[table["metric"] == "pyiqa:cnniqa"]
    assert sorted(cnniqa["dataset"]) == sorted(f"{d} (test)" for d in ("koniq10k", "spaq", "clive") for _ in range(3))
    assert set(cnniqa["defence"]) == {"none", "ms", "dms-iqa"}
    rows = pd.concat(pd.read_csv(p) for p in (out / "03_main_table").glob("per_image_*.csv"))
    iqa = rows[(rows["defence"] == "dms-iqa") & (rows["metric"] == "pyiqa:cnniqa")]
    assert set(iqa["denoiser"]) == {"dms-iqa-sigma0.12.pt"}  # trained for cnniqa by 02: no "(trained for ...)"
    assert (out / "02_train_denoisers" / "pyiqa-cnniqa" / "dms-iqa-sigma0.12.pt").is_file()
    spaq = rows[rows["dataset"].str.startswith("SPAQ")]
    assert set(spaq["image_size"].astype(str)) == {"512"}  # SPAQ's resize policy is part of every row
    attacks = pd.read_csv(out / "05_attacks" / "attacks_per_image.csv")
    assert set(attacks["denoiser"]) == {"dms-iqa-sigma0.12.pt"} and set(attacks["metric"]) == {"pyiqa:cnniqa"}
    quick = pd.read_csv(out / "00_quickstart" / "certificate.csv")
    assert quick["score"].notna().all() and "DMS" in set(quick["defence"])  # scales.yaml: the MSE-only denoiser


def test_a_rerun_with_another_metric_gives_that_metrics_numbers(run):
    out, _, second = run
    assert second == 0, (out / "README.md").read_text()
    table = pd.read_csv(out / "03_main_table" / "main_table.csv")
    assert set(table["metric"]) == {"tinyiqa"}  # the table of this run, not the old rows relabelled
    rows = pd.concat(pd.read_csv(p) for p in (out / "03_main_table").glob("per_image_*.csv"))
    ms = rows[rows["defence"] == "ms"].pivot_table(index=["dataset", "image"], columns="metric", values="score")
    assert (ms["tinyiqa"] != ms["pyiqa:cnniqa"]).all()
    index = (out / "README.md").read_text()
    assert "| [05_attacks](05_attacks/05_attacks.ipynb) | ok |" in index  # the first run's notebooks stay listed
    assert (out / "02_train_denoisers" / "tinyiqa" / "dms-iqa-sigma0.12.pt").is_file()
