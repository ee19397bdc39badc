"""Figures of scores in time: TRF kernels, time courses with clusters, generalisation."""

from __future__ import annotations

import numpy as np
import pytest

from brainalign.report import plots, time_plots
from brainalign.report.time_plots import (
    peak_times,
    plot_generalization,
    plot_time_course,
    plot_trf_kernels,
)
from tests.report.pictures import assert_no_clipped_text, assert_picture, legend_labels

TIMES = np.round(np.arange(-0.1, 0.5, 0.01), 6)


@pytest.fixture
def captured(monkeypatch):
    """The figures the plots save (to read their legends and panels)."""
    figures = []
    original = plots.save_figure

    def keep(figure, path, **kwargs):
        figures.append(figure)
        return original(figure, path, **kwargs)

    monkeypatch.setattr(time_plots, "save_figure", keep)
    return figures


def _kernels(n_targets=6, n_features=2):
    rng = np.random.default_rng(0)
    bump = np.exp(-(((TIMES - 0.1) / 0.03) ** 2))
    return bump[None, None, :] * rng.normal(1, 0.2, (n_targets, n_features, 1))


def test_trf_kernels_per_feature_and_sensor_group(tmp_path, captured):
    coef = _kernels()
    path = tmp_path / "trf.png"
    returned = plot_trf_kernels(coef, TIMES, path, groups={"left": [0, 1, 2], "right": [3, 4, 5]},
                                feature_names=["surprisal", "envelope"], unit="fT")  # fmt: skip
    assert_picture(path, returned)
    figure = captured[-1]
    assert legend_labels(figure) == [
        "left: mean +- 1 standard error over 3 sensor(s)",
        "right: mean +- 1 standard error over 3 sensor(s)",
    ]
    visible = [a for a in figure.axes if a.get_visible()]
    assert [a.get_title() for a in visible] == ["surprisal", "envelope"]
    line = visible[0].get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), coef[:3, 0].mean(0))
    assert_no_clipped_text(figure)
    plot_trf_kernels(coef[:1], TIMES, tmp_path / "one.png")  # one sensor: no band, no SE
    assert legend_labels(captured[-1]) == ["all sensors: mean over 1 sensor(s)"]


def test_time_course_shades_only_significant_clusters(tmp_path, captured):
    scores = np.where((TIMES > 0.1) & (TIMES < 0.2), 0.7, 0.5)
    clusters = [(np.flatnonzero((TIMES > 0.1) & (TIMES < 0.2)),), (np.array([2, 3]),)]
    path = tmp_path / "course.png"
    plot_time_course(TIMES, scores, path, low=scores - 0.05, high=scores + 0.05,
                     clusters=clusters, cluster_p_values=[0.01, 0.4], chance=0.5,
                     label="decoding AUC")  # fmt: skip
    assert_picture(path, path)
    figure = captured[-1]
    assert legend_labels(figure) == ["decoding AUC", "95% interval", "chance (0.5)",
                                     "significant cluster p < 0.05 (permutation)"]  # fmt: skip
    spans = [p for p in figure.axes[0].patches]
    assert len(spans) == 1  # the second cluster (p = 0.4) is not shaded
    start, stop = spans[0].get_x(), spans[0].get_x() + spans[0].get_width()
    assert (start, stop) == (pytest.approx(0.105, abs=1e-9), pytest.approx(0.195, abs=1e-9))
    plot_time_course(TIMES, scores, tmp_path / "plain.png")
    assert legend_labels(captured[-1]) == ["score"]  # nothing drawn, nothing in the key


def test_generalization_matrix_and_peaks(tmp_path):
    scores = 0.5 + 0.3 * np.exp(-((TIMES[:, None] - TIMES[None, :]) ** 2) / 0.002)
    path = tmp_path / "gat.png"
    assert_picture(path, plot_generalization(TIMES, TIMES, scores, path, chance=0.5,
                                             mask=scores > 0.7))  # fmt: skip
    course = np.exp(-(((TIMES - 0.1) / 0.02) ** 2)) + 0.5 * np.exp(-(((TIMES - 0.3) / 0.02) ** 2))
    np.testing.assert_allclose(peak_times(TIMES, course, n=2), [0.1, 0.3])
    np.testing.assert_allclose(peak_times(TIMES, course, n=1), [0.1])
    np.testing.assert_allclose(peak_times(TIMES, TIMES), [TIMES[-1]])  # no local maximum


def test_bad_inputs_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"coef must be finite, shape \(n_targets"):
        plot_trf_kernels(np.zeros((2, 3)), TIMES, tmp_path / "a.png")
    with pytest.raises(ValueError, match="times must hold one time per column"):
        plot_trf_kernels(_kernels(), TIMES[:-1], tmp_path / "a.png")
    with pytest.raises(ValueError, match="group 'x' must list target indices in 0..5"):
        plot_trf_kernels(_kernels(), TIMES, tmp_path / "a.png", groups={"x": [6]})
    with pytest.raises(ValueError, match="give both low and high"):
        plot_time_course(TIMES, TIMES, tmp_path / "a.png", low=TIMES)
    with pytest.raises(ValueError, match="2 clusters but 1 cluster p-values"):
        plot_time_course(TIMES, TIMES, tmp_path / "a.png", clusters=[[1], [2]],
                         cluster_p_values=[0.1])  # fmt: skip
    with pytest.raises(ValueError, match="must end in"):
        plot_time_course(TIMES, TIMES, tmp_path / "a.jpg")
    with pytest.raises(ValueError, match="finite and increasing"):
        plot_time_course(TIMES[::-1], TIMES, tmp_path / "a.png")
