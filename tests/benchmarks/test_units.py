"""Localized units: a run scores only the localized units, next to as many random ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from brainalign.benchmarks import units
from brainalign.benchmarks.registry import get
from brainalign.benchmarks.settings import RunSettings, SettingsError
from brainalign.benchmarks.units import (
    RANDOM_UNITS_CONTROL,
    localized_units,
    parse_units,
    random_units_like,
    restrict_run_features,
)
from brainalign.encoders.localizer import localize_model
from brainalign.encoders.store import FeatureStore
from brainalign.encoders.text import TextEncoder
from brainalign.results import validate_results
from brainalign.scoring import count_forward_passes
from tests.datasets.catalogue_helpers import TESTS_DATA, place_in_cache

WORDS = "the cat sat on a mat while her sister read".split()


@pytest.fixture(autouse=True)
def _fresh_selection_cache():
    units._CACHE.clear()
    yield
    units._CACHE.clear()


@pytest.fixture
def _simlex_offline(isolated_cache, monkeypatch):
    monkeypatch.setenv("BRAINALIGN_OFFLINE", "1")
    place_in_cache(monkeypatch, "simlex999", "pairs", TESTS_DATA / "behaviour" /
                   "EN-SIMLEX-999.txt", subset=True)  # fmt: skip


def test_specifications_are_parsed_or_refused():
    assert parse_units("language:1%") == units.UnitSpec("language", 1.0, "model")
    assert parse_units("language:0.5%:layer").text == "language:0.5%:layer"
    assert RunSettings("m", units="language:1.0%").units == "language:1%"
    for bad, message in [
        ("language", "use LOCALIZER:PERCENT%"),
        ("visual:1%", "no localizer 'visual'; the localizers are language"),
        ("language:0%", r"percentage must be in \(0, 100\]"),
        ("language:1%:voxel", "use LOCALIZER:PERCENT%"),
    ]:
        with pytest.raises(SettingsError, match=message):
            RunSettings("m", units=bad)


def test_restriction_equals_selecting_the_same_columns_by_hand(tiny_gpt2_dir):
    settings = RunSettings(str(tiny_gpt2_dir), units="language:10%:layer")
    encoder = TextEncoder(tiny_gpt2_dir, progress=False)
    by_hand = localize_model(encoder, top_percent=10, scope="layer")
    features = encoder.encode_words(WORDS)
    restricted = restrict_run_features(features, settings, "pretrained")
    assert "0" not in restricted.layer_names  # the embeddings are not localized
    for name in by_hand.layer_names:
        expected = np.asarray(features[name])[:, by_hand.mask[name]]
        np.testing.assert_array_equal(restricted[name], expected)
    assert restricted.provenance["units"] == "language:10%:layer"


def test_random_units_match_the_counts_and_follow_the_seed(tiny_gpt2_dir):
    settings = RunSettings(str(tiny_gpt2_dir), units="language:20%")
    selected = localized_units(settings, "pretrained")
    drawn, again = random_units_like(selected, seed=1), random_units_like(selected, seed=1)
    other = random_units_like(selected, seed=2)
    assert drawn.n_selected == selected.n_selected
    assert all(np.array_equal(drawn.mask[n], again.mask[n]) for n in selected.layer_names)
    assert any(not np.array_equal(drawn.mask[n], other.mask[n]) for n in selected.layer_names)
    assert any(
        not np.array_equal(drawn.mask[n], selected.mask[n])
        for n in selected.layer_names
        if selected.mask[n].any()
    )


def _spearman_of_units(model, weights, mask_of, layer):
    """simlex999 on the fixture by hand: cosines of the selected units, scipy Spearman."""
    rows = [
        line.split()
        for line in (TESTS_DATA / "behaviour" / "EN-SIMLEX-999.txt").read_text().splitlines()
        if line.strip()
    ]
    first, second = [r[0] for r in rows], [r[1] for r in rows]
    ratings = [float(r[2]) for r in rows]
    words = sorted(set(first) | set(second))
    encoder = TextEncoder(model, weights=weights, pooling="mean", progress=False)
    features = encoder.extract(words, context="isolated", level="sentence", layers=[layer])
    vectors = np.asarray(features[str(layer)], dtype=np.float64)[:, mask_of[str(layer)]]
    index = {w: i for i, w in enumerate(words)}
    a, b = vectors[[index[w] for w in first]], vectors[[index[w] for w in second]]
    cosines = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return spearmanr(cosines, ratings).statistic


@pytest.mark.usefixtures("_simlex_offline")
def test_a_benchmark_scores_localized_and_random_units(tiny_gpt2_dir, tmp_path):
    model = str(tiny_gpt2_dir)
    spec = "language:25%:layer"
    results = get("simlex999").run(model, units=spec, batch_size=8,
                                   store=FeatureStore(tmp_path / "store"))  # fmt: skip
    validate_results(results)
    assert (results["units"] == spec).all()
    model_rows = results[(results["control"] == "") & (results["weights"] == "pretrained")]
    random_rows = results[results["control"] == RANDOM_UNITS_CONTROL]
    twin_rows = results[results["weights"] == "untrained"]
    assert sorted(model_rows["layer"]) == sorted(random_rows["layer"]) == [1, 2]
    assert sorted(twin_rows["layer"]) == [1, 2]
    assert (random_rows["control_of"] == model).all()
    settings = RunSettings(model, units=spec)
    selected = localized_units(settings, "pretrained")
    for layer in (1, 2):
        row = model_rows[model_rows["layer"] == layer].iloc[0]
        assert row["n_model_units"] == selected.n_selected[str(layer)]
        expected = _spearman_of_units(model, "pretrained", selected.mask, layer)
        np.testing.assert_allclose(row["score"], expected, rtol=1e-6)
    drawn = random_units_like(selected, seed=0)
    row = random_rows[random_rows["layer"] == 2].iloc[0]
    np.testing.assert_allclose(
        row["score"], _spearman_of_units(model, "pretrained", drawn.mask, 2), rtol=1e-6
    )
    untrained = localized_units(settings, "untrained")
    assert any(
        not np.array_equal(untrained.mask[n], selected.mask[n]) for n in selected.layer_names
    )
    row = twin_rows[twin_rows["layer"] == 1].iloc[0]
    np.testing.assert_allclose(
        row["score"], _spearman_of_units(model, "untrained", untrained.mask, 1), rtol=1e-6
    )
    assert pd.isna(results.loc[results["control"] == "random-word-vectors", "n_model_units"]).all()


def test_a_second_localization_reads_the_store(tiny_gpt2_dir, tmp_path):
    settings = RunSettings(str(tiny_gpt2_dir), units="language:5%", store=str(tmp_path / "s"))
    first = localized_units(settings, "pretrained")
    units._CACHE.clear()
    with count_forward_passes() as passes:
        again = localized_units(settings, "pretrained")
    assert passes.batches == 0
    assert all(np.array_equal(first.mask[n], again.mask[n]) for n in first.layer_names)


def test_units_are_refused_where_they_would_not_be_used(tiny_gpt2_dir):
    with pytest.raises(SettingsError, match="does not use --units.*not a text model's hidden"):
        get("kriegeskorte2008-hit-rsa").run(str(tiny_gpt2_dir), units="language:1%")
    with pytest.raises(SettingsError, match="localized units are hidden-state units"):
        get("simlex999").run(str(tiny_gpt2_dir), units="language:1%", heads=True)


@pytest.mark.usefixtures("_simlex_offline")
def test_units_that_miss_every_scored_layer_are_named(tiny_gpt2_dir):
    with pytest.raises(ValueError, match="hold none of the localized units"):
        get("simlex999").run(str(tiny_gpt2_dir), units="language:1%", layers=[0])


def test_a_sweep_checks_its_units_key(tmp_path):
    from brainalign.sweeps import SweepConfigError, load_config

    path = tmp_path / "sweep.yaml"
    path.write_text("models: [a]\nbenchmarks: [men3k]\nunits: language:1\n")
    with pytest.raises(SweepConfigError, match=r"line 3: 'units': units='language:1'"):
        load_config(path)
    path.write_text("models: [a]\nbenchmarks: [men3k]\nunits: language:1.0%:layer\n")
    assert load_config(path).units == "language:1%:layer"


@pytest.mark.usefixtures("_simlex_offline")
def test_the_score_command_takes_units(tiny_gpt2_dir, tmp_path):
    from brainalign.cli import main
    from brainalign.results import read_results

    out = tmp_path / "run"
    args = ["score", str(tiny_gpt2_dir), "--benchmark", "simlex999", "--units",
            "language:25%:layer", "--no-untrained", "--layers", "1,2", "--out", str(out),
            "--quiet"]  # fmt: skip
    assert main(args) == 0
    results = read_results(out)
    assert set(results["control"]) == {"", "random-word-vectors", RANDOM_UNITS_CONTROL}
    assert (results["units"] == "language:25%:layer").all()
