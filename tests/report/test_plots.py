"""Score-by-layer curves, layers x heads heatmaps and the shared helpers."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from brainalign.report.plots import (
    _head_heatmap_figure,
    _head_matrix,
    _layer_curves_figure,
    colour_scale,
    median_over,
    plot_head_heatmap,
    plot_layer_curves,
)
from brainalign.results import entity_labels, layer_summary, make_results
from tests.report.pictures import (
    assert_no_clipped_text,
    assert_picture,
    band_labels,
    legend_labels,
)

UNITS = ("LIFG", "LATL", "LPTL")
NUISANCE = "word-rate+sound-power"


def _rows(model, weights, control, control_of, layers, base, rng) -> list[tuple]:
    rows = []
    for unit in UNITS:
        for subject in range(6):
            for layer in layers:
                score = base * (1 + np.sin((layer or 0) / 2)) + 0.02 * rng.normal()
                rows.append(
                    (model, weights, control, control_of, layer, f"s{subject}", unit, score)
                )
    return rows


@pytest.fixture(scope="module")
def results() -> pd.DataFrame:
    """A result table as a benchmark writes it: two models, a twin, each model's control."""
    rng = np.random.default_rng(3)
    rows = [
        *_rows("gpt2", "pretrained", "", "", range(5), 0.1, rng),
        *_rows("gpt2", "untrained", "", "", range(5), 0.02, rng),
        *_rows("bert", "pretrained", "", "", range(5), 0.07, rng),
        *_rows("", "", NUISANCE, "gpt2", [None], 0.03, rng),
        *_rows("", "", NUISANCE, "bert", [None], 0.02, rng),
    ]
    columns = ["model", "weights", "control", "control_of", "layer", "subject", "unit", "score"]
    table = pd.DataFrame(rows, columns=columns)
    # per subject and unit; two subjects of LATL have an unusable ceiling
    ceilings = {(s, u): 0.3 + 0.05 * rng.normal() for s in table["subject"] for u in UNITS}
    ceilings[("s0", "LATL")], ceilings[("s1", "LATL")] = 0.02, -0.05  # below the floor
    keys = zip(table["subject"], table["unit"], strict=True)
    table["ceiling"] = [ceilings[key] for key in keys]
    table = table.assign(benchmark="toy@1", dataset="alice2016", metric="pearson_r")
    return make_results(table)


def _curves(figure, unit):
    panel = next(p for p in figure.axes if p.get_title().split("\n")[0] == unit)
    return panel, {line.get_label(): line for line in panel.get_lines()}


def test_layer_curves_write_png_and_svg(results, tmp_path):
    assert_picture(tmp_path / "a.png", plot_layer_curves(results, tmp_path / "a.png"))
    svg = plot_layer_curves(results, tmp_path / "a.svg", normalized=True)
    assert b"<svg" in svg.read_bytes()[:500]


@pytest.mark.parametrize("normalized", [False, True])
def test_curves_are_the_layer_summary_medians(results, normalized):
    figure = _layer_curves_figure(results, normalized=normalized)
    assert isinstance(figure, Figure)
    summary = layer_summary(results, by_unit=True)
    summary["label"] = entity_labels(summary)
    value = "normalized_score" if normalized else "median_score"
    for unit in UNITS:
        panel, lines = _curves(figure, unit)
        for label, rows in summary[summary["unit"] == unit].groupby("label"):
            line = lines.get(f"{label}: median, IQR", lines.get(label))
            drawn = np.asarray(line.get_ydata(), dtype=float)
            if rows["layer"].isna().all():  # a layer-free control: a level
                drawn = drawn[:1]
            np.testing.assert_allclose(drawn, rows[value], rtol=1e-12)
    assert_no_clipped_text(figure)


def test_curves_against_plain_pandas(results):
    """The drawn medians, recomputed independently: median over subjects per layer."""
    figure = _layer_curves_figure(results)
    for unit in UNITS:
        _, lines = _curves(figure, unit)
        rows = results[(results["unit"] == unit) & (results["model"] == "bert")]
        expected = rows.groupby("layer")["score"].median().to_numpy()
        np.testing.assert_allclose(lines["bert: median, IQR"].get_ydata(), expected, rtol=1e-12)
        twin = lines["gpt2 (untrained)"]
        assert twin.get_linestyle() == "--"
        twin_rows = results[(results["unit"] == unit) & (results["weights"] == "untrained")]
        np.testing.assert_allclose(
            twin.get_ydata(), twin_rows.groupby("layer")["score"].median(), rtol=1e-12
        )
        # each model's control is its own: two levels, one per model
        for model in ("gpt2", "bert"):
            control = results[
                (results["unit"] == unit) & (results["control_of"] == model)
            ]  # fmt: skip
            line = lines[f"control: {NUISANCE} (for {model}): median, IQR"]
            assert line.get_linestyle() == ":"
            assert line.get_ydata()[0] == pytest.approx(control["score"].median())


def test_the_ceiling_is_the_median_of_usable_units_with_its_iqr(results):
    figure = _layer_curves_figure(results)
    for unit in UNITS:
        panel, lines = _curves(figure, unit)
        label = "noise ceiling: median, IQR of the units with a usable ceiling"
        rows = results[(results["unit"] == unit) & (results["model"] == "gpt2")]
        at = rows[(rows["layer"] == 0) & (rows["weights"] == "pretrained")]
        usable = at.loc[at["ceiling_flag"] == "ok", "ceiling"]
        assert lines[label].get_ydata()[0] == pytest.approx(usable.median())
        (band,) = [p for p in panel.patches if p.get_label() == label]
        low, high = band.get_y(), band.get_y() + band.get_height()
        assert (low, high) == pytest.approx(tuple(np.quantile(usable, [0.25, 0.75])))
        title = panel.get_title()
        assert ("ceiling usable for 4 of 6" in title) == (unit == "LATL")  # two below the floor


def test_every_band_and_line_has_a_legend_entry(results):
    for normalized in (False, True):
        figure = _layer_curves_figure(results, normalized=normalized)
        labels = legend_labels(figure)
        bands = band_labels(figure)
        assert bands and all(label in labels for label in bands), (bands, labels)
        for panel in figure.axes:
            for line in panel.get_lines():
                if not line.get_label().startswith("_"):
                    assert " ".join(line.get_label().split()) in labels
        assert len(labels) == len(set(labels))
    labels = legend_labels(_layer_curves_figure(results))
    assert labels[0] == "noise ceiling: median, IQR of the units with a usable ceiling"
    assert "gpt2: median, IQR" in labels and "bert: median, IQR" in labels


def test_the_y_axis_says_what_the_median_is_over(results):
    figure = _layer_curves_figure(results)
    assert figure.get_supylabel() == "held-out Pearson r\n(median over subjects)"
    one = results[results["subject"] == "s0"]
    figure = _layer_curves_figure(one)
    assert figure.get_supylabel() == "held-out Pearson r\n(one score per layer)"
    assert band_labels(figure) == []  # one score: no interquartile band
    assert not any("IQR" in label for label in legend_labels(figure))
    assert median_over(results, ["model", "weights", "control", "control_of", "layer"]) == (
        "median over subjects x units"
    )
    assert_no_clipped_text(figure)


@pytest.mark.parametrize(
    ("change", "normalized", "message"),
    [
        (lambda t: t.drop(columns=["unit", "subject"]), 0, r"column\(s\) \['subject', 'unit'\]"),
        (lambda t: t.iloc[:0], 0, "results is empty"),
        (lambda t: pd.concat([t, t.assign(metric="r2")]), 0, "several metrics"),
        (lambda t: pd.concat([t, t.assign(benchmark="b@1")]), 0, "several benchmarks"),
        (lambda t: t[t["control"] != ""], 0, "no model with layers"),
        (lambda t: make_results(t.assign(ceiling=np.nan)), 1, "usable ceiling"),
    ],
)
def test_layer_curves_bad_input(results, tmp_path, change, normalized, message):
    path = tmp_path / "bad.png"
    with pytest.raises(ValueError, match=message):
        plot_layer_curves(change(results), path, normalized=bool(normalized))
    assert not path.exists() and not list(tmp_path.iterdir())


def test_bad_paths_are_refused_before_drawing(results, tmp_path):
    with pytest.raises(ValueError, match=r"must end in \.png or \.svg"):
        plot_layer_curves(results, tmp_path / "a.jpg")
    with pytest.raises(FileNotFoundError, match="does not exist; create it"):
        plot_layer_curves(results, tmp_path / "missing" / "a.png")


def test_failed_write_leaves_nothing_and_keeps_old_file(results, tmp_path, monkeypatch):
    path = tmp_path / "a.png"
    path.write_bytes(b"old")

    def broken_savefig(self, fname, **kwargs):
        with open(fname, "wb") as handle:
            handle.write(b"\x89PNG half")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(OSError, match="disk full"):
        plot_layer_curves(results, path)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


# ------------------------------------------------------------------ layers x heads


def test_colour_scale_follows_the_sign():
    assert colour_scale(np.array([0.1, -0.4, 0.2])) == ("RdBu_r", -0.4, 0.4, True)
    assert colour_scale(np.array([0.1, np.nan, 0.3])) == ("viridis", 0.1, 0.3, False)
    assert colour_scale(np.array([0.1, 0.3]), signed=True)[:3] == ("RdBu_r", -0.3, 0.3)
    with pytest.raises(ValueError, match="every value is NaN"):
        colour_scale(np.array([np.nan]))


def _head_table(rng) -> pd.DataFrame:
    layers, heads, subjects = np.meshgrid(range(6), range(8), range(4), indexing="ij")
    return pd.DataFrame(
        {"layer": layers.ravel(), "head": heads.ravel(), "subject": subjects.ravel(),
         "score": np.abs(rng.normal(size=layers.size)), "model": "gpt2", "metric": "r"}
    )  # fmt: skip


def test_head_heatmap_from_array_and_table(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.normal(size=(6, 8))
    path = plot_head_heatmap(values, tmp_path / "h.png", mask=np.abs(values) > 1, metric="r")
    assert_picture(tmp_path / "h.png", path)
    table = _head_table(rng)
    matrix, layer_ids, head_ids, metric, over = _head_matrix(table, None)
    expected = table.groupby(["layer", "head"])["score"].median().unstack().to_numpy()
    np.testing.assert_allclose(matrix, expected, rtol=1e-12)
    assert (layer_ids, head_ids, metric, over) == (
        list(range(6)), list(range(8)), "r", "median over subjects",
    )  # fmt: skip
    assert_picture(tmp_path / "t.png", plot_head_heatmap(table, tmp_path / "t.png"))


def test_head_heatmap_title_and_labels_fit_and_marks_have_a_legend_entry():
    rng = np.random.default_rng(1)
    table = _head_table(rng)
    table = table[table["head"] < 2]  # a narrow figure: 2 heads
    title = "a-long-benchmark-name@3: /some/very/long/local/model/directory (untrained), LIFG"
    figure = _head_heatmap_figure(table, title=title)
    assert_no_clipped_text(figure)
    colorbar = figure.axes[-1].get_ylabel()
    assert colorbar == "r\n(median over subjects)"
    marks = np.zeros((6, 2), dtype=bool)
    marks[2, 1] = True
    figure = _head_heatmap_figure(table, mask=marks)
    assert legend_labels(figure) == ["marked"]
    assert legend_labels(_head_heatmap_figure(table)) == []
    one = _head_heatmap_figure(table[table["subject"] == 0])
    assert one.axes[-1].get_ylabel() == "r\n(one score per cell)"


@pytest.mark.parametrize(
    ("scores", "kwargs", "message"),
    [
        (np.zeros(5), {}, r"\(n_layers, n_heads\) array"),
        (np.ones((3, 4)), {"mask": np.ones((4, 3), bool)}, r"mask must be a boolean .*\(3, 4\)"),
        (np.ones((3, 4)), {"mask": np.ones((3, 4))}, "mask must be a boolean"),
        (np.full((3, 4), np.nan), {}, "every value is NaN"),
        (pd.DataFrame({"layer": [0], "score": [1.0]}), {}, r"lacks column\(s\) \['head'\]"),
        (
            pd.DataFrame({"layer": [0, 0], "head": [0, 0], "score": [1.0, 2], "model": ["a", "b"]}),
            {},
            "several model values",
        ),
        (
            pd.DataFrame({"layer": [0, 0], "head": [0, 0], "score": [1.0, 2], "unit": ["a", "b"]}),
            {},
            "several unit values",
        ),
    ],
)
def test_head_heatmap_bad_input(tmp_path, scores, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_head_heatmap(scores, tmp_path / "h.png", **kwargs)
    assert not list(tmp_path.iterdir())
