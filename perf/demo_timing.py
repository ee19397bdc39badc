"""Time the demo (MiniLM on alice2016, all layers, with both controls), split by stage.

Run with ``make perf`` or ``python perf/demo_timing.py [--model M] [--repeats N]``.
Goal on a 2-core machine: under 60 s of compute after installation.

The same run also times the naive alternative for the bidirectional encoder -- one
separately tokenised forward pass per word, as per-word loops in other toolkits do --
and prints the ratio.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def naive_per_word_seconds(model: str, words: list[str], context_words: int, n_words: int) -> float:
    """Seconds per word for one tokenizer call and one forward pass per word."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from brainalign.encoders.text import resolve_model_source

    source = resolve_model_source(model)
    tokenizer = AutoTokenizer.from_pretrained(source)
    network = AutoModel.from_pretrained(source).eval()
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(n_words):
            window = " ".join(words[max(0, i - context_words + 1) : i + 1])
            network(**tokenizer(window, return_tensors="pt"), output_hidden_states=True)
    return (time.perf_counter() - start) / n_words


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    import logging

    from brainalign.benchmarks.registry import get
    from brainalign.datasets import load
    from brainalign.encoders.text import TextEncoder

    # the run's stages (loading, each model variant, controls) with their seconds
    stages = logging.getLogger("brainalign.progress")
    stages.setLevel(logging.INFO)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("    %(message)s"))
    stages.addHandler(handler)
    for repeat in range(args.repeats):
        start = time.perf_counter()
        results = get("alice2016-encoding").run(args.model)
        total = time.perf_counter() - start
        print(f"run {repeat + 1}: total {total:.1f} s, {len(results)} result rows")
        print(f"    goal < 60 s: {'met' if total < 60 else 'NOT met'}")
    stages.removeHandler(handler)

    words = load("alice2016").stimuli.text
    encoder = TextEncoder(args.model, progress=False)
    start = time.perf_counter()
    encoder.encode_words(words)
    ours = (time.perf_counter() - start) / len(words)
    naive = naive_per_word_seconds(args.model, words, encoder.context_words, n_words=200)
    print(
        f"bidirectional word encoding, {encoder.context_words}-word windows: "
        f"brainalign {ours * 1e3:.2f} ms/word, one-pass-per-word loop {naive * 1e3:.2f} ms/word "
        f"-> {naive / ours:.1f}x faster"
    )


if __name__ == "__main__":
    main()
