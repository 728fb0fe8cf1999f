"""`msbiqa compare` end to end on the embedded set: the summary carries intervals and says how to read them."""

import pandas as pd

from msbiqa.cli import main


def test_compare_writes_a_summary_with_intervals(tmp_path, capsys):
    argv = ["compare", "--sigmas", "0.12", "--n", "24", "--alpha", "0.01", "--images", "6", "--defences", "none", "ms"]
    assert main([*argv, "--resamples", "50", "--out", str(tmp_path)]) == 0
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert list(summary["defence"]) == ["none", "ms"] and (summary["images"] == 6).all()
    assert summary["srocc_lo"].notna().all() and summary["srocc_photo_lo"].notna().all()  # embedded: photos too
    text = (tmp_path / "summary.md").read_text()
    assert (
        "| none |" in text
        and "| MS |" in text
        and "[ ] over images" in text
        and "higher = agrees with MOS" in text
        and "metric tinyiqa" in text
    )
    assert len(pd.read_csv(tmp_path / "per_image.csv")) == 12
    assert "50 bootstrap resamples" in capsys.readouterr().out
