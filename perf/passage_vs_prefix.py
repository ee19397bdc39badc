"""Passage context for a causal model: one pass per passage vs one pass per growing prefix.

Brain-Score language reads sentence ``k`` of a passage by re-encoding the prefix
``"s1 ... sk"`` once per sentence (one forward pass per sentence, each over the whole
prefix so far). ``TextEncoder.extract(context="passage")`` reads every sentence of a
passage from one forward pass (a causal state never depends on later tokens), and
batches passages together. This script times both on a GPT-2-small-sized model
(12 blocks, 768 dims, 12 heads, random weights) on the CPU, checks that they give the
same features (max abs difference <= 1e-4 over all 13 hidden states, last-token and
mean pooling), and prints the best of ``--repeats`` times of each (runs interleaved, so
both see the same load on a shared machine) and the speed-up, for passages of 4 and of
10 sentences of about 15 words.

Everything is built here, offline: a byte-level BPE tokenizer trained on
``tests/data/alice_words.txt`` and the model from its config (``weights="untrained"``).

Run: ``.venv/bin/python perf/passage_vs_prefix.py [--passages 3] [--threads 2] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORDS_PER_SENTENCE = 15
TOLERANCE = 1e-4


def alice_words() -> list[str]:
    """The Alice words of the test data (one word per line, ``#`` comments)."""
    lines = (ROOT / "tests" / "data" / "alice_words.txt").read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def build_model_dir(directory: Path, words: list[str], blocks: int = 12, dims: int = 768) -> None:
    """Save a GPT-2 config (default GPT-2-small: 12 blocks of 768 dims, 64 dims per head)
    and a BPE tokenizer trained on ``words`` to ``directory``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=2000,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator([" ".join(words)], trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|endoftext|>")
    fast.save_pretrained(directory)
    eos = fast.eos_token_id
    GPT2Config(
        vocab_size=len(fast),
        n_layer=blocks,
        n_embd=dims,
        n_head=dims // 64,
        n_positions=1024,
        bos_token_id=eos,
        eos_token_id=eos,
    ).save_pretrained(directory)


def make_passages(words: list[str], n_passages: int, n_sentences: int) -> list[list[str]]:
    """``n_passages`` passages of ``n_sentences`` sentences of ~15 consecutive words."""
    passages, position = [], 0
    for p in range(n_passages):
        sentences = []
        for s in range(n_sentences):
            n = WORDS_PER_SENTENCE + (s + p) % 3 - 1  # 14, 15 or 16 words
            chunk = [words[(position + i) % len(words)] for i in range(n)]
            sentences.append(" ".join(chunk).capitalize() + ".")
            position += n
        passages.append(sentences)
    return passages


def per_prefix(model, tokenizer, passages: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """One forward pass per sentence over its passage's growing prefix (Brain-Score style).

    Returns
    -------
    last, mean : numpy.ndarray, shape (n_layers, n_sentences, n_dims)
        The sentence's last token and the mean over its tokens (tokens ending after the
        space before the sentence, by character offsets).
    """
    import torch

    last, mean = [], []
    with torch.inference_mode():
        for passage in passages:
            for k in range(len(passage)):
                text = " ".join(passage[: k + 1])
                start = len(" ".join(passage[:k]))
                encoding = tokenizer(text, return_offsets_mapping=True)
                ends = np.array([end for _, end in encoding["offset_mapping"]])
                mine = torch.as_tensor(np.flatnonzero(ends > start))
                output = model(
                    input_ids=torch.tensor([encoding["input_ids"]]), output_hidden_states=True
                )
                states = torch.stack([h[0] for h in output.hidden_states])
                last.append(states[:, mine[-1]].numpy())
                mean.append(states[:, mine].mean(dim=1).numpy())
    return np.stack(last, axis=1), np.stack(mean, axis=1)


def stacked(features) -> np.ndarray:
    """Features as one array, shape (n_layers, n_items, n_dims)."""
    return np.stack([features[name] for name in features.layer_names])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=3, help="passages per size")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=3, help="timings per method (best kept)")
    args = parser.parse_args()

    import torch

    from brainalign.encoders.text import TextEncoder

    torch.set_num_threads(args.threads)
    words = alice_words()
    with tempfile.TemporaryDirectory() as tmp:
        build_model_dir(Path(tmp), words)
        encoder = TextEncoder(tmp, weights="untrained", seed=0, batch_size=32, progress=False)
    model, tokenizer = encoder.model, encoder.tokenizer
    print(
        f"model: GPT-2 12x768, random weights, {model.num_parameters() / 1e6:.0f}M "
        f"parameters; CPU, {torch.get_num_threads()} threads; torch {torch.__version__}"
    )
    # warm up both paths once
    warm = make_passages(words, 1, 2)
    encoder.extract(warm[0])
    per_prefix(model, tokenizer, warm)

    for n_sentences in (4, 10):
        passages = make_passages(words, args.passages, n_sentences)
        sentences = [s for passage in passages for s in passage]
        groups = [g for g, passage in enumerate(passages) for _ in passage]
        n_tokens = [len(tokenizer(" ".join(p))["input_ids"]) for p in passages]

        passage_s, prefix_s = [], []
        for _ in range(args.repeats):  # interleaved, so both see the same CPU load
            start = time.perf_counter()
            features = {"last": stacked(encoder.extract(sentences, groups=groups))}
            passage_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            prefix_last, prefix_mean = per_prefix(model, tokenizer, passages)
            prefix_s.append(time.perf_counter() - start)
        passage_s, prefix_s = min(passage_s), min(prefix_s)

        features["mean"] = stacked(encoder.extract(sentences, groups=groups, pooling="mean"))
        diff_last = float(np.abs(features["last"] - prefix_last).max())
        diff_mean = float(np.abs(features["mean"] - prefix_mean).max())
        ok = max(diff_last, diff_mean) <= TOLERANCE
        print(
            f"\n{args.passages} passages x {n_sentences} sentences (~{WORDS_PER_SENTENCE} words; "
            f"{min(n_tokens)}-{max(n_tokens)} tokens per passage)\n"
            f"  extract(context='passage'): {passage_s:7.2f} s  "
            f"({args.passages} passes, batched)\n"
            f"  per-prefix re-encoding:     {prefix_s:7.2f} s  "
            f"({len(sentences)} passes)\n"
            f"  speed-up: {prefix_s / passage_s:.1f}x   max |diff| last {diff_last:.2e}, "
            f"mean {diff_mean:.2e} -> {'identical' if ok else 'DIFFERENT'} (tol {TOLERANCE})"
        )
        if not ok:
            raise SystemExit("features differ from per-prefix re-encoding")


if __name__ == "__main__":
    main()
