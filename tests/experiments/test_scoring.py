"""Resumable dataset scoring: rows written as they go, resumed after a crash without rescoring, a torn row
dropped, a different layout or other constants refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from msbiqa.experiments.scoring import score_dataset


class CountingDataset:
    """Tiny in-memory dataset recording which images were loaded."""

    def __init__(self, n=6):
        self.names = [f"im{i}" for i in range(n)]
        self.mos = np.linspace(10, 60, n)
        self.loaded = []

    def __len__(self):
        return len(self.names)

    def __getitem__(self, i):
        self.loaded.append(i)
        return torch.full((3, 8, 8), i / 10), float(self.mos[i]), self.names[i]


def _certificate(image):
    m = float(image.mean())
    return {"median": m, "lower": m - 0.1, "upper": m + 0.2, "delta": 0.2, "n": 100, "seed": None}


def test_score_dataset_writes_rows_and_returns_them(tmp_path):
    ds = CountingDataset()
    table = score_dataset(lambda im: float(im.mean()), ds, tmp_path / "s.csv", progress=False)
    assert list(table.columns) == ["name", "mos", "score"]
    assert table["name"].tolist() == ds.names and np.allclose(table["mos"], ds.mos)
    assert np.allclose(table["score"], np.arange(6) / 10)
    table = score_dataset(_certificate, ds, tmp_path / "c.csv", progress=False, extra_columns={"sigma": 0.12})
    assert list(table.columns) == ["name", "mos", "sigma", "median", "lower", "upper", "delta", "n", "seed"]
    assert (table["sigma"] == 0.12).all() and table["seed"].isna().all()


def test_score_dataset_resumes_after_a_crash_without_rescoring(tmp_path):
    out = tmp_path / "scores.csv"
    ds = CountingDataset()
    calls = []

    def crash_after_three(image):
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        calls.append(float(image.mean()))
        return _certificate(image)

    with pytest.raises(KeyboardInterrupt):
        score_dataset(crash_after_three, ds, out, progress=False)
    assert len(pd.read_csv(out)) == 3
    first = pd.read_csv(out)

    ds.loaded.clear()
    rescored = []
    table = score_dataset(lambda im: rescored.append(1) or _certificate(im), ds, out, progress=False)
    assert len(rescored) == 3 and ds.loaded == [3, 4, 5]
    assert table["name"].tolist() == ds.names
    pd.testing.assert_frame_equal(table.iloc[:3], first)

    ds.loaded.clear()
    score_dataset(lambda im: pytest.fail("nothing left to score"), ds, out, progress=False)
    assert ds.loaded == []


def test_resume_drops_a_half_written_row(tmp_path):
    out = tmp_path / "s.csv"
    ds = CountingDataset()
    score_dataset(lambda im: float(im.mean()), CountingDataset(2), out, progress=False)
    with open(out, "a") as f:
        f.write("im2,20.0,0.")  # killed mid-row: the lock file stays behind
    (tmp_path / "s.csv.lock").write_text("pid 1 on elsewhere\n")
    table = score_dataset(lambda im: float(im.mean()), ds, out, progress=False)
    assert table["name"].tolist() == ds.names and table["score"].iloc[2] == pytest.approx(0.2)


def test_a_users_csv_in_the_output_keeps_its_last_line(tmp_path):
    out = tmp_path / "per_image.csv"
    out.write_bytes(b"name,mos\nim0,10.0\nim1,20.0")  # the user's, with the columns scoring needs
    with pytest.raises(ValueError, match=r"per_image\.csv ends in a line without a newline"):
        score_dataset(lambda im: float(im.mean()), CountingDataset(), out, progress=False)
    assert out.read_bytes() == b"name,mos\nim0,10.0\nim1,20.0"


def test_resume_refuses_a_different_layout(tmp_path):
    out = tmp_path / "s.csv"
    score_dataset(lambda im: float(im.mean()), CountingDataset(2), out, progress=False)
    with pytest.raises(ValueError, match="columns"):
        score_dataset(_certificate, CountingDataset(), out, progress=False)
    with pytest.raises(ValueError, match="columns"):
        score_dataset(lambda im: 0.0, CountingDataset(), out, progress=False, extra_columns={"sigma": 0.1})

    out2 = tmp_path / "t.csv"
    score_dataset(lambda im: 0.0, CountingDataset(2), out2, progress=False, extra_columns={"sigma": 0.12})
    ds = CountingDataset()
    with pytest.raises(ValueError, match="sigma"):
        score_dataset(lambda im: 0.0, ds, out2, progress=False, extra_columns={"sigma": 0.25})
    assert ds.loaded == []  # checked before any image is loaded

    other = CountingDataset()
    other.names = [f"other{i}" for i in range(6)]
    with pytest.raises(ValueError, match="not in this dataset"):
        score_dataset(lambda im: 0.0, other, out2, progress=False, extra_columns={"sigma": 0.12})


def test_score_fn_must_return_scalars(tmp_path):
    with pytest.raises(TypeError, match="scalars"):
        score_dataset(lambda im: {"s": np.zeros(3)}, CountingDataset(), tmp_path / "a.csv", progress=False)
    with pytest.raises(ValueError, match="reserved"):
        score_dataset(lambda im: {"mos": 1.0}, CountingDataset(), tmp_path / "b.csv", progress=False)
