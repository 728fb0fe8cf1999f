"""`msbiqa validate-denoisers`: one CSV row per weights file with the proxy's numbers, resumed on a rerun."""

import pandas as pd
import pytest
from support import tiny_train_config

from msbiqa.models.denoiser_training import train_denoiser

pytestmark = pytest.mark.usefixtures("one_thread")


def test_cli_writes_a_row_per_file_and_resumes(tmp_path, photos, capsys):
    from msbiqa.cli import main

    weights = tmp_path / "dms.pt"
    train_denoiser(tiny_train_config("dms", epochs=1, sigma=0.12), out=weights, dataset=photos, progress=False)
    out = tmp_path / "proxy.csv"
    args = ["validate-denoisers", str(weights), "none", "--images", "6", "--draws", "3", "--resamples", "50"]
    args += ["--device", "cpu", "--out", str(out)]
    assert main(args) == 0
    assert "2 denoisers validated, 0 already" in capsys.readouterr().out
    table = pd.read_csv(out)
    assert list(table["denoiser"]) == [str(weights), "none"] and (table["sigma"] == 0.12).all()
    assert (table["images"] == 6).all() and (table["draws"] == 3).all() and (table["metric"] == "tinyiqa").all()
    assert (table["srocc_lo"] <= table["srocc"]).all() and (table["srocc"] <= table["srocc_hi"]).all()
    assert table["srocc_photo_lo"].notna().all() and (table["spread"] > 0).all()
    assert table.loc[0, "kind"] == "dms" and table.loc[0, "epoch"] == 1
    assert main(args) == 0
    assert "0 denoisers validated, 2 already" in capsys.readouterr().out
    assert len(pd.read_csv(out)) == 2
