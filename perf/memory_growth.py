"""Peak memory of text feature extraction against the number of words.

Issue 3 memory goal: peak memory does not grow with the number of items -- it may grow
with batch size and model size, not with N.

A random-weight GPT-2 (``--blocks`` blocks x ``--dims`` dims, causal windows of
``--max-length`` tokens every half window) or BERT (preceding-words windows of
``--context-words`` words) is built here with a byte-level BPE tokenizer trained on
the words of ``tests/data/alice_words.txt`` (no download). Every hidden state is kept
(``--captures`` adds the per-head and per-block outputs). For each N (default 1,000
and 10,000 words: the Alice words repeated) and each path, a **fresh Python process**
loads the encoder and runs

stream
    ``encoder.encode_words(words, store=FeatureStore(tmp))``: each batch is
    written into the store entry (positional writes into preallocated ``.npy`` files)
    and the memory-mapped entry is returned;
ram
    ``encoder.encode_words(words)``: float32 arrays of shape (N, dims) per layer in
    memory (what the store path avoids),

and reports its peak resident set size (``getrusage(RUSAGE_SELF).ru_maxrss``) and its
RSS after loading the model, before encoding. Printed: peak RSS per N per path, the
growth from the smallest to the largest N, and the size of the in-memory arrays at the
largest N for scale. The defaults (windows of 128 tokens, batches of 8) make even the
smallest N run full batches, so batch size is the same for every N.

The allocator: glibc raises its mmap threshold each time a large block is freed, after
which the forward pass's large temporaries come from the heap and fragment it; the peak
then drifts up with the number of batches by 20-50 MB from run to run, whatever is
held. The children therefore run with ``MALLOC_MMAP_THRESHOLD_=131072`` (a fixed
threshold: large blocks are always mapped and returned), which measures what the code
holds; ``--glibc-default`` shows the drift. Measured on 2 CPU cores (GPT-2, 4 x 256,
5 hidden states): stream 438 -> 446 MB (+8 MB, +1.9 %) from 1,000 to 10,000 words,
ram 441 -> 493 MB (+52 MB: the 49 MB of arrays); with glibc's default threshold stream
grew by 28-50 MB and ram by 74 MB. ``--captures`` (166 MB of arrays at 10,000 words):
stream +10 MB, ram +155 MB. ``--model bert``: stream +16 MB (the plan of one window per
word is held for all words), ram +54 MB.

Run ``python perf/memory_growth.py`` (about a minute on 2 CPU cores);
``--model bert`` for the bidirectional path (slower: one window per word).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ALICE_WORDS = Path(__file__).resolve().parents[1] / "tests" / "data" / "alice_words.txt"
GOAL_MB, GOAL_FRACTION = 30.0, 0.10
#: Fixed glibc mmap threshold for the children (bytes); see the module docstring.
MMAP_THRESHOLD = 128 * 1024


def _alice_words() -> list[str]:
    lines = ALICE_WORDS.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def _words(n_words: int) -> list[str]:
    alice = _alice_words()
    return [alice[i % len(alice)] for i in range(n_words)]


def _rss_mb() -> float:
    """Current resident set size (``VmRSS``) in MB."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mb() -> float:
    """Peak resident set size of this process in MB (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------- model


def build_model(directory: Path, kind: str, blocks: int, dims: int, max_length: int) -> None:
    """Save a random-weight GPT-2 or BERT with a BPE tokenizer trained on Alice."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, GPT2Config, GPT2Model, PreTrainedTokenizerFast

    special = ["<|endoftext|>", "[CLS]", "[SEP]", "[PAD]"]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1000,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator([" ".join(_alice_words())], trainer=trainer)
    heads = max(1, dims // 64)
    torch.manual_seed(0)
    if kind == "gpt2":
        fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|endoftext|>")
        eos = fast.eos_token_id
        config = GPT2Config(
            vocab_size=len(fast),
            n_layer=blocks,
            n_embd=dims,
            n_head=heads,
            n_positions=max_length,
            bos_token_id=eos,
            eos_token_id=eos,
        )
        model = GPT2Model(config)
    else:
        cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
        tokenizer.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
        )
        fast = PreTrainedTokenizerFast(
            tokenizer_object=tokenizer, cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]"
        )
        config = BertConfig(
            vocab_size=len(fast),
            hidden_size=dims,
            num_hidden_layers=blocks,
            num_attention_heads=heads,
            intermediate_size=4 * dims,
            max_position_embeddings=max_length,
        )
        model = BertModel(config)
    fast.save_pretrained(directory)
    model.save_pretrained(directory)


# --------------------------------------------------------------------------- child


def child(args: argparse.Namespace) -> None:
    """Encode ``args.n_words`` words on one path; print one JSON line of measurements."""
    from brainalign.encoders.store import FeatureStore
    from brainalign.encoders.text import TextEncoder

    encoder = TextEncoder(
        args.model_dir,
        batch_size=args.batch_size,
        context_words=args.context_words,
        progress=False,
    )
    words = _words(args.n_words)
    captures = {"heads": args.captures, "blocks": args.captures}
    loaded_mb = _rss_mb()
    start = time.perf_counter()
    if args.path == "stream":
        store = FeatureStore(args.store)
        features = encoder.encode_words(words, store=store, **captures)
    else:
        features = encoder.encode_words(words, **captures)
    seconds = time.perf_counter() - start
    array_mb = sum(features[name].nbytes for name in features.layer_names) / 2**20
    print(
        json.dumps(
            {
                "path": args.path,
                "n_words": args.n_words,
                "loaded_mb": loaded_mb,
                "peak_mb": _peak_mb(),
                "array_mb": array_mb,
                "n_arrays": len(features.layer_names),
                "seconds": seconds,
            }
        )
    )


# --------------------------------------------------------------------------- parent


def run_child(args: argparse.Namespace, model_dir: Path, path: str, n_words: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="memory-growth-store-") as store:
        command = [
            sys.executable,
            __file__,
            "--child",
            "--model-dir",
            str(model_dir),
            "--path",
            path,
            "--n-words",
            str(n_words),
            "--store",
            store,
            "--batch-size",
            str(args.batch_size),
            "--context-words",
            str(args.context_words),
        ] + (["--captures"] if args.captures else [])
        env = dict(os.environ)
        if not args.glibc_default:
            env["MALLOC_MMAP_THRESHOLD_"] = str(MMAP_THRESHOLD)
        done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"child {path} N={n_words} failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=("gpt2", "bert"), default="gpt2")
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--dims", type=int, default=256)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--context-words", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--n-words", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--paths", nargs="+", choices=("stream", "ram"), default=["stream", "ram"])
    parser.add_argument("--captures", action="store_true", help="also heads and blocks")
    parser.add_argument(
        "--glibc-default",
        action="store_true",
        help=f"keep glibc's dynamic mmap threshold (default: fixed at {MMAP_THRESHOLD} bytes)",
    )
    # child-only options
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        args.n_words = args.n_words[0]
        child(args)
        return

    with tempfile.TemporaryDirectory(prefix="memory-growth-model-") as model_dir:
        build_model(Path(model_dir), args.model, args.blocks, args.dims, args.max_length)
        print(
            f"{args.model}: {args.blocks} blocks x {args.dims} dims, all {args.blocks + 1} "
            f"hidden states{' + heads + blocks' if args.captures else ''}, batch "
            f"{args.batch_size}; one fresh process per row; malloc mmap threshold: "
            f"{'glibc default' if args.glibc_default else MMAP_THRESHOLD}"
        )
        header = f"{'path':<7}{'N':>8}{'RSS loaded MB':>15}{'peak RSS MB':>13}"
        print(f"{header}{'arrays MB':>11}{'s':>7}")
        results: dict[str, list[dict]] = {}
        for path in args.paths:
            for n_words in args.n_words:
                row = run_child(args, Path(model_dir), path, n_words)
                results.setdefault(path, []).append(row)
                print(
                    f"{path:<7}{n_words:>8}{row['loaded_mb']:>15.1f}{row['peak_mb']:>13.1f}"
                    f"{row['array_mb']:>11.1f}{row['seconds']:>7.1f}"
                )
    print()
    for path, rows in results.items():
        small, large = rows[0], rows[-1]
        growth = large["peak_mb"] - small["peak_mb"]
        fraction = growth / small["peak_mb"]
        verdict = ""
        if path == "stream":
            ok = growth < GOAL_MB or fraction < GOAL_FRACTION
            verdict = f"  goal (< {GOAL_MB:.0f} MB or < {GOAL_FRACTION:.0%}): "
            verdict += "met" if ok else "NOT met"
        print(
            f"{path}: peak RSS {small['peak_mb']:.1f} MB at N={small['n_words']} -> "
            f"{large['peak_mb']:.1f} MB at N={large['n_words']}: {growth:+.1f} MB "
            f"({fraction:+.1%}); feature arrays at N={large['n_words']}: "
            f"{large['array_mb']:.1f} MB{verdict}"
        )


if __name__ == "__main__":
    main()
