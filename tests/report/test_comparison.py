"""Model-comparison bars from the project's bootstrap and FDR results."""

import numpy as np
import pandas as pd
import pytest

from brainalign.alignment.stats import bootstrap_mean, fdr_bh
from brainalign.report.comparison import (
    _ceiling_band,
    _comparison_table,
    _stars,
    plot_model_comparison,
)
from tests.report.pictures import assert_picture

NAMES = ["gpt2", "bert", "opt", "random", "t5"]


@pytest.fixture(scope="module")
def bootstrap():
    rng = np.random.default_rng(1)
    scores = rng.normal(loc=[0.1, 0.05, 0.2, 0.0, 0.12], scale=0.05, size=(20, 5))
    return scores, bootstrap_mean(scores, n_resamples=500)


def test_bars_from_bootstrap_with_fdr_and_ceiling(bootstrap, tmp_path):
    scores, result = bootstrap
    p = np.array([1e-4, 0.004, 1e-5, 0.6, 0.03])
    _, q = fdr_bh(p)
    ceiling = bootstrap_mean(scores[:, [2]].mean(axis=1) + 0.1, n_resamples=200)
    path = plot_model_comparison(result, tmp_path / "c.png", names=NAMES, p_values=q,
                                 ceiling=ceiling)  # fmt: skip
    assert_picture(tmp_path / "c.png", path)
    table = _comparison_table(result, NAMES, q)
    np.testing.assert_array_equal(table["estimate"], scores.mean(axis=0))
    np.testing.assert_array_equal(table["low"], result.low)
    np.testing.assert_array_equal(table["p_value"], q)
    assert [_stars(v, (0.05, 0.01, 0.001)) for v in q] == ["***", "**", "***", "", "*"]
    low, middle, high = _ceiling_band(ceiling)
    assert low < middle < high and middle == pytest.approx(float(ceiling.estimate))


def test_bars_from_a_table_and_svg(tmp_path):
    table = pd.DataFrame(
        {"model": ["a", "b"], "estimate": [0.2, -0.1], "low": [0.1, np.nan],
         "high": [0.3, np.nan], "p_value": [0.01, np.nan]}
    )  # fmt: skip
    assert_picture(
        tmp_path / "t.png", plot_model_comparison(table, tmp_path / "t.png", ceiling=0.4)
    )
    assert b"<svg" in plot_model_comparison(table, tmp_path / "t.svg").read_bytes()[:500]
    assert _ceiling_band((0.2, 0.4)) == (0.2, pytest.approx(0.3), 0.4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"names": NAMES[:3]}, "one name per model"),
        ({"names": NAMES, "p_values": [0.1, 0.2]}, "p_values has 2 values for 5 models"),
        ({"names": NAMES, "p_values": [0.1, 2, 0, 0, 0]}, r"p_values must lie in \[0, 1\]"),
        ({"names": NAMES, "ceiling": [1, 2, 3]}, "ceiling must be a number"),
    ],
)
def test_bad_input_from_bootstrap(bootstrap, tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_model_comparison(bootstrap[1], tmp_path / "c.png", **kwargs)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (pd.DataFrame({"model": ["a"], "estimate": [0.1]}), r"\['low', 'high'\]"),
        (pd.DataFrame(columns=["model", "estimate", "low", "high"]), "comparison is empty"),
        (pd.DataFrame({"model": ["a"], "estimate": [0.1], "low": [0.3], "high": [0.2]}), "low <="),
        (pd.DataFrame({"model": ["a"], "estimate": [np.nan], "low": [0], "high": [1]}), "finite"),
        (np.ones(3), "DataFrame .* or a BootstrapResult"),
    ],
)
def test_bad_tables(tmp_path, table, message):
    with pytest.raises(ValueError, match=message):
        plot_model_comparison(table, tmp_path / "c.png")
    assert not list(tmp_path.iterdir())
