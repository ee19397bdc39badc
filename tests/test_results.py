"""The result schema, the summaries (each number defined once) and result files."""

import numpy as np
import pandas as pd
import pytest

from brainalign._io import OutputDirectoryError, atomic_path, ensure_writable_dir
from brainalign.results import (
    LEADERBOARD_COLUMNS,
    RESULT_COLUMNS,
    best_layers,
    entity_labels,
    layer_summary,
    leaderboard,
    make_results,
    median_interval,
    read_results,
    summary_table,
    validate_results,
    write_results,
    write_results_csv,
)


def _rows(model="m", ceilings=(0.5, 0.04, -0.2, 0.6)):
    """Two layers x four subjects of model m, its twin, and a layer-free control."""
    subjects = ["a", "b", "c", "d"]
    frames = []
    for weights, offset in (("pretrained", 0.0), ("untrained", -0.1)):
        for layer, base in ((0, 0.1), (1, 0.3)):
            frames.append(
                pd.DataFrame(
                    {"model": model, "weights": weights, "control": "", "control_of": "",
                     "layer": layer, "subject": subjects,
                     "score": base + offset + np.array([0.0, 0.02, 0.04, 0.06])}
                )
            )  # fmt: skip
    frames.append(
        pd.DataFrame(
            {"model": "", "weights": "", "control": "position", "control_of": model,
             "layer": pd.NA, "subject": subjects, "score": [0.2, 0.25, 0.3, 0.35]}
        )
    )  # fmt: skip
    rows = pd.concat(frames, ignore_index=True)
    rows["ceiling"] = rows["subject"].map(dict(zip(subjects, ceilings, strict=True)))
    rows["benchmark"], rows["dataset"], rows["unit"], rows["metric"] = "b@1", "d", "LATL", "r"
    return make_results(rows)


def test_make_results_orders_types_and_flags_ceilings():
    results = _rows()
    assert tuple(results.columns) == RESULT_COLUMNS
    validate_results(results)
    assert str(results["layer"].dtype) == "Int64" and str(results["head"].dtype) == "Int64"
    flags = results.drop_duplicates("subject").set_index("subject")["ceiling_flag"]
    assert flags.to_dict() == {"a": "ok", "b": "below_floor", "c": "below_floor", "d": "ok"}
    by_subject = results.set_index("subject")
    assert by_subject.loc["c", "normalized_score"].isna().all()  # negative: never a sign flip
    assert by_subject.loc["b", "normalized_score"].isna().all()  # tiny: never an explosion
    ok = results[results["ceiling_flag"] == "ok"]
    np.testing.assert_allclose(ok["normalized_score"], ok["score"] / ok["ceiling"])
    assert (results["ceiling"] == results["subject"].map({"a": 0.5, "b": 0.04, "c": -0.2,
                                                           "d": 0.6})).all()  # fmt: skip


def test_validate_results_names_every_problem():
    good = _rows()
    with pytest.raises(ValueError, match="control rows need empty model"):
        validate_results(good.assign(model="m"))
    with pytest.raises(ValueError, match="model rows with weights"):
        validate_results(good.assign(weights=np.where(good["control"] == "", "random", "")))
    bad = good.copy()
    bad.loc[0, "normalized_score"] = 9.0
    with pytest.raises(ValueError, match="normalized_score is not score / ceiling"):
        validate_results(bad)
    with pytest.raises(ValueError, match="first columns"):
        validate_results(good.drop(columns="ceiling_flag"))
    with pytest.raises(ValueError, match="lack column"):
        make_results(good.drop(columns=["weights"]))


def test_layer_summary_uses_the_same_units_for_score_and_ceiling():
    summary = layer_summary(_rows())
    row = summary[(summary["weights"] == "pretrained") & (summary["layer"] == 1)].iloc[0]
    scores = np.array([0.3, 0.32, 0.34, 0.36])
    assert row["median_score"] == pytest.approx(np.median(scores))
    # subjects b (0.04) and c (-0.2) have unusable ceilings: left out of both, and counted
    assert row["n_ceiling_excluded"] == 2 and row["n_units"] == 4
    assert row["median_ceiling"] == pytest.approx(np.median([0.5, 0.6]))
    assert row["normalized_score"] == pytest.approx(np.median([0.3, 0.36]) / 0.55)
    per_unit = layer_summary(_rows(), by_unit=True)
    assert (per_unit["unit"] == "LATL").all() and len(per_unit) == len(summary)


def test_best_layers_and_leaderboard_keep_each_models_controls():
    results = pd.concat([_rows("m"), _rows("n").assign(score=lambda t: t["score"] + 0.01)])
    results = make_results(results)
    best = best_layers(results)
    assert best.loc[best["control"] == "", "best_layer"].tolist() == [1, 1, 1, 1]
    control = best[best["control"] == "position"]
    assert control["control_of"].tolist() == ["m", "n"]  # one per model, never merged
    assert control["best_layer"].isna().all()
    board = leaderboard(results)
    assert list(board.columns) == list(LEADERBOARD_COLUMNS)
    assert board["model"].tolist() == ["n", "m"] and board["rank"].tolist() == [1, 2]
    assert set(board["weights"]) == {"pretrained"}  # the twins are in untrained_score
    m = board.set_index("model").loc["m"]
    assert m["median_score"] == pytest.approx(0.33)
    assert m["untrained_score"] == pytest.approx(0.23)
    assert m["control"] == "position" and m["control_score"] == pytest.approx(0.275)
    n = board.set_index("model").loc["n"]
    assert n["control_score"] == pytest.approx(0.285)


def test_an_untrained_model_scored_alone_is_on_the_leaderboard():
    results = _rows()
    alone = make_results(results[results["weights"] != "pretrained"])
    board = leaderboard(alone)
    assert board["weights"].tolist() == ["untrained"] and board["untrained_score"].isna().all()


def test_median_interval_resamples_subjects_and_pairs_with_a_reference():
    results = _rows()
    model = results[(results["weights"] == "pretrained") & (results["layer"] == 1)]
    control = results[results["control"] == "position"]
    interval = median_interval(model, reference=control, n_resamples=500)
    assert interval["estimate"] == pytest.approx(0.33) and interval["n_units"] == 4
    assert interval["low"] <= interval["estimate"] <= interval["high"]
    assert np.isnan(interval["p_value"])  # 4 subjects: too few resamples for a p-value
    one = median_interval(model.iloc[:1])
    assert np.isnan(one["low"]) and np.isnan(one["p_value"])

    rng = np.random.default_rng(0)
    subjects = [f"s{i}" for i in range(12)]
    scores = pd.DataFrame(
        {"subject": subjects, "unit": "u", "score": 0.3 + 0.02 * rng.normal(size=12)}
    )
    weaker = scores.assign(score=scores["score"] - 0.1)
    same = scores.assign(score=scores["score"] + 0.01 * rng.normal(size=12))
    beaten = median_interval(scores, reference=weaker, n_resamples=999)
    assert beaten["p_value"] == pytest.approx(1 / 1000)  # never 0: at least 1/(R+1)
    assert median_interval(scores, reference=same, n_resamples=999)["p_value"] > 0.05


def test_entity_labels_come_from_the_columns():
    results = pd.concat([_rows("m"), _rows("n")], ignore_index=True)
    labels = entity_labels(make_results(results))
    assert set(labels) == {"m", "m (untrained)", "n", "n (untrained)",
                           "control: position (for m)", "control: position (for n)"}  # fmt: skip
    assert set(entity_labels(_rows())) == {"m", "m (untrained)", "control: position"}


def test_summary_table_has_the_ceiling_row():
    table = summary_table(_rows())
    assert table.loc[("m", "1"), "LATL"] == pytest.approx(0.33)
    assert table.loc[("control: position", "-"), "LATL"] == pytest.approx(0.275)
    assert table.loc[("noise ceiling", "-"), "LATL"] == pytest.approx(0.55)


def test_results_round_trip_through_csv_and_parquet(tmp_path):
    results = _rows()
    write_results(results, tmp_path)
    for name in ("results.csv", "results.parquet"):
        back = read_results(tmp_path / name)
        pd.testing.assert_frame_equal(back, results, check_dtype=name.endswith("parquet"))
        assert (back["control"].isin(["", "position"])).all()  # empty strings survive CSV
    pd.testing.assert_frame_equal(read_results(tmp_path), results)
    with pytest.raises(ValueError, match="lacks column"):
        (tmp_path / "old").mkdir()
        results.drop(columns=["weights"]).to_csv(tmp_path / "old" / "results.csv", index=False)
        read_results(tmp_path / "old")


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temp:
            temp.write_text("half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    write_results_csv(_rows(), target)
    assert pd.read_csv(target).shape == (20, len(RESULT_COLUMNS))


def test_unwritable_output_directory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputDirectoryError, match="not a directory"):
        ensure_writable_dir(blocker)
    with pytest.raises(OutputDirectoryError, match="cannot write"):
        ensure_writable_dir(blocker / "sub")


def test_atomic_write_gives_a_new_files_usual_mode(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    target = tmp_path / "atomic.txt"
    with atomic_path(target) as temp:
        temp.write_text("x")
    assert target.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
