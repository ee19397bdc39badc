"""The Brain-Score language ridge benchmarks, end to end on published-format fixtures.

The assemblies in tests/data/brainscore_language (written by make_fixtures.py there, in
the coordinate layout of the published files) are put at the cache path the download
would use, offline, with the entry's checksum replaced by the fixture's
(``place_in_cache``), so each benchmark runs through the real catalogue loader. The
model is the session's tiny random-weight GPT-2; its untrained twin gets another seed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from brainalign.benchmarks.language_ridge import (
    POSITION_CONTROL,
    SPECS,
    group_cv,
    presentation,
)
from brainalign.benchmarks.registry import MissingBenchmarkDataError, get
from brainalign.datasets.catalogue import load
from brainalign.encoders import text
from brainalign.encoders.store import FeatureStore
from brainalign.results import validate_results
from tests.datasets.catalogue_helpers import TESTS_DATA, place_in_cache

FIXTURES = TESTS_DATA / "brainscore_language"
FILES = {
    "pereira2018": ("language", "assy_Pereira2018_language.nc"),
    "blank2014": ("fROI", "assy_Blank2014_fROI.nc"),
    "fedorenko2016": ("language", "assy_Fedorenko2016_language.nc"),
    "tuckute2024": ("language", "assy_Tuckute2024_language.nc"),
}
CEILING_SOURCES = {
    "pereira2018-243-ridge": "loso-encoding",
    "pereira2018-384-ridge": "loso-encoding",
    "blank2014-ridge": "loso-isc",
    "fedorenko2016-ridge": "loso-encoding",
    "tuckute2024-ridge": None,
}


@pytest.fixture
def offline_cache(isolated_cache, monkeypatch):
    monkeypatch.setenv("BRAINALIGN_OFFLINE", "1")
    return isolated_cache


def _place(monkeypatch, dataset: str, source=None) -> None:
    key, filename = FILES[dataset]
    place_in_cache(monkeypatch, dataset, key, source or FIXTURES / filename, subset=True)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_each_benchmark_scores_a_tiny_gpt2_with_ceiling_and_controls(
    name, tiny_gpt2_dir, offline_cache, monkeypatch
):
    benchmark = get(name)
    _place(monkeypatch, benchmark.dataset)
    model = str(tiny_gpt2_dir)
    rows = benchmark.run(model, layers=[0, 2], seed=7)

    validate_results(rows)
    entity = rows["weights"] + rows["control"]
    assert set(entity) == {"pretrained", "untrained", POSITION_CONTROL}
    assert (rows.loc[rows["control"] != "", "control_of"] == model).all()
    assert (rows["benchmark"] == get(name).versioned_id).all()
    assert (rows["metric"] == "pearson_r").all()
    assert sorted(rows.loc[entity == "pretrained", "layer"].unique()) == [0, 2]
    assert rows.loc[entity == POSITION_CONTROL, "layer"].isna().all()
    # every (subject, ROI) has its model rows, untrained rows and one position row
    per_cell = rows.assign(entity=entity).groupby(["subject", "unit"])["entity"]
    per_cell = per_cell.value_counts().unstack()
    assert (per_cell["pretrained"] == 2).all() and (per_cell[POSITION_CONTROL] == 1).all()
    if CEILING_SOURCES[name] is None:
        assert "ceiling_source" not in rows.columns
        assert rows["ceiling"].isna().all() and rows["normalized_score"].isna().all()
        assert (rows["ceiling_flag"] == "none").all()
    else:
        assert (rows["ceiling_source"] == CEILING_SOURCES[name]).all()
        assert rows["ceiling"].between(0.5, 1).all()
        np.testing.assert_allclose(rows["normalized_score"], rows["score"] / rows["ceiling"])
    assert rows["score"].between(-1, 1).all() and (rows["n_units"] >= 1).all()

    # the planted signal (last-word identity) beats the position-only control
    model_median = rows[entity == "pretrained"].groupby("layer")["score"].median().max()
    position_median = rows.loc[entity == POSITION_CONTROL, "score"].median()
    assert model_median > 0.4 and model_median > position_median + 0.3
    untrained = rows[entity == "untrained"]["score"].to_numpy()
    assert not np.allclose(untrained, rows[entity == "pretrained"]["score"].to_numpy())


def test_group_folds_never_split_a_passage(offline_cache, monkeypatch):
    _place(monkeypatch, "pereira2018")
    spec = SPECS["pereira2018-384-ridge"]
    presented = presentation(load("pereira2018", experiment="384sentences"), spec)
    passages = presented.items["group"].to_numpy()
    assert len(np.unique(passages)) == 12 and len(passages) == 48
    cv = group_cv(presented.folds, 5)
    tested = np.zeros(len(passages), dtype=int)
    for train, test in cv.split(presented.data, None, presented.folds):
        assert not set(passages[train]) & set(passages[test])
        tested[test] += 1
    assert (tested == 1).all() and cv.get_n_splits() == 5
    # a shuffled-split splitter would mix passages: the check above can fail
    from sklearn.model_selection import KFold

    train, test = next(KFold(5, shuffle=True, random_state=0).split(passages))
    assert set(passages[train]) & set(passages[test])
    assert group_cv(["a", "b", "c"], 5).get_n_splits() == 3
    with pytest.raises(ValueError, match="at least 2"):
        group_cv(["a", "a"], 5)
    with pytest.raises(ValueError, match="n_splits=1"):
        group_cv(["a", "b"], 1)


def test_items_are_put_in_reading_order(offline_cache, monkeypatch):
    _place(monkeypatch, "blank2014")
    _place(monkeypatch, "pereira2018")
    blank = load("blank2014")
    presented = presentation(blank, SPECS["blank2014-ridge"])
    # the file is sorted by stimulus_id ('Aqua.1.0' < 'Aqua.10.0' < 'Aqua.2.0' ...)
    assert blank.samples["stimulus_id"].tolist() == sorted(blank.samples["stimulus_id"])
    times = blank.samples.set_index("stimulus_id")["timepoint_value"]
    for _, story in presented.items.groupby("group", sort=False):
        assert times[story["stimulus_id"]].is_monotonic_increasing
        assert story["position"].tolist() == list(range(len(story)))
    row = blank.samples["stimulus_id"].tolist().index(presented.items["stimulus_id"].iloc[5])
    np.testing.assert_allclose(presented.data[5], blank.data[row])

    pereira = load("pereira2018", experiment="243sentences")
    presented = presentation(pereira, SPECS["pereira2018-243-ridge"])
    numbers = pereira.samples.set_index("stimulus_id")["stimulus_num"]
    for _, passage in presented.items.groupby("group", sort=False):  # file order is shuffled
        assert numbers[passage["stimulus_id"]].is_monotonic_increasing
        assert passage["position"].tolist() == [0.0, 1.0, 2.0]
    assert sorted(set(presented.units["subject"])) == ["018", "215", "288"]  # 199: no 243


def test_second_run_reads_the_store(tiny_gpt2_dir, offline_cache, monkeypatch, tmp_path):
    _place(monkeypatch, "fedorenko2016")
    calls = []
    original = text.TextEncoder._forward

    def counting_forward(self, batch, **kwargs):
        calls.append(len(batch))
        return original(self, batch, **kwargs)

    monkeypatch.setattr(text.TextEncoder, "_forward", counting_forward)
    store = FeatureStore(tmp_path / "store")
    benchmark = get("fedorenko2016-ridge")
    first = benchmark.run(str(tiny_gpt2_dir), layers=[1], store=store, seed=3)
    assert calls
    calls.clear()
    second = benchmark.run(str(tiny_gpt2_dir), layers=[1], store=store, seed=3)
    assert calls == []
    pd.testing.assert_frame_equal(first, second)


def test_heads_give_one_row_per_head(tiny_gpt2_dir, offline_cache, monkeypatch):
    _place(monkeypatch, "tuckute2024")
    rows = get("tuckute2024-ridge").run(
        str(tiny_gpt2_dir), layers=[2], heads=True, untrained_twin=False, options={"n_splits": 5}
    )
    assert rows["head"].dtype == "Int64"
    model_rows = rows[rows["control"] == ""]
    assert model_rows["head"].isna().sum() == 1  # the hidden state of layer 2
    head_rows = rows[rows["head"].notna()]
    assert sorted(head_rows["head"]) == [0, 1] and set(head_rows["layer"]) == {2}


def test_the_ceiling_an_assembly_carries_is_used(tiny_gpt2_dir, offline_cache, monkeypatch):
    path = offline_cache.parent / "with_ceiling.nc"
    with xr.open_dataset(FIXTURES / FILES["tuckute2024"][1], engine="h5netcdf") as dataset:
        dataset = dataset.load()
    dataset.attrs["ceiling"] = 0.7
    dataset.to_netcdf(path, engine="h5netcdf")
    _place(monkeypatch, "tuckute2024", path)
    rows = get("tuckute2024-ridge").run(str(tiny_gpt2_dir), layers=[0], untrained_twin=False)
    assert (rows["ceiling"] == 0.7).all() and (rows["ceiling_source"] == "assembly").all()
    assert (rows["ceiling_flag"] == "ok").all()


def test_missing_data_says_how_to_fetch(tiny_gpt2_dir, offline_cache):
    for name, dataset in [
        ("pereira2018-243-ridge", "pereira2018"),
        ("blank2014-ridge", "blank2014"),
    ]:
        with pytest.raises(MissingBenchmarkDataError, match=f"brainalign datasets fetch {dataset}"):
            get(name).run(str(tiny_gpt2_dir))


def test_bad_options_are_clear_errors(tiny_gpt2_dir, offline_cache, monkeypatch):
    _place(monkeypatch, "pereira2018")
    benchmark = get("pereira2018-384-ridge")
    with pytest.raises(ValueError, match="fold_by='chapter' is not a presentation coordinate"):
        benchmark.run(str(tiny_gpt2_dir), options={"fold_by": "chapter"})
    with pytest.raises(ValueError, match="n_splits=1"):
        benchmark.run(str(tiny_gpt2_dir), options={"n_splits": 1})
    rows = benchmark.run(
        str(tiny_gpt2_dir), layers=[0], options={"fold_by": "story"}, untrained_twin=False
    )
    assert len(rows[rows["control"] == ""]) == 6  # 3 subjects x 2 ROIs, folds by passage topic
