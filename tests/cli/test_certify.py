"""`msbiqa certify` end to end on the bundled photo, through the installed console script too."""

import json
import subprocess
import sys
from pathlib import Path

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
