"""The verdict follows the rules' section 8 from the decided flags and signs alone."""

import pandas as pd
import pytest

from msbiqa.report.verdict import BETTER, LARGER_DELTA, UNDECIDED, WORSE, outcome, split_verdict, verdict_lines


def row(srocc, srocc_decided, norm_delta=0.0, norm_delta_decided=False, comparison="dms-iqa - dms", split="test"):
    values = {"srocc": srocc, "norm_delta": norm_delta}
    out = {"split": split, "comparison": comparison, **values}
    for name, value in values.items():
        out |= {f"{name}_lo": value - 0.01, f"{name}_hi": value + 0.01}
    return out | {"srocc_decided": srocc_decided, "norm_delta_decided": norm_delta_decided}


@pytest.mark.parametrize(
    "args, expected",
    [
        ((0.05, True), BETTER),
        ((0.05, True, -0.1, True), BETTER),  # a decidedly smaller normalised delta is still comparable or better
        ((0.05, True, 0.1, True), LARGER_DELTA),
        ((-0.05, True, -0.1, True), WORSE),
        ((0.05, False), UNDECIDED),
        ((-0.05, False, 0.1, True), UNDECIDED),
    ],
)
def test_outcome_of_one_comparison(args, expected):
    assert outcome(row(*args)) == expected


def test_split_verdict():
    assert split_verdict([BETTER, BETTER]) == "supported"
    assert split_verdict([BETTER, WORSE]) == "contradicted"
    assert split_verdict([BETTER, LARGER_DELTA]) == split_verdict([UNDECIDED, BETTER]) == "not decided"
    assert split_verdict([]) == "not decided"


def test_lines_per_split_name_each_comparison_with_its_intervals():
    table = pd.DataFrame(
        [
            row(0.05, True, comparison="dms-iqa - ms"),
            row(-0.04, True, comparison="dms-iqa - dms"),
            row(0.05, True, comparison="dms-iqa - ms", split="test-ood"),
            row(0.03, True, 0.2, True, comparison="dms-iqa - dms", split="test-ood"),
        ]
    )
    test, ood = verdict_lines(table)
    assert test.startswith("- **in distribution (test): contradicted.** DMS-IQA − MS: better (SROCC +0.050 [+0.040")
    assert "DMS-IQA − DMS: worse (SROCC -0.040" in test
    assert ood.startswith("- **out of distribution (test-ood): not decided.**") and LARGER_DELTA in ood
