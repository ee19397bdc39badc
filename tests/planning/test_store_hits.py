"""Store hits in the plan: a cell run once with a store plans no forward passes the next
time, exactly as the run then makes none; a removed entry makes them needed again."""

from __future__ import annotations

import shutil
from pathlib import Path

from brainalign.benchmarks.settings import RunSettings
from brainalign.benchmarks.study import Study
from brainalign.encoders.store import FeatureStore
from brainalign.encoders.store.usage import USAGE_DIR, recording_entries, remember, stored
from brainalign.planning.cost import plan_cell
from brainalign.scoring import count_forward_passes
from tests.planning.test_plan import _pairs_study


def test_a_stored_cell_plans_and_makes_no_forward_pass(tiny_bert_dir, tmp_path, fixed_calibration):
    benchmark = Study.from_yaml(_pairs_study(tmp_path / "study", n=60)).benchmark()
    store = tmp_path / "store"
    settings = RunSettings(str(tiny_bert_dir), layers=[1, 2], batch_size=16, store=str(store))

    first = plan_cell(settings, benchmark)
    assert first.forward_passes_stored == 0 and first.forward_passes_needed > 0
    with count_forward_passes() as count:
        benchmark.run(settings)
    assert count.batches == first.forward_passes_needed

    again = plan_cell(settings, benchmark)
    assert again.forward_passes_needed == 0
    assert again.forward_passes_stored == first.forward_passes_needed
    with count_forward_passes() as count:
        benchmark.run(settings)
    assert count.batches == 0

    # other settings are other work: nothing recorded for them
    other = RunSettings(str(tiny_bert_dir), layers=[2], batch_size=16, store=str(store))
    assert plan_cell(other, benchmark).forward_passes_stored == 0

    # an entry removed: that variant's passes are needed again (the run makes them)
    entries = FeatureStore(store).entries()
    untrained = entries[entries["weights"] == "untrained"]["name"].tolist()
    assert untrained
    for name in untrained:
        shutil.rmtree(store / name)
    partly = plan_cell(settings, benchmark)
    assert partly.forward_passes_needed == partly.forward_passes_stored > 0
    with count_forward_passes() as count:
        benchmark.run(settings)
    assert count.batches == partly.forward_passes_needed


def test_without_a_store_nothing_is_claimed(tiny_bert_dir, tmp_path, fixed_calibration):
    benchmark = Study.from_yaml(_pairs_study(tmp_path / "study", n=40)).benchmark()
    plan = plan_cell(RunSettings(str(tiny_bert_dir), layers=[2]), benchmark)
    assert plan.forward_passes_stored is None and plan.forward_passes_needed > 0


def test_usage_records_are_exact_and_damage_means_not_stored(tmp_path):
    store = FeatureStore(tmp_path / "store")
    identity = {"model": "m", "variant": "pretrained"}
    assert not stored(store, identity)
    with recording_entries() as used:
        pass
    remember(store, identity, used)  # nothing read: nothing recorded
    assert not (store.root / USAGE_DIR).exists()
    remember(store, identity, ["m-0123456789abcdef"])
    assert not stored(store, identity)  # the entry does not exist
    record = next((store.root / USAGE_DIR).iterdir())
    record.write_text("{not json")
    assert not stored(store, identity)
    assert [p.name for p in Path(store.root).iterdir()] == [USAGE_DIR]
    assert store.entries().empty  # the record folder is not an entry
