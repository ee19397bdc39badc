"""Paired model variants: variant - base per unit at each model's best layer, tested.

Synthetic result tables (their numbers set so that each model's best layer is known)
checked against scipy (``permutation_test`` with ``permutation_type="samples"``,
``false_discovery_control``) and a brute-force exact sign-flip test; pairs in sweep
configs; ``compare --pairs`` and the report's pairs section on a small results folder.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from brainalign.alignment.stats import bootstrap_difference
from brainalign.cli import main
from brainalign.report import comparison, scaling
from brainalign.report.html import build_report
from brainalign.results import (
    PAIR_COLUMNS,
    Pair,
    leaderboard,
    make_results,
    paired_differences,
    write_pairs,
    write_results_parquet,
)
from brainalign.sweeps import SweepConfigError, compare, load_config
from tests.report.pictures import legend_labels

BENCHMARKS = ("alpha@1", "beta@1", "gamma@1")


def paired_table(n_units: int = 8, subjects: int = 1, seed: int = 0) -> pd.DataFrame:
    """Models base (best layer 1), variant (best layer 2) and other on three benchmarks.

    The variant beats the base by 0.05 on alpha, 0.0 on beta and 0.2 on gamma (plus
    noise); each subject has ``n_units`` units.
    """
    rng = np.random.default_rng(seed)
    shift = {"alpha@1": 0.05, "beta@1": 0.0, "gamma@1": 0.2}
    records = []
    for benchmark in BENCHMARKS:
        common = rng.normal(0.3, 0.1, size=(subjects, n_units))
        for model, best in (("base", 1), ("variant", 2), ("other", 0)):
            for layer in range(3):
                offset = 0.0 if layer == best else -0.3
                extra = shift[benchmark] if model == "variant" else 0.0
                noise = rng.normal(0, 0.02, size=common.shape)
                for s, u in itertools.product(range(subjects), range(n_units)):
                    records.append(
                        {"model": model, "weights": "pretrained", "control": "",
                         "control_of": "", "layer": layer, "subject": f"s{s}",
                         "unit": f"u{u}", "benchmark": benchmark,
                         "score": common[s, u] + offset + extra + noise[s, u]}
                    )  # fmt: skip
    table = pd.DataFrame.from_records(records)
    return make_results(table.assign(dataset="d", metric="pearson_r", ceiling=np.nan))


def _at(table: pd.DataFrame, model: str, benchmark: str, layer: int) -> np.ndarray:
    rows = table[(table["model"] == model) & (table["benchmark"] == benchmark)
                 & (table["layer"] == layer)]  # fmt: skip
    return rows.sort_values(["subject", "unit"])["score"].to_numpy()


def _exact_sign_flip(d: np.ndarray) -> tuple[float, float, float]:
    """Brute force: the mean under all 2**n sign patterns; p greater, less, two-sided as
    scipy defines them (two-sided: twice the smaller one-sided p)."""
    signs = np.array(list(itertools.product([1.0, -1.0], repeat=d.size)))
    null = (signs * d).mean(axis=1)
    observed = d.mean()
    tolerance = 1e-14 * abs(observed)
    greater = np.mean(null >= observed - tolerance)
    less = np.mean(null <= observed + tolerance)
    return greater, less, min(1.0, 2 * min(greater, less))


def test_paired_differences_use_each_models_best_layer_and_equal_scipy():
    table = paired_table()
    result = paired_differences(table, [Pair("base", "variant", "tuning")], seed=3)
    assert list(result.columns) == list(PAIR_COLUMNS) and len(result) == 3
    board = leaderboard(table).set_index(["benchmark", "model"])
    for row in result.itertuples():
        assert (row.base_layer, row.variant_layer) == (1, 2)
        assert row.base_layer == board.loc[(row.benchmark, "base"), "best_layer"]
        assert row.base_score == board.loc[(row.benchmark, "base"), "median_score"]
        d = _at(table, "variant", row.benchmark, 2) - _at(table, "base", row.benchmark, 1)
        assert row.over == "units" and row.n == 8
        assert row.mean_difference == pytest.approx(d.mean(), abs=1e-12)
        exact = scipy.stats.permutation_test(
            (d,), np.mean, permutation_type="samples", vectorized=True, n_resamples=9999
        )  # 2**8 = 256 patterns: exact, no randomness
        assert row.p_value == pytest.approx(exact.pvalue, abs=1e-12)
        assert row.p_value == pytest.approx(_exact_sign_flip(d)[2], abs=1e-12)
        boot = bootstrap_difference(_at(table, "variant", row.benchmark, 2),
                                    _at(table, "base", row.benchmark, 1), n_resamples=9999,
                                    seed=3)  # fmt: skip
        assert (row.low, row.high) == pytest.approx((float(boot.low), float(boot.high)))
    adjusted = scipy.stats.false_discovery_control(result["p_value"].to_numpy(), method="bh")
    np.testing.assert_allclose(result["p_fdr"], adjusted, atol=1e-12)
    assert result["significant"].tolist() == (adjusted <= 0.05).tolist()
    assert result.set_index("benchmark").loc["gamma@1", "significant"]
    assert not result.set_index("benchmark").loc["beta@1", "significant"]


def test_one_sided_and_bootstrap_tests():
    table = paired_table(n_units=6, seed=1)
    greater = paired_differences(table, [("base", "variant")], alternative="greater")
    less = paired_differences(table, [("base", "variant")], alternative="less")
    for benchmark, g, s in zip(BENCHMARKS, greater["p_value"], less["p_value"], strict=True):
        d = _at(table, "variant", benchmark, 2) - _at(table, "base", benchmark, 1)
        exact = _exact_sign_flip(d)
        assert (g, s) == pytest.approx(exact[:2], abs=1e-12)
    assert greater.loc[0, "pair"] == "variant vs base"
    boot = paired_differences(table, [("base", "variant")], test="bootstrap", n_resamples=500,
                              seed=2)  # fmt: skip
    for row in boot.itertuples():
        reference = bootstrap_difference(
            _at(table, "variant", row.benchmark, 2), _at(table, "base", row.benchmark, 1),
            n_resamples=500, seed=2,
        )  # fmt: skip
        assert row.test == "bootstrap" and row.p_value == pytest.approx(float(reference.p_value))


def test_several_subjects_are_averaged_and_tested_over_subjects():
    table = paired_table(n_units=3, subjects=5, seed=2)
    result = paired_differences(table, [("base", "variant")])
    row = result.iloc[0]
    assert row.over == "subjects" and row.n == 5
    d = _at(table, "variant", BENCHMARKS[0], 2) - _at(table, "base", BENCHMARKS[0], 1)
    per_subject = d.reshape(5, 3).mean(axis=1)
    assert row.mean_difference == pytest.approx(per_subject.mean())
    assert row.p_value == pytest.approx(_exact_sign_flip(per_subject)[2], abs=1e-12)
    few = table[table["unit"] == "u0"]
    few = few[few["subject"] == "s0"]
    one = paired_differences(few, [("base", "variant")]).iloc[0]
    assert one.n == 1 and np.isnan(one.p_value) and np.isnan(one.low)  # no test on 1 unit


def test_pair_errors_name_the_model():
    table = paired_table(n_units=3)
    with pytest.raises(ValueError, match="pair 1 .*model 'gpt9' is not in the results"):
        paired_differences(table, [("base", "gpt9")])
    with pytest.raises(ValueError, match="base and variant are both 'base'"):
        paired_differences(table, [("base", "base")])
    with pytest.raises(ValueError, match="test='t'"):
        paired_differences(table, [("base", "variant")], test="t")


def test_pairs_in_the_sweep_config(tmp_path):
    head = "models: [a, b, c]\nbenchmarks: [simlex999]\n"
    path = tmp_path / "sweep.yaml"
    path.write_text(head + "pairs:\n  - {base: a, variant: b, name: tuning}\n  - [a, c]\n")
    config = load_config(path)
    assert config.pairs == (Pair("a", "b", "tuning"), Pair("a", "c"))
    for text, expected in [
        ("pairs:\n  - [a, z]\n", "entry 1 (z vs a): model 'z' is not one of the sweep's models"),
        ("pairs:\n  - {base: a, variant: b}\n  - {base: a, varient: c}\n",
         "entry 2 has unknown key 'varient'"),
        ("pairs:\n  - {base: a}\n", "entry 1 has no 'variant'"),
        ("pairs:\n  - [a, b, c]\n", "entry 1 must be"),
        ("pairs: a\n", "must be a non-empty list"),
        ("pairs:\n  - [a, a]\n", "base and variant are both 'a'"),
    ]:  # fmt: skip
        path.write_text(head + text)
        with pytest.raises(SweepConfigError) as error:
            load_config(path)
        message = str(error.value)
        assert str(path) in message and "line 3" in message and "'pairs'" in message
        assert expected in message


def test_compare_pairs_the_figure_and_the_report(tmp_path, capsys, monkeypatch):
    table = paired_table()
    write_results_parquet(table, tmp_path / "results.parquet")
    assert main(["compare", str(tmp_path), "--pairs"]) == 2
    assert "has no pairs.json" in capsys.readouterr().err
    write_pairs([Pair("base", "variant", "tuning")], tmp_path)
    expected = paired_differences(table, [Pair("base", "variant", "tuning")], seed=0)
    pd.testing.assert_frame_equal(compare(tmp_path, pairs=True), expected)
    assert main(["compare", str(tmp_path), "--pairs", "--figures", str(tmp_path / "f")]) == 0
    printed = capsys.readouterr().out
    assert "tuning" in printed and "p_fdr" in printed and "sign-flip permutation" in printed
    assert (tmp_path / "f" / "pairs.png").is_file()

    figures = []
    original = comparison.save_figure

    def keep(figure, path, **kwargs):
        figures.append(figure)
        return original(figure, path, **kwargs)

    monkeypatch.setattr(comparison, "save_figure", keep)
    scaling.plot_pairs(expected, tmp_path / "pairs.png")
    labels = legend_labels(figures[-1])
    assert "95% CI (paired bootstrap over units)" in labels
    assert any(label.startswith(scaling.PAIRS_SIGNIFICANCE) for label in labels)  # gamma: ***

    report = build_report(tmp_path).read_text()
    assert 'id="pairs"' in report and "tuning" in report
    assert "Not shown: 3 pretrained model(s)" not in report  # three models: scaling absent
    assert "Not shown: no numeric model property" in report  # for want of properties


def test_a_pair_with_one_paired_unit_says_why_it_has_no_p_value():
    rows = []
    for model, score in (("base", 0.2), ("variant", 0.3)):
        rows.append({"model": model, "weights": "pretrained", "control": "", "control_of": "",
                     "benchmark": "words@1", "dataset": "d", "layer": 1, "subject": "all",
                     "unit": "rating", "metric": "spearman_r", "score": score,
                     "ceiling": np.nan})  # fmt: skip
    table = paired_differences(make_results(pd.DataFrame(rows)), [Pair("base", "variant")])
    assert table["n"].tolist() == [1] and np.isnan(table["p_value"]).all()
    assert table["note"].iloc[0].startswith("a paired test needs 2 or more units or subjects")
    assert table["mean_difference"].iloc[0] == pytest.approx(0.1)
