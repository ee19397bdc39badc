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


def test_sweep_dry_run_reads_the_store_of_out_and_refuses_options_it_ignores(
    tiny_bert_dir, tmp_path, fixed_calibration, capsys
):
    from brainalign.cli import main

    study = _pairs_study(tmp_path / "study", n=40)
    config = tmp_path / "sweep.yaml"
    config.write_text(f"models: [{tiny_bert_dir}]\nstudies: [{study}]\nlayers: [2]\n")
    out = tmp_path / "out"
    assert main(["sweep", str(config), "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["sweep", str(config), "--out", str(out), "--dry-run"]) == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    assert row[1] == "my-pairs@1" and row[2] == "0" and int(row[3]) > 0  # all stored

    for flags in (["--engine", "local"], ["--overwrite"], ["--address", "127.0.0.1:1"]):
        assert main(["sweep", str(config), "--out", str(out), "--dry-run", *flags]) == 2
        assert f"{flags[0]} with --dry-run" in capsys.readouterr().err
