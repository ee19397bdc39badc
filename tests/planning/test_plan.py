"""Plans of real cells: forward passes against a counted run, peak memory against the
measured peak of a run in a fresh process, refusal before any forward pass, and the
command line's ``--dry-run``.

Models are the tiny random-weight BERT of tests/conftest.py; stimuli are real fixtures
(the published SimLex-999 pairs, the Alice words of Brennan et al. 2016); the event
study's responses are seeded noise, as wide as a whole-brain recording so that the ridge
fits dominate the peak.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from brainalign.benchmarks.registry import get
from brainalign.benchmarks.settings import RunSettings
from brainalign.benchmarks.study import Study
from brainalign.cli import main
from brainalign.planning.cost import plan_cell
from brainalign.planning.errors import DoesNotFitError
from brainalign.scoring import count_forward_passes, plan
from tests.test_scoring import place_word_pairs

ROOT = Path(__file__).resolve().parents[2]
SIMLEX = ROOT / "tests" / "data" / "word_similarity" / "EN-SIMLEX-999.txt"
ALICE = ROOT / "tests" / "data" / "alice_words.txt"

#: Stated tolerance of the predicted peak host memory against the measured peak RSS.
TOLERANCE = 0.30


def _pairs_study(folder: Path, n: int = 120) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pairs.txt").write_text("".join(SIMLEX.read_text().splitlines(True)[:n]))
    path = folder / "pairs.yaml"
    path.write_text("name: my-pairs\nratings: pairs.txt\n")
    return path


def _event_study(folder: Path, n_units: int) -> Path:
    """400 Alice words as items, (400, n_units) float32 seeded-noise responses; 3 outer
    and 3 inner folds (a third of the default's fits: the test stays quick)."""
    folder.mkdir(parents=True, exist_ok=True)
    words = [w for w in ALICE.read_text().splitlines() if w and not w.startswith("#")][:400]
    ids = [f"w{i:03d}" for i in range(len(words))]
    pd.DataFrame({"stimulus_id": ids, "text": words}).to_csv(folder / "words.csv", index=False)
    responses = np.random.default_rng(0).standard_normal((len(words), n_units))
    np.save(folder / "responses.npy", responses.astype(np.float32))
    path = folder / "event.yaml"
    path.write_text("name: wide-event\nstimuli: words.csv\nresponses: responses.npy\n"
                    "sampling: event\noptions: {n_splits: 3, inner_splits: 3}\n")  # fmt: skip
    return path


def test_the_planned_forward_passes_are_those_a_run_makes(
    tiny_bert_dir, tmp_path, fixed_calibration
):
    place_word_pairs()
    model = str(tiny_bert_dir)
    for benchmark in (Study.from_yaml(_pairs_study(tmp_path)).benchmark(), get("simlex999")):
        settings = RunSettings(model, layers=[0, 2], batch_size=16)
        plan = plan_cell(settings, benchmark)
        with count_forward_passes() as count:
            benchmark.run(settings)
        assert plan.forward_passes_needed == count.batches > 0, benchmark.versioned_id
        assert plan.forward_passes_stored is None and plan.refusal is None
        # features: every scored layer of every item, float32, both weights variants
        n_words = count.items // 2
        assert plan.feature_bytes == 2 * n_words * 2 * 32 * 4


def test_image_rsa_plans_its_images_and_head_features(tiny_vit_dir, fixed_calibration, monkeypatch):
    from tests.datasets.catalogue_helpers import TESTS_DATA, place_in_cache

    images = TESTS_DATA / "kriegeskorte2008_92" / "kriegeskorte2008_stimuli_first12.mat"
    place_in_cache(monkeypatch, "kriegeskorte2008-92", "images", images, subset=True)
    settings = RunSettings(str(tiny_vit_dir), heads=True, batch_size=5,
                           options={"conditions": list(range(12))})  # fmt: skip
    benchmark = get("kriegeskorte2008-hit-rsa")
    plan = plan_cell(settings, benchmark)
    with count_forward_passes() as count:
        benchmark.run(settings)
    assert plan.forward_passes_needed == count.batches == 2 * 3  # 12 images, 5 a batch
    # 3 hidden states x 16 dims and 2 layers x 2 heads x 8 dims, 12 images, 2 variants
    assert plan.feature_bytes == 2 * 12 * (3 * 16 + 2 * 2 * 8) * 4
    assert plan.peak_host_bytes > fixed_calibration.baseline_bytes and plan.seconds > 0


def test_peak_host_memory_is_within_the_stated_tolerance_of_the_measured_peak(
    tiny_bert_dir, tmp_path, monkeypatch
):
    from brainalign.planning.calibration import calibrate

    monkeypatch.setenv("BRAINALIGN_DATA", str(tmp_path / "cache"))
    study = _event_study(tmp_path / "study", n_units=7000)
    code = (
        "import json, brainalign\n"
        f"brainalign.score({str(tiny_bert_dir)!r}, study={str(study)!r}, layers=[2], "
        "untrained_twin=False)\n"
        # VmHWM, the peak of this process's own memory: ru_maxrss would keep the peak of
        # the forked parent (pytest), which exec does not reset
        "status = open('/proc/self/status').read().split('VmHWM:')[1]\n"
        "print(json.dumps(int(status.split()[0])))\n"
    )
    run = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)  # fmt: skip
    settings = RunSettings(str(tiny_bert_dir), layers=[2], untrained_twin=False)
    planned = plan_cell(settings, Study.from_yaml(study).benchmark(), calibration=calibrate())
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, err[-3000:]
    measured = json.loads(out.strip().splitlines()[-1]) * 1024  # VmHWM: KiB
    assert planned.parts["alignment"] > 80 * 2**20  # the fits, not the baseline, are tested
    assert abs(planned.peak_host_bytes / measured - 1) <= TOLERANCE, (planned.parts, measured)


def test_a_cell_that_does_not_fit_is_refused_before_any_forward_pass(
    tiny_bert_dir, tmp_path, fixed_calibration, monkeypatch
):
    from brainalign.alignment import memory

    study = Study.from_yaml(_pairs_study(tmp_path)).benchmark()
    monkeypatch.setattr(memory, "available_memory_bytes", lambda device=None: 1)
    with count_forward_passes() as count, pytest.raises(DoesNotFitError) as caught:
        study.run(str(tiny_bert_dir), layers=[2])
    assert count.batches == 0
    assert caught.value.benchmark == "my-pairs@1" and caught.value.needed_bytes > 10**8
    assert "would need about" in str(caught.value)
    # BRAINALIGN_PLAN_CHECK=0 turns the check off: the run goes on
    monkeypatch.setenv("BRAINALIGN_PLAN_CHECK", "0")
    assert len(study.run(str(tiny_bert_dir), layers=[2])) > 0


def test_cli_dry_run_prints_the_plan_and_writes_nothing(
    tiny_bert_dir, tmp_path, fixed_calibration, capsys, monkeypatch
):
    study = _pairs_study(tmp_path / "study")
    out = tmp_path / "out"
    args = ["score", str(tiny_bert_dir), "--study", str(study), "--layers", "2", "--out",
            str(out), "--quiet", "--dry-run"]  # fmt: skip
    with count_forward_passes() as count:
        assert main(args) == 0
    printed = capsys.readouterr().out
    assert count.batches == 0 and not out.exists()
    assert printed.splitlines()[0].split()[:4] == ["model", "benchmark", "passes", "stored"]
    assert "my-pairs@1" in printed and "no store" in printed
    plans = plan(str(tiny_bert_dir), study=study, layers=[2])
    assert str(plans[0].forward_passes_needed) in printed.splitlines()[1].split()

    config = tmp_path / "sweep.yaml"
    config.write_text(f"models: [{tiny_bert_dir}]\nstudies: [{study}]\nlayers: [2]\n"
                      f"out: {tmp_path / 'sweep'}\n")  # fmt: skip
    assert main(["sweep", str(config), "--dry-run", "--quiet"]) == 0
    assert "my-pairs@1" in capsys.readouterr().out and not (tmp_path / "sweep").exists()

    from brainalign.alignment import memory

    monkeypatch.setattr(memory, "available_memory_bytes", lambda device=None: 2**20)
    assert main(args) == 2
    captured = capsys.readouterr()
    assert "would need about" in captured.err and "refused:" in captured.out
    assert "Traceback" not in captured.err
    with count_forward_passes() as count:  # without --dry-run: the cell is refused
        assert main(args[:-1]) == 2
    captured = capsys.readouterr()
    assert count.batches == 0 and "would need about" in captured.err
    assert "Traceback" not in captured.err
    assert main(args[:-1] + ["--recalibrate"]) == 2
    assert "--recalibrate goes with --dry-run" in capsys.readouterr().err
