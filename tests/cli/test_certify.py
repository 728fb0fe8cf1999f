"""`msbiqa certify` end to end on the bundled photo, through the installed console script too."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from msbiqa.cli import main
from msbiqa.data.images import sample_photo_path


def test_certify_json_on_bundled_photo(capsys):
    rc = main(
        [
            "certify",
            str(sample_photo_path()),
            "--metric",
            "pyiqa:piqe",
            "--n",
            "64",
            "--eps",
            "0.02",
            "--alpha",
            "0.01",
            "--seed",
            "3",
            "--json",
        ]
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["lower"] <= out["median"] <= out["upper"]
    assert out["n"] == 64 and out["seed"] == 3 and out["metric"] == "pyiqa:piqe"
    assert out["delta"] == max(out["upper"] - out["median"], out["median"] - out["lower"])


def test_console_script_human_readable():
    script = Path(sys.executable).parent / "msbiqa"
    res = subprocess.run(
        [str(script), "certify", str(sample_photo_path()), "--n", "40", "--eps", "0.02", "--alpha", "0.05"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert "certified interval" in res.stdout and "certified delta" in res.stdout


def test_errors_are_one_line_with_the_fix(tmp_path, capsys):
    assert main(["certify", str(tmp_path / "missing.png")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["certify", str(sample_photo_path()), "--n", "5", "--eps", "0.1"]) == 2
    assert "raise n to at least" in capsys.readouterr().err


def test_the_cost_is_estimated_before_sampling_and_max_side_downscales(tmp_path, capsys):
    big = torch.rand(3, 60, 300, generator=torch.Generator().manual_seed(0))
    Image.fromarray((big.permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(tmp_path / "wide.png")
    assert main(["certify", str(tmp_path / "wide.png"), "--n", "40", "--alpha", "0.05", "--eps", "0.02"]) == 0
    err = capsys.readouterr().err
    assert "60x300 image on cpu: one noisy sample takes" in err and "n=40 takes about" in err and "MiB" in err
    assert (
        main(
            [
                "certify",
                str(tmp_path / "wide.png"),
                "--n",
                "40",
                "--alpha",
                "0.05",
                "--eps",
                "0.02",
                "--max-side",
                "100",
            ]
        )
        == 0
    )
    assert "20x100 image on cpu" in capsys.readouterr().err


def test_bad_devices_and_tiny_images_are_one_line_errors(tmp_path, capsys):
    photo = str(sample_photo_path())
    if not torch.cuda.is_available():
        assert main(["certify", photo, "--device", "cuda", "--n", "40", "--alpha", "0.05", "--eps", "0.02"]) == 2
        err = capsys.readouterr().err
        assert "not available on this machine" in err and len(err.strip().splitlines()) == 1
    Image.fromarray(np.zeros((1, 4000, 3), np.uint8)).save(tmp_path / "line.png")
    assert main(["certify", str(tmp_path / "line.png"), "--n", "40", "--alpha", "0.05", "--eps", "0.02"]) == 2
    err = capsys.readouterr().err
    assert "needs images of at least 16x16 pixels; this one is 1x4000" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("max_side", ["-1", "0", "15"])
def test_max_side_below_the_smallest_scorable_side_is_one_line_naming_the_option(max_side, capsys):
    argv = ["certify", str(sample_photo_path()), "--n", "40", "--alpha", "0.05", "--max-side", max_side]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"msbiqa certify: error: --max-side {max_side}: the longer side to downscale to must be at least 16 pixels "
        "(e.g. --max-side 1024); leave it out to certify the image as it is"
    )
