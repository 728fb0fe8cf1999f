"""Options shared by the commands: every command that reads a dataset takes the same dataset options and reads
the user's folder through them (relative paths too), failing before any work when it is wrong."""

import pytest

from msbiqa.cli import main

DATASET = ["--dataset", "koniq10k", "--root", "koniq"]
SPLIT = ["--split", "test"]  # the training commands use the train split (train-metric also val and test)


@pytest.mark.parametrize(
    "argv",
    [
        ["compare", *DATASET, *SPLIT],
        ["attack", *DATASET, *SPLIT],
        ["train-denoiser", *DATASET],
        ["train-metric", *DATASET],
    ],
)
def test_every_dataset_command_takes_the_dataset_options(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"msbiqa {argv[0]}: error: KonIQ-10k: root folder {tmp_path / 'koniq'} does not exist"
