"""Analyses over models: scores against model properties, user properties, their figures.

Two kinds of tables: synthetic result tables (five models, four subjects x two ROIs, four
layers, per-head rows with an ``induction_score``) whose numbers are checked against
scipy and brute-force recomputations through the leaderboard, and a real finished sweep
(three tiny random-weight BERTs of different widths on simlex999 and wordsim353, the
published files in tests/data) for ``brainalign compare --by`` end to end.

The model card columns (n_parameters, n_layers, relative_depth, has_chat_template) are
added by hand here (marked CARD-BY-HAND) until brainalign/encoders/cards.py fills them on
every model row; the integrator can then drop those lines.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from brainalign.alignment.stats import bootstrap_indices
from brainalign.cli import main
from brainalign.report import scaling
from brainalign.results import (
    CORRELATION_COLUMNS,
    PropertiesError,
    attach_properties,
    correlate_property,
    layer_summary,
    leaderboard,
    make_results,
    model_scores,
    read_properties,
    summarize,
)
from brainalign.scoring import count_forward_passes
from brainalign.sweeps import SweepConfigError, compare, load_config, sweep
from tests.report.pictures import assert_picture, legend_labels
from tests.test_scoring import place_word_pairs

MODELS = {"m-a": 1e6, "m-b": 4e6, "m-c": 2e7, "m-d": 5e7, "m-e": 3e8}
SUBJECTS = ["s1", "s2", "s3", "s4"]
N_LAYERS = 3


def synthetic(seed: int = 0, heads: bool = True) -> pd.DataFrame:
    """Five models (and twins) x 4 layers x 4 subjects x 2 ROIs; per-head rows; controls."""
    rng = np.random.default_rng(seed)
    records = []
    for rank, (model, size) in enumerate(MODELS.items()):
        card = {"n_parameters": size, "n_layers": N_LAYERS,  # CARD-BY-HAND
                "has_chat_template": rank % 2 == 0}  # fmt: skip
        for weights in ("pretrained", "untrained"):
            for layer in range(N_LAYERS + 1):
                for subject in SUBJECTS:
                    for unit in ("r1", "r2"):
                        base = 0.08 * rank * (weights == "pretrained") + 0.04 * layer
                        row = {"model": model, "weights": weights, "control": "",
                               "control_of": "", "layer": layer, "subject": subject,
                               "unit": unit, "ceiling": 0.7 if unit == "r1" else 0.05,
                               "relative_depth": layer / N_LAYERS, **card}  # fmt: skip
                        records.append({**row, "score": base + rng.normal(0, 0.03)})
                        if heads and weights == "pretrained":
                            for head in range(2):
                                induction = 0.2 * head + 0.05 * layer + 0.01 * rank
                                records.append(
                                    {**row, "head": head, "induction_score": induction,
                                     "score": base + 0.1 * induction + rng.normal(0, 0.03)}
                                )  # fmt: skip
        for subject in SUBJECTS:
            records.append({"model": "", "weights": "", "control": "position",
                            "control_of": model, "layer": None, "subject": subject,
                            "unit": "r1", "ceiling": 0.7, "score": 0.01})  # fmt: skip
    table = pd.DataFrame.from_records(records)
    table["head"] = table["head"].astype("Int64") if "head" in table else pd.NA
    table = table.assign(benchmark="toy@1", dataset="toy", metric="pearson_r")
    return make_results(table)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return synthetic()


# ------------------------------------------------------------------ correlations


def test_correlations_equal_scipy_on_the_leaderboards_numbers(table):
    result = correlate_property(table, "n_parameters", n_resamples=200)
    assert list(result.columns) == list(CORRELATION_COLUMNS)
    assert result["weights"].tolist() == ["pretrained", "untrained"]  # never pooled
    board = leaderboard(table[table["head"].isna()])
    for row in result.itertuples():
        if row.weights == "pretrained":
            y = board.set_index("model")["median_score"]
        else:
            y = board.set_index("model")["untrained_score"]
        x = pd.Series(MODELS)[y.index].to_numpy()
        assert row.n_models == row.n_points == 5 and row.level == "model"
        pearson, spearman = scipy.stats.pearsonr(x, y), scipy.stats.spearmanr(x, y)
        assert row.pearson_r == pytest.approx(pearson.statistic, abs=1e-12)
        assert row.pearson_p == pytest.approx(pearson.pvalue, abs=1e-12)
        assert row.spearman_r == pytest.approx(spearman.statistic, abs=1e-12)
        assert row.spearman_p == pytest.approx(spearman.pvalue, abs=1e-12)
    assert result.loc[0, "spearman_r"] == pytest.approx(1.0)  # bigger models score higher


def test_normalized_scores_are_the_summaries_normalized_score(table):
    result = correlate_property(table, "n_parameters", score="normalized_score", n_resamples=50)
    scores = model_scores(table)
    scores = scores[scores["weights"] == "pretrained"]
    expected = scipy.stats.pearsonr(scores["model"].map(MODELS), scores["normalized_score"])
    assert result.loc[0, "pearson_r"] == pytest.approx(expected.statistic, abs=1e-12)
    # r1 has a usable ceiling, r2 (0.05) does not: each layer's median over r1 / its ceiling
    r1 = table[(table["unit"] == "r1") & (table["control"] == "") & table["head"].isna()]
    first = scores.iloc[0]
    at = r1[(r1["model"] == first["model"]) & (r1["weights"] == "pretrained")
            & (r1["layer"] == first["layer"])]  # fmt: skip
    assert first["normalized_score"] == pytest.approx(at["score"].median() / 0.7)


def test_model_bootstrap_equals_a_brute_force_and_is_reproducible(table):
    n_resamples, seed = 300, 7
    first = correlate_property(table, "n_parameters", n_resamples=n_resamples, seed=seed)
    again = correlate_property(table, "n_parameters", n_resamples=n_resamples, seed=seed)
    other = correlate_property(table, "n_parameters", n_resamples=n_resamples, seed=seed + 1)
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first["pearson_units_low"], other["pearson_units_low"])
    # brute force: the same draws of models, scipy's r on each, finite ones' percentiles
    scores = model_scores(table)
    untrained = scores[scores["weights"] == "untrained"]
    x, y = untrained["model"].map(MODELS).to_numpy(), untrained["median_score"].to_numpy()
    pearson, spearman = [], []
    for draw in bootstrap_indices(len(x), n_resamples, seed=seed):
        if np.ptp(x[draw]) > 0 and np.ptp(y[draw]) > 0:
            pearson.append(scipy.stats.pearsonr(x[draw], y[draw]).statistic)
            spearman.append(scipy.stats.spearmanr(x[draw], y[draw]).statistic)
    row = first[first["weights"] == "untrained"].iloc[0]
    assert [row.pearson_low, row.pearson_high] == pytest.approx(
        np.quantile(pearson, [0.025, 0.975]), abs=1e-9
    )
    assert [row.spearman_low, row.spearman_high] == pytest.approx(
        np.quantile(spearman, [0.025, 0.975]), abs=1e-9
    )
    for row in first.itertuples():
        for name in ("pearson", "spearman"):
            estimate = getattr(row, f"{name}_r")
            assert getattr(row, f"{name}_low") - 1e-9 <= estimate
            assert estimate <= getattr(row, f"{name}_high") + 1e-9
            assert getattr(row, f"{name}_units_low") <= estimate + 1e-9
            assert estimate - 1e-9 <= getattr(row, f"{name}_units_high")


def test_unit_bootstrap_recomputes_each_best_layer_through_the_leaderboard(table):
    n_resamples, seed = 25, 3
    result = correlate_property(table, "n_parameters", n_resamples=n_resamples, seed=seed)
    whole = table[table["head"].isna() & (table["control"] == "")
                  & (table["weights"] == "pretrained")]  # fmt: skip
    subjects = sorted(set(whole["subject"]))
    pearson, spearman = [], []
    for draw in bootstrap_indices(len(subjects), n_resamples, seed=seed):
        drawn = pd.concat(
            [whole[whole["subject"] == subjects[k]].assign(subject=f"draw{i}")
             for i, k in enumerate(draw)]
        )  # fmt: skip
        board = leaderboard(drawn).set_index("model")["median_score"]
        x = pd.Series(MODELS)[board.index]
        pearson.append(scipy.stats.pearsonr(x, board).statistic)
        spearman.append(scipy.stats.spearmanr(x, board).statistic)
    row = result[result["weights"] == "pretrained"].iloc[0]
    assert [row.pearson_units_low, row.pearson_units_high] == pytest.approx(
        np.quantile(pearson, [0.025, 0.975]), abs=1e-9
    )
    assert [row.spearman_units_low, row.spearman_units_high] == pytest.approx(
        np.quantile(spearman, [0.025, 0.975]), abs=1e-9
    )


def test_depth_takes_the_nearest_scored_layer(table):
    # relative depths 0, 1/3, 2/3, 1: 0.5 is as near to 1/3 as to 2/3 -> the shallower
    assert set(model_scores(table, depth=0.5)["layer"]) == {1}
    assert set(model_scores(table, depth=0.9)["layer"]) == {3}
    scores = model_scores(table, depth=0.0)
    summary = layer_summary(table[table["head"].isna()])
    at = summary[summary["layer"] == 0].merge(scores, on=["model", "weights"])
    np.testing.assert_array_equal(at["median_score_x"], at["median_score_y"])
    result = correlate_property(table, "n_parameters", depth=0.0, n_resamples=50)
    pretrained = scores[scores["weights"] == "pretrained"]
    expected = scipy.stats.spearmanr(pretrained["model"].map(MODELS), pretrained["median_score"])
    assert result.loc[0, "depth"] == "0.0"
    assert result.loc[0, "spearman_r"] == pytest.approx(expected.statistic)
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        correlate_property(table, "n_parameters", depth=1.5)
    no_depth = table.drop(columns=["relative_depth", "n_layers"])
    with pytest.raises(ValueError, match="no relative_depth"):
        correlate_property(no_depth, "n_parameters", depth=0.5)


def test_head_property_correlates_heads_across_models(table):
    result = correlate_property(table, "induction_score", n_resamples=50)
    assert result["level"].tolist() == ["head"] and result.loc[0, "weights"] == "pretrained"
    heads = table[table["head"].notna()]
    keys = ["model", "layer", "head"]
    medians = heads.groupby(keys)["score"].median()
    induction = heads.groupby(keys)["induction_score"].first()[medians.index]
    assert result.loc[0, "n_points"] == len(medians) == 5 * 4 * 2
    assert result.loc[0, "n_models"] == 5
    expected = scipy.stats.pearsonr(induction, medians)
    assert result.loc[0, "pearson_r"] == pytest.approx(expected.statistic, abs=1e-12)
    assert result.loc[0, "pearson_p"] == pytest.approx(expected.pvalue, rel=1e-9)
    summary = summarize(heads, ["model", "weights", "layer", "head"])
    assert np.allclose(np.sort(summary["median_score"]), np.sort(medians))


def test_property_errors_are_named(table):
    with pytest.raises(ValueError, match="no column 'accuracy'.*n_parameters"):
        correlate_property(table, "accuracy")
    text = table.assign(family="bert")  # CARD-BY-HAND: a text card column
    with pytest.raises(ValueError, match="'family' is not numeric"):
        correlate_property(text, "family")
    varying = table.assign(n_parameters=np.arange(len(table)))
    with pytest.raises(ValueError, match="several values within"):
        correlate_property(varying, "n_parameters")
    with pytest.raises(ValueError, match="no scored model row has a value of 'accuracy'"):
        correlate_property(table.assign(accuracy=np.nan), "accuracy")
    with pytest.raises(ValueError, match="score='accuracy'"):
        correlate_property(table, "n_parameters", score="accuracy")
    few = table[table["model"].isin(["m-a", "m-b", ""])]
    assert np.isnan(correlate_property(few, "n_parameters")["pearson_r"]).all()  # 2 points


# ------------------------------------------------------------------ user properties


def test_attach_properties_joins_overrides_and_refuses(table, tmp_path):
    accuracy = {"m-a": 0.1, "m-b": 0.4, "m-c": 0.2, "m-d": 0.5, "m-e": 0.3}
    joined = attach_properties(
        table, {m: {"accuracy": a, "has_chat_template": False} for m, a in accuracy.items()}
    )
    models = joined["control"] == ""
    pretrained = models & (joined["weights"] == "pretrained")
    assert (
        joined.loc[pretrained, "accuracy"] == joined.loc[pretrained, "model"].map(accuracy)
    ).all()
    assert joined.loc[~pretrained, "accuracy"].isna().all()  # twins and controls: none
    # a user column named like a card column overrides it on the rows it names only
    assert not joined.loc[pretrained, "has_chat_template"].any()
    twins = models & (joined["weights"] == "untrained")
    pd.testing.assert_series_equal(
        joined.loc[twins, "has_chat_template"].astype(bool),
        table.loc[twins, "has_chat_template"].astype(bool),
    )
    result = correlate_property(joined, "accuracy", n_resamples=20)
    assert result["weights"].tolist() == ["pretrained"]
    assert result.loc[0, "n_models"] == 5

    csv = tmp_path / "properties.csv"
    csv.write_text(
        "model,weights,tokens,tuned,note\n"
        "m-a,pretrained,1e9,true,x\nm-a,untrained,0,false,\nm-b,pretrained,2e9,FALSE,y\n"
    )
    read = read_properties(csv)
    assert read["tokens"].dtype == np.float64 and str(read["tuned"].dtype) == "boolean"
    assert read["note"][[0, 2]].tolist() == ["x", "y"] and pd.isna(read["note"][1])
    joined = attach_properties(table, csv)
    twin_a = (joined["model"] == "m-a") & (joined["weights"] == "untrained")
    assert (joined.loc[twin_a, "tokens"] == 0).all()

    with pytest.raises(PropertiesError, match="model 'gpt-9'.*m-a, m-b"):
        attach_properties(table, {"gpt-9": {"accuracy": 1}})
    with pytest.raises(PropertiesError, match="'score' has the name of a standard result"):
        attach_properties(table, {"m-a": {"score": 1}})
    with pytest.raises(PropertiesError, match="'relative_depth'"):
        attach_properties(table, {"m-a": {"relative_depth": 1}})
    varying = table.assign(raw_r=np.arange(len(table)))
    with pytest.raises(PropertiesError, match="'raw_r'.*varies within a model"):
        attach_properties(varying, {"m-a": {"raw_r": 1}})
    (tmp_path / "twice.csv").write_text("model,x\nm-a,1\nm-a,2\n")
    with pytest.raises(PropertiesError, match="'m-a' is listed more than once"):
        read_properties(tmp_path / "twice.csv")
    (tmp_path / "bad.csv").write_text("name,x\nm-a,1\n")
    with pytest.raises(PropertiesError, match="no 'model' column"):
        read_properties(tmp_path / "bad.csv")


# ------------------------------------------------------------------ figures


@pytest.fixture
def captured(monkeypatch):
    """The figures the scaling module saves, kept for their legends."""
    figures = []
    original = scaling.save_figure

    def keep(figure, path, **kwargs):
        figures.append(figure)
        return original(figure, path, **kwargs)

    monkeypatch.setattr(scaling, "save_figure", keep)
    return figures


def test_scaling_and_depth_figures_with_their_legends(table, tmp_path, captured):
    path = scaling.plot_scaling(table, tmp_path / "scaling.png", by="n_parameters")
    assert_picture(tmp_path / "scaling.png", path)
    labels = legend_labels(captured[-1])
    assert labels[0] == "pretrained model" and "untrained twin (random weights)" in labels
    assert "95% CI of the median (bootstrap over subjects)" in labels
    assert any(label.startswith("noise ceiling") for label in labels)
    assert captured[-1].axes[0].get_xscale() == "log"  # 1e6 .. 3e8
    pretrained = table[table["weights"] == "pretrained"]
    scaling.plot_scaling(pretrained.assign(n_parameters=pretrained["layer"] * 0 + 1.0 +
                         pretrained["model"].map({m: i for i, m in enumerate(MODELS)})),
                         tmp_path / "linear.png", by="n_parameters")  # fmt: skip
    labels = legend_labels(captured[-1])
    assert "untrained twin (random weights)" not in labels  # not drawn, not in the legend
    assert captured[-1].axes[0].get_xscale() == "linear"  # 1 .. 5: less than a factor 10

    path = scaling.plot_depth_curves(table, tmp_path / "depth.png")
    assert_picture(tmp_path / "depth.png", path)
    labels = legend_labels(captured[-1])
    assert labels == [*MODELS, "untrained twin (dashed, the model's colour)"]
    scaling.plot_depth_curves(pretrained, tmp_path / "depth2.png")
    assert legend_labels(captured[-1]) == list(MODELS)
    curves = [line for line in captured[-1].axes[0].get_lines() if line.get_marker() == "."]
    assert len(curves) == 5
    xs = {tuple(np.round(line.get_xdata(), 6)) for line in curves}
    assert xs == {tuple(np.round(np.arange(4) / 3, 6))}

    drawn = scaling.write_model_figures(table, tmp_path / "all", properties=["n_parameters",
                                        "has_chat_template"])  # fmt: skip
    assert drawn.properties == ["n_parameters"]  # true/false: 2 values only
    assert [p.name for p in drawn.scaling] == ["toy-1_scaling_n_parameters.png"]
    assert [p.name for p in drawn.depth] == ["toy-1_depth.png"]
    assert drawn.absent == {"pairs": "no pairs defined (pairs: in the sweep config)"}
    two = table[table["model"].isin(["m-a", "m-b", ""])]
    drawn = scaling.write_model_figures(two, tmp_path / "two")
    assert "needs 3 or more" in drawn.absent["scaling"] and drawn.depth


# ------------------------------------------------------------------ a real sweep


def _bert(directory: Path, tokenizer, hidden: int, seed: int) -> str:
    import torch
    from transformers import BertConfig, BertModel

    tokenizer.save_pretrained(directory)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=2 * hidden,
                        max_position_embeddings=64)  # fmt: skip
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(directory)
    return str(directory)


@pytest.fixture(scope="module")
def berts(tmp_path_factory, minilm_path) -> list[str]:
    """Three tiny random-weight BERTs (16, 24, 32 dims, 2 blocks) with MiniLM's tokenizer."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    return [_bert(tmp_path_factory.mktemp(f"bert{h}"), tokenizer, h, h) for h in (16, 24, 32)]


@pytest.fixture(scope="module")
def finished(berts, tmp_path_factory) -> Path:
    """A finished sweep of the three BERTs on simlex999 and wordsim353, with properties
    and a pair (its own offline data cache, for the whole module)."""
    root = tmp_path_factory.mktemp("finished")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BRAINALIGN_DATA", str(root / "cache"))
        patch.setenv("BRAINALIGN_OFFLINE", "1")
        place_word_pairs()
        out = root / "out"
        properties = {m: {"width": w, "tuned": w > 20} for m, w in zip(berts, (16, 24, 32),
                                                                       strict=True)}  # fmt: skip
        (root / "sweep.yaml").write_text(
            "models: " + json.dumps(berts) + "\nbenchmarks: [simlex999, wordsim353]\n"
            "layers: [0, 1, 2]\nuntrained_twin: false\nbatch_size: 64\ndevice: cpu\n"
            f"out: {out}\nproperties: {json.dumps(properties)}\n"
            f"pairs:\n  - {json.dumps([berts[0], berts[2]])}\n"
        )
        sweep(root / "sweep.yaml")
        yield out


def test_compare_by_end_to_end_on_a_finished_sweep(finished, berts, tmp_path, capsys):
    saved = read_properties(finished / "properties.csv")
    assert saved["width"].tolist() == [16, 24, 32]
    gathered = pd.read_parquet(finished / "results.parquet")
    assert set(gathered.loc[gathered["control"] == "", "width"]) == {16, 24, 32}
    assert json.loads((finished / "pairs.json").read_text())[0]["base"] == berts[0]

    with count_forward_passes() as passes:
        table = compare(finished, "width", figures=tmp_path / "figures")
    assert passes.batches == 0  # read from the results folder: no model is run
    assert table["benchmark"].tolist() == ["simlex999@1", "wordsim353@1"]
    board = compare(finished)
    for row in table.itertuples():
        scores = board[board["benchmark"] == row.benchmark].set_index("model")["median_score"]
        expected = scipy.stats.pearsonr([16, 24, 32], scores[berts])
        assert row.pearson_r == pytest.approx(expected.statistic, abs=1e-12)
        assert row.n_models == 3 and np.isnan(row.pearson_units_low)  # one score per layer
    drawn = table.attrs["figures"]
    assert len(drawn.scaling) == 2 and drawn.properties == ["width"]
    assert len(drawn.depth) == (2 if "relative_depth" in gathered else 0)

    # the CLI: a user CSV overrides the saved property; figures go where asked
    csv = tmp_path / "mine.csv"
    widths = zip(berts, (3, 2, 1), strict=True)
    csv.write_text("model,width\n" + "".join(f"{m},{w}\n" for m, w in widths))
    capsys.readouterr()
    assert main(["compare", str(finished), "--by", "width", "--properties", str(csv),
                 "--figures", str(tmp_path / "cli-figures"), "--seed", "1"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "pearson_r" in printed and "simlex999@1" in printed and "Spearman r (scipy)" in printed
    assert "wrote " in printed and (tmp_path / "cli-figures" / drawn.scaling[0].name).is_file()
    overridden = compare(finished, "width", properties=csv)
    assert overridden["pearson_r"].tolist() == pytest.approx((-table["pearson_r"]).tolist())

    assert main(["compare", str(finished), "--by", "accuracy"]) == 2
    assert "no column 'accuracy'" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse refuses it before anything is read
        main(["compare", str(finished), "--by", "width", "--depth", "2"])
    assert "--depth must be best or a relative depth in [0, 1]; got '2'" in capsys.readouterr().err
    assert main(["compare", str(finished)]) == 0  # no --by: the leaderboard, as before
    assert "best_layer" in capsys.readouterr().out


def test_properties_do_not_change_the_fingerprint(finished, berts):
    config = finished.parent / "sweep.yaml"  # (runs last: it changes the folder)
    text = config.read_text().replace('"width": 16', '"width": 160')
    config.write_text(text.split("pairs:")[0])  # and the pairs removed
    logged = []
    sweep(config, log=logged.append)
    assert len(logged) == 6 and all(line.startswith("skip ") for line in logged)
    assert 160 in read_properties(finished / "properties.csv")["width"].tolist()
    assert not (finished / "pairs.json").exists()  # a stale pairs file is removed
    gathered = pd.read_parquet(finished / "results.parquet")
    assert 160 in set(gathered["width"])


# ------------------------------------------------------------------ sweep config errors


def _config_error(tmp_path, text: str) -> str:
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    with pytest.raises(SweepConfigError) as error:
        load_config(path)
    assert str(path) in str(error.value)
    return str(error.value)


def test_properties_in_the_sweep_config_are_checked(tmp_path):
    head = "models: [a, b]\nbenchmarks: [simlex999]\n"
    message = _config_error(tmp_path, head + "properties:\n  a: {x: 1}\n  c: {x: 2}\n")
    assert "line 5" in message and "'properties.c'" in message and "not one of the sweep" in message
    message = _config_error(tmp_path, head + "properties:\n  a: {score: 1}\n")
    assert "line 3" in message and "'score' has the name of a standard result column" in message
    message = _config_error(tmp_path, head + "properties: [1, 2]\n")
    assert "line 3" in message and "mapping" in message
    message = _config_error(tmp_path, head + "properties: missing.csv\n")
    assert "line 3" in message and "does not exist" in message
    (tmp_path / "p.csv").write_text("model,x\na,1\nz,2\n")
    message = _config_error(tmp_path, head + "properties: p.csv\n")
    assert "model 'z' is not one of the sweep's models (a, b)" in message
    (tmp_path / "p.csv").write_text("model,x\na,1\nb,2\n")
    config = load_config(_write(tmp_path, head + "properties: p.csv\n"))
    assert config.properties["x"].tolist() == [1, 2]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ok.yaml"
    path.write_text(text)
    return path


def test_the_report_shows_properties_depth_and_head_properties(table, tmp_path):
    from brainalign.report.html import build_report
    from brainalign.results import write_results_parquet

    write_results_parquet(table, tmp_path / "results.parquet")
    report = build_report(tmp_path).read_text()
    section = report[report.index('id="across-models"') :]
    assert 'id="correlations"' in section and "<td>n_parameters</td>" in section
    assert 'id="head-properties"' in section and "<td>induction_score</td>" in section
    assert "<td>head</td>" in section  # the head-level correlation, not the model level
    assert section.count("<img") >= 2  # the scaling and depth figures
    head_free = make_results(table[table["head"].isna()].drop(columns=["induction_score"]))
    write_results_parquet(head_free, tmp_path / "results.parquet")
    report = build_report(tmp_path).read_text()
    assert "Not shown: no per-head rows of a text model (run with --heads)" in report


def test_a_missing_correlation_says_why(table):
    constant = table.assign(n_heads=pd.array([4] * len(table), dtype="Int64"))
    result = correlate_property(constant, "n_heads", n_resamples=50)
    assert result["pearson_r"].isna().all()
    assert (result["note"] == "the property has one value (4) across the 5 points: no "
            "correlation").all()  # fmt: skip
    few = table[table["model"].isin(["m-a", "m-b", "m-c"]) | (table["control"] != "")]
    two = few[few["model"] != "m-c"]
    assert (
        correlate_property(two, "n_parameters", n_resamples=50)["note"]
        .str.startswith("r needs 3 or more points")
        .all()
    )
    defined = correlate_property(table, "n_parameters", n_resamples=50)
    assert (defined.loc[defined["pearson_units_low"].notna(), "note"] == "").all()
