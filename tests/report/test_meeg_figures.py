"""Time courses with clusters and topographies drawn from result rows."""

from __future__ import annotations

import mne
import numpy as np
import pandas as pd
import pytest

from brainalign.report.figures import write_benchmark_figures
from brainalign.report.meeg_figures import info_from_positions, sensor_values, time_course
from brainalign.results import make_results, median_interval

TIMES = np.round(np.arange(-0.1, 0.5, 0.02), 3)
CHANNELS = [f"EEG {i:03d}" for i in range(6)]
EFFECT = (TIMES >= 0.1) & (TIMES <= 0.3)


def time_rows(n_subjects: int = 6, seed: int = 0) -> pd.DataFrame:
    """A model (2 layers), its twin and a control scored per subject, channel and time."""
    rng = np.random.default_rng(seed)
    records = []
    entities = [
        ("gpt2", "pretrained", "", "", 0, 0.0),
        ("gpt2", "pretrained", "", "", 1, 0.3),
        ("gpt2", "untrained", "", "", 1, 0.05),
        ("", "", "word-onsets", "gpt2", None, 0.02),
    ]
    for model, weights, control, of, layer, effect in entities:
        for s in range(n_subjects):
            for c, channel in enumerate(CHANNELS):
                for t, time in enumerate(TIMES):
                    score = 0.05 * rng.normal() + effect * EFFECT[t] * (c < 3)
                    records.append(
                        (model, weights, control, of, layer, f"s{s}", channel, time, score)
                    )
    table = pd.DataFrame(
        records,
        columns=[
            "model",
            "weights",
            "control",
            "control_of",
            "layer",
            "subject",
            "unit",
            "time",
            "score",
        ],
    )
    table = table.assign(
        benchmark="epochs@1", dataset="eeg", metric="pearson_r", head=None, ceiling=np.nan
    )
    table["layer"] = table["layer"].astype("Int64")
    table["head"] = table["head"].astype("Int64")
    return make_results(table)


def test_time_course_is_the_per_time_median_with_its_interval_and_clusters():
    rows = time_rows()
    (course,) = time_course(rows)
    assert (course.label, course.layer, course.reference) == ("gpt2", 1, "word-onsets")
    at = rows[(rows["weights"] == "pretrained") & (rows["layer"] == 1)]
    for k, t in enumerate(TIMES):
        expected = median_interval(at[at["time"] == t], n_resamples=1000, seed=0)
        assert course.estimate[k] == pytest.approx(expected["estimate"])
        assert (course.low[k], course.high[k]) == pytest.approx((expected["low"], expected["high"]))
    # clusters: MNE's test on each subject's median over channels, model minus control
    control = rows[rows["control"] == "word-onsets"]
    courses = [r.pivot_table(index="subject", columns="time", values="score", aggfunc="median")
               for r in (at, control)]  # fmt: skip
    X = (courses[0] - courses[1]).to_numpy()
    _, clusters, p_values, _ = mne.stats.permutation_cluster_1samp_test(
        X, n_permutations=1024, tail=1, rng=0, out_type="mask", verbose=False
    )
    assert len(course.clusters) == len(clusters)
    for got, expected in zip(course.clusters, clusters, strict=True):
        mask = np.zeros(TIMES.size, dtype=bool)
        mask[expected[0]] = True  # MNE gives a 1-tuple of a slice over time
        np.testing.assert_array_equal(got, mask)
    np.testing.assert_allclose(course.cluster_p_values, p_values)
    significant = [
        c for c, p in zip(course.clusters, course.cluster_p_values, strict=True) if p < 0.05
    ]
    assert len(significant) == 1 and significant[0][EFFECT].mean() > 0.8


def test_one_subject_gets_no_cluster_test_and_figures_are_written(tmp_path):
    rows = time_rows(n_subjects=1)
    (course,) = time_course(rows)
    assert course.reference == "" and course.clusters == [] and course.n_subjects == 1
    paths = write_benchmark_figures(time_rows(), tmp_path)
    assert "epochs-1_gpt2_time.png" in [p.name for p in paths]


def test_topomap_at_the_peak_from_positions(tmp_path):
    standard = mne.channels.make_standard_montage("colin27_1020").get_positions()["ch_pos"]
    names = ["Fz", "Cz", "Pz", "C3", "C4", "Oz"]  # the rows' channels, placed on the 10-20 grid
    positions = pd.DataFrame([standard[n] for n in names], columns=["x", "y", "z"], index=CHANNELS)
    rows = time_rows().join(positions, on="unit").assign(ch_type="eeg")
    entity = rows[rows["weights"] == "pretrained"].iloc[0]
    values = sensor_values(rows, entity, 1, 0.2)
    at = rows[(rows["weights"] == "pretrained") & (rows["layer"] == 1)]
    at = at[np.isclose(at["time"], 0.2)]
    np.testing.assert_allclose(values["score"], at.groupby("unit", sort=False)["score"].median())
    info = info_from_positions(values)
    np.testing.assert_allclose([ch["loc"][:3] for ch in info["chs"]], values[["x", "y", "z"]])
    paths = write_benchmark_figures(rows, tmp_path)
    assert {"epochs-1_gpt2_time.png", "epochs-1_gpt2_topomap.png"} <= {p.name for p in paths}


def test_paired_bootstrap_pairs_time_rows_at_their_own_time():
    rows = time_rows()
    model = rows[(rows["weights"] == "pretrained") & (rows["layer"] == 1)]
    control = rows[rows["control"] == "word-onsets"]
    got = median_interval(model, reference=control, n_resamples=200)

    def folded(r: pd.DataFrame) -> pd.DataFrame:  # the time moved into the unit's name
        return r.assign(unit=r["unit"] + "@" + r["time"].astype(str)).drop(columns="time")

    assert got == median_interval(folded(model), reference=folded(control), n_resamples=200)
    assert got["p_value"] < 0.05
