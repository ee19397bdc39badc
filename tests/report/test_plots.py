"""Score-by-layer curves, layers x heads heatmaps and the shared helpers."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from brainalign.report.plots import (
    _head_matrix,
    _layer_curves_figure,
    colour_scale,
    plot_head_heatmap,
    plot_layer_curves,
    plot_score_by_layer,
)
from brainalign.results import make_results
from tests.report.pictures import assert_picture

ROIS = ("LIFG", "LATL", "LPTL")


@pytest.fixture(scope="module")
def results() -> pd.DataFrame:
    """Tidy results like ``brainalign score`` writes: two models, a twin, a nuisance control."""
    rng = np.random.default_rng(3)
    rows = []
    for model, base in (("gpt2", 0.1), ("gpt2@untrained", 0.02), ("bert", 0.07)):
        for roi in ROIS:
            for subject in range(6):
                for layer in range(5):
                    score = base * (1 + np.sin(layer / 2)) + 0.02 * rng.normal()
                    rows.append((model, layer, f"s{subject}", roi, score))
    for roi in ROIS:
        for subject in range(6):
            rows.append(("nuisance:word_rate", None, f"s{subject}", roi, 0.03 * rng.random()))
    table = pd.DataFrame(rows, columns=["model", "layer", "subject", "roi", "score"])
    ceilings = {(s, r): 0.3 + 0.05 * rng.normal() for s in table["subject"] for r in ROIS}
    table["ceiling"] = [ceilings[key] for key in zip(table["subject"], table["roi"], strict=True)]
    table["dataset"] = "alice2016"
    table["metric"] = "pearson_r"
    return make_results(table)


def _line(panel, label):
    return next(line for line in panel.get_lines() if line.get_label() == label)


def test_layer_curves_write_png_and_svg(results, tmp_path):
    assert_picture(tmp_path / "a.png", plot_layer_curves(results, tmp_path / "a.png"))
    svg = plot_layer_curves(results, tmp_path / "a.svg", normalized=True)
    assert b"<svg" in svg.read_bytes()[:500]


@pytest.mark.parametrize("normalized", [False, True])
def test_layer_curves_draw_medians_over_subjects(results, normalized):
    figure = _layer_curves_figure(
        results, metric=None, normalized=normalized, control="nuisance:",
        untrained_suffix="@untrained", title=None,
    )  # fmt: skip
    assert isinstance(figure, Figure)
    panels = [a for a in figure.axes if a.get_visible()]
    assert [p.get_title() for p in panels] == list(ROIS)
    value = "normalized_score" if normalized else "score"
    for panel, roi in zip(panels, ROIS, strict=True):
        rows = results[(results["roi"] == roi) & (results["model"] == "bert")]
        expected = rows.groupby("layer")[value].median().to_numpy()
        np.testing.assert_allclose(_line(panel, "bert").get_ydata(), expected, rtol=1e-12)
        twin = _line(panel, "gpt2@untrained")
        assert twin.get_linestyle() == "--"
        control = results[(results["roi"] == roi) & (results["model"] == "nuisance:word_rate")]
        level = _line(panel, "nuisance:word_rate").get_ydata()[0]
        assert level == pytest.approx(control[value].median())
        ceiling = [line for line in panel.get_lines() if "noise ceiling" in line.get_label()]
        expected_ceiling = 1.0 if normalized else np.median(control["ceiling"])
        assert ceiling[0].get_ydata()[0] == pytest.approx(expected_ceiling)
    labels = [t.get_text() for t in figure.legends[0].get_texts()]
    assert labels.count("bert") == 1 and "nuisance:word_rate" in labels


def test_score_by_layer_keeps_its_behaviour(results, tmp_path):
    other_metric = results.assign(metric="r2", score=results["score"] + 5)
    both = pd.concat([results, other_metric], ignore_index=True)
    assert_picture(tmp_path / "s.png", plot_score_by_layer(both, tmp_path / "s.png"))


@pytest.mark.parametrize(
    ("change", "normalized", "message"),
    [
        (lambda t: t.drop(columns=["roi", "subject"]), 0, r"column\(s\) \['subject', 'roi'\]"),
        (lambda t: t.iloc[:0], 0, "results is empty"),
        (lambda t: pd.concat([t, t.assign(metric="r2")]), 0, "several metrics"),
        (lambda t: t[t["model"].str.startswith("nuisance")], 0, "no model with layers"),
        (lambda t: t.assign(ceiling=np.nan, normalized_score=np.nan), 1, "needs a 'ceiling'"),
        (lambda t: make_results(t.assign(ceiling=0.0)), 1, "infinite normalized_score"),
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


def test_head_heatmap_from_array_and_table(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.normal(size=(6, 8))
    path = plot_head_heatmap(values, tmp_path / "h.png", mask=np.abs(values) > 1, metric="r")
    assert_picture(tmp_path / "h.png", path)
    layers, heads, subjects = np.meshgrid(range(6), range(8), range(4), indexing="ij")
    table = pd.DataFrame(
        {"layer": layers.ravel(), "head": heads.ravel(), "subject": subjects.ravel(),
         "score": np.abs(rng.normal(size=layers.size)), "model": "gpt2", "metric": "r"}
    )  # fmt: skip
    matrix, layer_ids, head_ids, metric = _head_matrix(table, None, "median")
    expected = table.groupby(["layer", "head"])["score"].median().unstack().to_numpy()
    np.testing.assert_allclose(matrix, expected, rtol=1e-12)
    assert (layer_ids, head_ids, metric) == (list(range(6)), list(range(8)), "r")
    assert_picture(tmp_path / "t.png", plot_head_heatmap(table, tmp_path / "t.png"))


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
            "several models",
        ),
    ],
)
def test_head_heatmap_bad_input(tmp_path, scores, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_head_heatmap(scores, tmp_path / "h.png", **kwargs)
    assert not list(tmp_path.iterdir())
