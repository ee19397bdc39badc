"""Workloads, the cost model's pieces, the plan table and the calibration cache.

No model runs here: widths come from hand-written cards, and the ridge memory is checked
against the one definition in :mod:`brainalign.alignment.memory`.
"""

from __future__ import annotations

import json
import sys

import pytest

from brainalign.alignment.memory import encoding_peak_bytes
from brainalign.benchmarks.registry import available, get
from brainalign.benchmarks.settings import RunSettings
from brainalign.planning.cost import (
    CellPlan,
    ModelFacts,
    alignment_bytes,
    cost_workload,
    format_plans,
    plan_cell,
)
from brainalign.planning.errors import DoesNotFitError
from brainalign.planning.workload import Fit, StimulusSet, Width, Workload, feature_set_fits

#: A 7B-parameter-like card (no weights anywhere: the plan never loads any).
BIG_CARD = {"n_parameters": 7_000_000_000, "n_layers": 32, "n_heads": 32, "head_dim": 128,
            "d_model": 4096}  # fmt: skip


def test_bad_workload_fields_are_refused_with_the_value():
    with pytest.raises(ValueError, match="kind='speech'"):
        StimulusSet("speech", 3)
    with pytest.raises(ValueError, match="kind='pca'"):
        Fit("pca", 10, 2)
    with pytest.raises(ValueError, match="over='tokens'"):
        Fit("ridge", 10, 2, over="tokens")
    with pytest.raises(ValueError, match="fixed Width needs columns"):
        Width("fixed")


def test_widths_resolve_against_the_card():
    assert Width().resolve(BIG_CARD) == 4096
    assert Width("head").resolve(BIG_CARD) == 128
    assert Width("fixed", 7).resolve(BIG_CARD) == 7
    assert Width().resolve({"d_model": None}) is None


def test_feature_set_fits_add_heads_and_the_control():
    plain = feature_set_fits(RunSettings("m"), "ridge", n_samples=10, n_targets=3)
    assert [f.over for f in plain] == ["layers"]
    with_heads = feature_set_fits(
        RunSettings("m", heads=True), "ridge", n_samples=10, n_targets=3, control_width=5
    )
    assert [(f.over, f.width) for f in with_heads] == [
        ("layers", Width("hidden")),
        ("heads", Width("head")),
        ("once", Width("fixed", 5)),
    ]


def test_ridge_memory_is_the_encoding_model_plus_the_float64_features():
    fit = Fit("ridge", 300, 2000, n_delays=4, n_splits=5, inner_splits=3, n_alphas=7)
    expected = encoding_peak_bytes(300, 64, 2000, n_delays=4, n_splits=5, inner_splits=3,
                                   n_alphas=7, dtype="float64")  # fmt: skip
    assert alignment_bytes(fit, 64, n_fits=1) == expected + 300 * 64 * 8


def test_every_registered_benchmark_and_study_task_describes_its_workload():
    from brainalign.benchmarks.study import epochs, tasks
    from brainalign.benchmarks.word_similarity import WordPairsTask

    for name in available():
        runner = get(name).resolve_runner()
        returned = runner.__annotations__["return"]  # the task class, as named there
        task_class = getattr(sys.modules[runner.__module__], returned)
        assert callable(getattr(task_class, "workload", None)), name
    study_tasks = (tasks.EventEncodingTask, tasks.ContinuousEncodingTask,
                   tasks.AudioEncodingTask, tasks.VideoEncodingTask, tasks.RsaTask,
                   tasks.RatingNormsTask, WordPairsTask, epochs.EpochsEncodingTask,
                   epochs.EpochsRsaTask)  # fmt: skip
    for task_class in study_tasks:
        assert callable(getattr(task_class, "workload", None)), task_class.__name__


def _big_plan(settings, workload, available_bytes):
    from brainalign.planning.calibration import Calibration
    from brainalign.planning.cost import _refusal

    benchmark = get("simlex999")
    facts = ModelFacts(card=BIG_CARD, is_causal=False, max_positions=512)
    calibration = Calibration(2**30, 100.0, 50.0, 1e-4, "test")

    def replan(variant, changed):
        return cost_workload(variant, changed, benchmark, facts, baseline_bytes=2**30,
                             calibration=calibration)  # fmt: skip

    return _refusal(replan(workload, settings), workload, settings, benchmark, facts,
                    available_bytes=available_bytes, replan=replan)  # fmt: skip


def test_a_plan_that_does_not_fit_names_the_numbers_and_options_that_fit():
    words = StimulusSet("text", 20_000, "20000 words", heads=True, n_inputs=20_000)
    workload = Workload(stimuli=(words,), fits=feature_set_fits(
        RunSettings("m", heads=True), "similarity", n_samples=1000, n_targets=1))  # fmt: skip
    settings = RunSettings("m", heads=True)
    plan, _ = _big_plan(settings, workload, available_bytes=10**15)
    assert plan.refusal is None
    # weights 28 GB float32; features 20,000 x (33 x 4096 + 32 x 32 x 128) x 4 B per variant
    assert plan.parts["weights"] == 28_000_000_000
    assert plan.parts["features"] == 20_000 * (33 * 4096 + 32 * 32 * 128) * 4
    assert plan.feature_bytes == 2 * plan.parts["features"]  # pretrained + untrained twin
    # just below the plan: bfloat16 weights, dropping heads and fewer layers all fit
    plan, error = _big_plan(settings, workload, available_bytes=plan.peak_host_bytes - 1)
    assert isinstance(error, DoesNotFitError) and plan.refusal == str(error)
    assert error.needed_bytes == plan.peak_host_bytes
    assert "--dtype bfloat16" in error.remedies
    assert "drop --heads (heads=False)" in error.remedies
    assert any(r.startswith("score at most 32 layers (e.g. --layers") for r in error.remedies)
    assert "GiB of host memory" in str(error) and "to make it fit" in str(error)
    # far below: nothing fits
    _, error = _big_plan(settings, workload, available_bytes=2**20)
    assert error.remedies == [] and "no option of the run makes it fit" in str(error)


def test_the_table_says_unknown_and_not_checked_and_prints_refusals():
    plans = [
        CellPlan("m", "b@1", 12, None, 3 * 2**20, 2**31, 0, 75.0),
        CellPlan(
            "m",
            "c@1",
            None,
            None,
            None,
            None,
            None,
            None,
            refusal="m on c@1 would need",
            notes=("c@1 does not describe its workload",),
        ),  # fmt: skip
    ]
    table = format_plans(plans).splitlines()
    assert table[0].split() == ["model", "benchmark", "passes", "stored", "features", "peak",
                                "host", "peak", "device", "time"]  # fmt: skip
    assert table[1].split() == ["m", "b@1", "12", "no", "store", "3.0", "MiB", "2.0", "GiB",
                                "0", "B", "1.2", "min"]  # fmt: skip
    assert "unknown" in table[2] and "no store" in table[2]
    assert "note: m on c@1: c@1 does not describe its workload" in table
    assert "refused: m on c@1 would need" in table


def test_resources_carry_the_peak(fixed_calibration):
    from brainalign.parallel import CellResources

    plan = CellPlan("m", "b@1", 1, None, 10, 2**30, 0, 1.0)
    assert plan.resources(num_cpus=2) == CellResources(num_cpus=2, num_gpus=0,
                                                       memory_bytes=2**30)  # fmt: skip
    with pytest.raises(ValueError, match="peak memory of m on b@1 is unknown"):
        CellPlan("m", "b@1", None, None, None, None, None, None).resources()


def test_the_calibration_is_cached_per_machine_and_remeasured_when_damaged(
    fixed_calibration, monkeypatch
):
    from brainalign.planning import calibration as module

    assert module.machine_calibration() == fixed_calibration
    measured = []
    monkeypatch.setattr(module, "calibrate", lambda: measured.append(1) or fixed_calibration)
    assert module.machine_calibration() == fixed_calibration and not measured
    module.calibration_path().write_text("{not json")
    module.machine_calibration()
    assert measured == [1]
    module.machine_calibration(refresh=True)
    assert measured == [1, 1]
    assert json.loads(json.dumps(module.RIDGE_SHAPE)) == list(module.RIDGE_SHAPE)


def test_a_task_without_workload_is_planned_as_unknown(fixed_calibration, tiny_bert_dir):
    from dataclasses import replace

    class Silent:  # a runner's task that does not say what it computes
        pass

    silent = {"runner": lambda benchmark, settings: Silent(), "dataset_files": ()}
    benchmark = replace(get("simlex999"), **silent)
    plan = plan_cell(RunSettings(str(tiny_bert_dir)), benchmark)
    assert plan.peak_host_bytes is None and plan.forward_passes_needed is None
    assert plan.refusal is None
    assert any("does not describe its workload" in note for note in plan.notes)
