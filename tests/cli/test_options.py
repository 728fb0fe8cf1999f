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


@pytest.mark.parametrize("command", [["compare", *SPLIT], ["attack", *SPLIT], ["train-denoiser"], ["train-metric"]])
def test_every_dataset_command_reads_a_pyiqa_meta_info_file(command, tmp_path, monkeypatch, capsys):
    """--meta-info reaches the pyiqa reader (relative to the current folder): it reads the file and looks for the
    images it lists under --root."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "images").mkdir()
    (tmp_path / "meta.csv").write_text("img_name,mos,split\na.png,1.0,train\nb.png,2.0,val\nc.png,3.0,test\n")
    assert main([*command, "--dataset", "pyiqa", "--root", "images", "--meta-info", "meta.csv"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"msbiqa {command[0]}: error: meta: 1 of 1 images listed in the label file are missing")


@pytest.mark.parametrize(
    "options, message",
    [
        (["--dataset", "pyiqa", "--root", "r"], "--dataset pyiqa needs --meta-info FILE"),
        ([*DATASET, "--meta-info", "meta.csv"], "--meta-info is for --dataset pyiqa"),
    ],
)
def test_meta_info_goes_with_the_pyiqa_dataset_only(options, message, capsys):
    assert main(["compare", *options]) == 2
    assert f"msbiqa compare: error: {message}" in capsys.readouterr().err


@pytest.mark.parametrize("use_defaults", [True, False])
def test_nested_settings_keep_their_enclosing_defaults(use_defaults):
    """compare nests Certification, which nests Bounds; compare's own default n (500) holds whether or not the
    options carry their defaults, and a given option replaces only itself."""
    import argparse

    from msbiqa.cli.options import add_options, from_args
    from msbiqa.experiments.comparison import SKIPPED, Comparison

    parser = argparse.ArgumentParser()
    add_options(parser, Comparison, skip=SKIPPED, use_defaults=use_defaults)
    config = from_args(Comparison, parser.parse_args([]))
    assert config.run.bounds.n == 500 and config.run.sigmas == [0.06, 0.12, 0.25]
    config = from_args(Comparison, parser.parse_args(["--alpha", "0.01"]))
    assert (config.run.bounds.n, config.run.bounds.alpha) == (500, 0.01)
