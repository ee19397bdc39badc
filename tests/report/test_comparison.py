"""Model-comparison bars from the project's bootstrap and FDR results."""

import numpy as np
import pandas as pd
import pytest

from brainalign.alignment.stats import bootstrap_mean, fdr_bh
from brainalign.report import comparison
from brainalign.report.comparison import (
    _ceiling_band,
    _comparison_figure,
    _comparison_table,
    _stars,
    plot_model_comparison,
)
from tests.report.pictures import (
    assert_no_clipped_text,
    assert_picture,
    band_labels,
    legend_labels,
)

NAMES = ["gpt2", "bert", "opt", "random", "t5"]
KEY = "significance: * p < 0.05 ** p < 0.01 *** p < 0.001"  # spaces normalised


@pytest.fixture(scope="module")
def bootstrap():
    rng = np.random.default_rng(1)
    scores = rng.normal(loc=[0.1, 0.05, 0.2, 0.0, 0.12], scale=0.05, size=(20, 5))
    return scores, bootstrap_mean(scores, n_resamples=500)


def _figure(table, ceiling=None, **kwargs):
    options = {
        "levels": (0.05, 0.01, 0.001), "ylabel": "score", "title": None,
        "interval_label": "95% CI", "no_interval_label": "one score per model",
        "significance_label": "significance", "ceiling_label": "noise ceiling",
    }  # fmt: skip
    table = _comparison_table(table, None, None)
    return _comparison_figure(table, _ceiling_band(ceiling), **{**options, **kwargs})


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
    assert _ceiling_band((0.2, 0.25, 0.4)) == (0.2, 0.25, 0.4)


def _table(low, high, p_value, kind=None) -> pd.DataFrame:
    table = pd.DataFrame(
        {"model": ["m", "m (untrained)", "control: c"], "estimate": [0.3, 0.1, 0.05],
         "low": low, "high": high, "p_value": p_value}
    )  # fmt: skip
    if kind is not None:
        table["kind"] = kind
    return table


def test_interval_label_only_with_error_bars():
    with_bars = _figure(_table([0.2, 0.0, 0.0], [0.4, 0.2, 0.1], [0.01, 0.5, np.nan]))
    labels = legend_labels(with_bars)
    assert "95% CI" in labels and "one score per model" not in labels
    without = _figure(_table([np.nan] * 3, [np.nan] * 3, [np.nan] * 3))
    labels = legend_labels(without)
    assert "95% CI" not in labels and "one score per model" in labels
    assert not any(c.get_label() == "95% CI" for c in without.axes[0].containers)


def test_significance_key_only_when_a_mark_is_drawn():
    def stars(figure):
        return [t.get_text() for t in figure.axes[0].texts if t.get_text().startswith("*")]

    marked = _figure(_table([0.2, 0.0, 0.0], [0.4, 0.2, 0.1], [0.004, 0.5, np.nan]))
    assert stars(marked) == ["**"] and KEY in legend_labels(marked)
    for p_values in ([0.2, 0.5, np.nan], [np.nan] * 3):
        figure = _figure(_table([0.2, 0.0, 0.0], [0.4, 0.2, 0.1], p_values))
        assert stars(figure) == []
        assert not any(label.startswith("significance") for label in legend_labels(figure))
    no_column = _figure(_table([0.2, 0.0, 0.0], [0.4, 0.2, 0.1], 0.5).drop(columns="p_value"))
    assert not any(label.startswith("significance") for label in legend_labels(no_column))


def test_ceiling_band_and_bar_kinds_have_legend_entries():
    kinds = ["model", "untrained", "control"]
    figure = _figure(
        _table([0.2, 0.0, 0.0], [0.4, 0.2, 0.1], np.nan, kinds), ceiling=(0.3, 0.35, 0.45),
        ceiling_label="noise ceiling: median, IQR",
    )  # fmt: skip
    labels = legend_labels(figure)
    bands = band_labels(figure)
    assert bands == ["noise ceiling: median, IQR"] and bands[0] in labels
    for kind in kinds:
        assert comparison.KIND_LABELS[kind] in labels
    assert_no_clipped_text(figure)
    single = _figure(_table([0.2, 0.0, 0.0], [0.4, 0.2, 0.1], np.nan), ceiling=0.4)
    assert band_labels(single) == [] and "noise ceiling" in legend_labels(single)
    assert "model" not in legend_labels(single)  # one kind: no colour key


def test_long_titles_and_labels_fit():
    table = _table([0.2, 0.0, 0.0], [0.4, 0.2, 0.1], [0.001, 0.5, np.nan])
    table["model"] = ["/a/very/long/local/model/directory/name"] * 3
    figure = _figure(
        table, ceiling=0.4, title="a-long-benchmark@1\neach model and control at its best layer",
        ylabel="held-out Pearson r\n(median over subjects x units)",
        significance_label="difference from the model's strongest control (two-sided paired "
        "bootstrap, Benjamini-Hochberg adjusted over the models)",
    )  # fmt: skip
    assert_no_clipped_text(figure)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"names": NAMES[:3]}, "one name per model"),
        ({"names": NAMES, "p_values": [0.1, 0.2]}, "p_values has 2 values for 5 models"),
        ({"names": NAMES, "p_values": [0.1, 2, 0, 0, 0]}, r"p_values must lie in \[0, 1\]"),
        ({"names": NAMES, "ceiling": [1, 2, 3, 4]}, "ceiling must be a number"),
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
        (
            pd.DataFrame(
                {"model": ["a"], "estimate": [0.1], "low": [0], "high": [1], "kind": ["twin"]}
            ),
            "kind must be one of",
        ),  # fmt: skip
        (np.ones(3), "DataFrame .* or a BootstrapResult"),
    ],
)
def test_bad_tables(tmp_path, table, message):
    with pytest.raises(ValueError, match=message):
        plot_model_comparison(table, tmp_path / "c.png")
    assert not list(tmp_path.iterdir())
