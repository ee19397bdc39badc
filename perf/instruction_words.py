"""Instruction-conditioned word features: shared windows vs one pass per word.

``TextEncoder(model, instruction=...)`` reads a story in sliding windows that each start
with the instruction (``BOS? + instruction + "\\n" + text``), and takes every word from
the earliest window holding it: one forward pass serves many words. The naive way to
give every word the instruction and its preceding context is one forward pass per word,
over the instruction and the same window of text cut at the word. This script times
both, and the encoder without an instruction (the instruction's own cost: shorter
windows, so more of them), on a GPT-2-sized model (``--blocks`` x ``--dims``, random
weights) on the CPU, and checks that the two instruction paths give the same features
(max abs difference <= 1e-4 over all hidden states). It prints the best of
``--repeats`` times of each (runs interleaved, so all see the same load) and the ratios.

Everything is built here, offline: a byte-level BPE tokenizer trained on
``tests/data/alice_words.txt`` and the model from its config (``weights="untrained"``).

Run: ``.venv/bin/python perf/instruction_words.py [--words 200] [--threads 1] [--repeats 2]``
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from passage_vs_prefix import alice_words, build_model_dir, stacked  # noqa: E402

INSTRUCTION = (
    "Listen to this story as if you were a child hearing it for the first time, and "
    "picture every scene."
)
TOLERANCE = 1e-4


def per_word(model, tokenizer, words: list[str], max_length: int, stride: int) -> np.ndarray:
    """One pass per word: the instruction, then the word's window of text cut at the word.

    The window is the one :class:`~brainalign.encoders.text.TextEncoder` reads the word
    from (found here from the framed string's offsets), so the features must agree.

    Returns
    -------
    numpy.ndarray, shape (n_layers, n_words, n_dims)
    """
    import torch

    text = " ".join(words)
    string = INSTRUCTION + "\n" + text
    start = len(INSTRUCTION) + 1
    encoding = tokenizer(string, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = encoding["input_ids"], encoding["offset_mapping"]
    a = next(t for t, (_, end) in enumerate(offsets) if end > start)
    prefix, text_ids, text_ends = ids[:a], ids[a:], [end for _, end in offsets[a:]]
    length = max_length - len(prefix)
    rows, position = [], start
    with torch.inference_mode():
        for word in words:
            position += len(word)
            last = int(np.searchsorted(text_ends, position, side="left"))
            k = 0 if last < length else math.ceil((last - length + 1) / stride)
            window = prefix + text_ids[k * stride : last + 1]
            output = model(input_ids=torch.tensor([window]), output_hidden_states=True)
            rows.append(torch.stack([h[0, -1] for h in output.hidden_states]).numpy())
            position += 1
    return np.stack(rows, axis=1)


def best_times(runs: dict, repeats: int) -> tuple[dict, dict]:
    """Best wall-clock time of each run over ``repeats`` interleaved rounds, and results."""
    times: dict = {name: [] for name in runs}
    results: dict = {}
    for _ in range(repeats):  # interleaved, so every run sees the same CPU load
        for name, run in runs.items():
            start = time.perf_counter()
            results[name] = run()
            times[name].append(time.perf_counter() - start)
    return {name: min(values) for name, values in times.items()}, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=200, help="words of the story")
    parser.add_argument("--blocks", type=int, default=6, help="transformer blocks")
    parser.add_argument("--dims", type=int, default=512, help="model width")
    parser.add_argument("--max-length", type=int, default=128, help="tokens per window")
    parser.add_argument("--stride", type=int, default=32, help="tokens between windows")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=2, help="timings per method (best kept)")
    args = parser.parse_args()

    import torch

    from brainalign.encoders.text import TextEncoder

    torch.set_num_threads(args.threads)
    words = alice_words()[: args.words]
    settings = {
        "weights": "untrained",
        "max_length": args.max_length,
        "stride": args.stride,
        "batch_size": 16,
        "progress": False,
    }
    with tempfile.TemporaryDirectory() as tmp:
        build_model_dir(Path(tmp), alice_words(), args.blocks, args.dims)
        told = TextEncoder(tmp, instruction=INSTRUCTION, **settings)
        plain = TextEncoder(tmp, **settings)
    model, tokenizer = told.model, told.tokenizer
    n_text = len(tokenizer(" ".join(words), add_special_tokens=False)["input_ids"])
    print(
        f"model: GPT-2 {args.blocks}x{args.dims}, random weights, "
        f"{model.num_parameters() / 1e6:.0f}M parameters; CPU, {torch.get_num_threads()} "
        f"threads; torch {torch.__version__}\nstory: {len(words)} words, {n_text} tokens; "
        f"windows of {args.max_length} tokens, stride {args.stride}; instruction: "
        f"{told.n_instruction_tokens} tokens"
    )
    told.encode_words(words[:20])  # warm up
    times, results = best_times(
        {
            "told": lambda: told.encode_words(words),
            "plain": lambda: plain.encode_words(words),
            "naive": lambda: per_word(model, tokenizer, words, args.max_length, args.stride),
        },
        args.repeats,
    )
    told_s, plain_s, naive_s = times["told"], times["plain"], times["naive"]
    features, plain_features, naive = results["told"], results["plain"], results["naive"]
    diff = float(np.abs(stacked(features) - naive).max())
    ok = diff <= TOLERANCE
    print(
        f"  encode_words, instruction:    {told_s:7.2f} s  "
        f"({features.provenance['n_windows']} windows, batched)\n"
        f"  encode_words, no instruction: {plain_s:7.2f} s  "
        f"({plain_features.provenance['n_windows']} windows)\n"
        f"  one pass per word:            {naive_s:7.2f} s  ({len(words)} passes)\n"
        f"  speed-up over one pass per word: {naive_s / told_s:.1f}x; instruction cost: "
        f"{told_s / plain_s:.2f}x the time without one\n"
        f"  max |diff| vs one pass per word {diff:.2e} -> "
        f"{'identical' if ok else 'DIFFERENT'} (tol {TOLERANCE})"
    )
    if not ok:
        raise SystemExit("features differ from one pass per word")


if __name__ == "__main__":
    main()
