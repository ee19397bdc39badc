"""What capturing every layer (and every head) costs, against a bare forward-pass loop.

Issue 3 speed goal: capturing all layers costs at most 10 % more than a bare
``model(**batch, output_hidden_states=True)`` loop at the same batch size; capturing all
heads as well at most 25 % more.

Two random-weight models are built here (no download): a GPT-2 (6 blocks, 512 dims,
8 heads; the causal-window path) and a BERT (6 blocks, 512 dims, 8 heads; the
preceding-words path), each saved with a real fast tokenizer. Two comparisons, each
on exactly the same padded batches in both arms, with the same thread count and
``torch.inference_mode()``, best of ``--repeats`` after a warm-up, the arms
interleaved within each repeat so drift in a shared machine's speed hits all alike:

end to end (what a user sees)
    ``TextEncoder.encode_words(words)`` (all hidden states pooled per word into float32
    arrays) and ``encode_words(words, heads=True)`` (plus ``"L.heads"`` of every block)
    against a bare loop replaying the batches ``encode_words`` itself ran (recorded once
    by a forward pre-hook on the model: the same token ids, masks, widths and order).
hooks only (where the time goes)
    A fixed set of ``--sequences`` x ``--tokens`` random token ids in batches of
    ``--batch-size``: bare ``model(..., output_hidden_states=True)`` against the same
    loop inside ``LayerCapture(heads=..., blocks=...)``, each batch's hidden states and
    captures held until the next batch (as ``encode_words`` holds them while pooling).

Run ``python perf/capture_overhead.py`` (about 3 minutes on 2 idle CPU cores);
``--device cuda`` runs on a GPU. On a machine shared with other jobs, wall times of
the same arm vary by tens of percent between repeats; ``--threads 1 --clock cpu``
(CPU seconds of this process) is steadier.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

GOALS = {"layers": 0.10, "heads": 0.25}
ALICE_WORDS = Path(__file__).resolve().parents[1] / "tests" / "data" / "alice_words.txt"


# --------------------------------------------------------------------------- models


def _words() -> list[str]:
    from brainalign.datasets.alice2016 import load_words

    return load_words().text


def _bpe_tokenizer(words: list[str], vocab_size: int):
    """A byte-level BPE fast tokenizer trained on the words (as GPT-2's, smaller)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator([" ".join(words)], trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|endoftext|>")


def build_gpt2(directory: Path, words: list[str], n_positions: int) -> Path:
    """GPT-2, 6 blocks x 512 dims x 8 heads, random weights, BPE tokenizer."""
    import torch
    from transformers import GPT2Config, GPT2Model

    tokenizer = _bpe_tokenizer(words, vocab_size=2000)
    tokenizer.save_pretrained(directory)
    eos = tokenizer.eos_token_id
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_layer=6,
        n_embd=512,
        n_head=8,
        n_positions=n_positions,
        bos_token_id=eos,
        eos_token_id=eos,
    )
    torch.manual_seed(0)
    GPT2Model(config).save_pretrained(directory)
    return directory


def build_bert(directory: Path, n_positions: int) -> Path:
    """BERT, 6 blocks x 512 dims x 8 heads, random weights, MiniLM's WordPiece tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from brainalign.encoders.models import resolve_model_source

    source = resolve_model_source("sentence-transformers/all-MiniLM-L6-v2")
    tokenizer = AutoTokenizer.from_pretrained(source)
    tokenizer.save_pretrained(directory)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=512,
        num_hidden_layers=6,
        num_attention_heads=8,
        intermediate_size=2048,
        max_position_embeddings=n_positions,
    )
    torch.manual_seed(1)
    BertModel(config).save_pretrained(directory)
    return directory


# --------------------------------------------------------------------------- timing


#: ``--clock wall``: elapsed time; ``--clock cpu``: CPU seconds of this process (all its
#: threads), steadier on a machine shared with other jobs (use it with ``--threads 1``,
#: as spinning OpenMP threads count as CPU time too).
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def best_of(
    arms: dict[str, Callable[[], object]],
    repeats: int,
    sync: Callable[[], None],
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Best time of each arm; arms run round-robin, after one warm-up each."""
    for arm in arms.values():
        arm()
        sync()
    best = {name: float("inf") for name in arms}
    for _ in range(repeats):
        for name, arm in arms.items():
            sync()
            start = clock()
            arm()
            sync()
            best[name] = min(best[name], clock() - start)
    return best


def _syncer(device: str) -> Callable[[], None]:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.synchronize
    return lambda: None


def record_batches(encoder, words: list[str]) -> list[dict]:
    """The padded batches ``encode_words`` runs, recorded by a forward pre-hook."""
    batches: list[dict] = []

    def hook(module, args, kwargs):
        batches.append(
            {k: kwargs[k].clone() for k in ("input_ids", "attention_mask") if k in kwargs}
        )

    handle = encoder.model.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        encoder.encode_words(words)
    finally:
        handle.remove()
    return batches


def end_to_end(encoder, words: list[str], args) -> dict[str, float]:
    """encode_words (all layers; all layers + heads) vs the bare loop over its own batches."""
    import torch

    batches = record_batches(encoder, words)
    model = encoder.model

    def bare() -> None:
        with torch.inference_mode():
            for batch in batches:
                model(**batch, output_hidden_states=True)

    arms = {
        "bare": bare,
        "layers": lambda: encoder.encode_words(words),
        "heads": lambda: encoder.encode_words(words, heads=True),
    }
    times = best_of(arms, args.repeats, _syncer(args.device), CLOCKS[args.clock])
    n_tokens = sum(int(b["attention_mask"].sum()) for b in batches)
    width = sum(b["input_ids"].numel() for b in batches)
    print(
        f"    {len(words)} words -> {sum(len(b['input_ids']) for b in batches)} windows in "
        f"{len(batches)} batches, {n_tokens} tokens ({width} with padding)"
    )
    return times


def hooks_only(model, args, device: str) -> dict[str, float]:
    """Bare loop vs the same loop inside LayerCapture, on fixed random token batches."""
    import torch

    from brainalign.encoders.heads import LayerCapture

    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(
        0, model.config.vocab_size, (args.sequences, args.tokens), generator=generator
    )
    batches = [
        {
            "input_ids": ids[i : i + args.batch_size].to(device),
            "attention_mask": torch.ones_like(ids[i : i + args.batch_size]).to(device),
        }
        for i in range(0, args.sequences, args.batch_size)
    ]

    def loop(keep: bool, **capture) -> Callable[[], None]:
        """Each batch's outputs are held until the next batch, as encode_words does."""

        def run() -> None:
            with torch.inference_mode():
                if capture:
                    with LayerCapture(model, **capture) as hooked:
                        for batch in batches:
                            hidden = model(**batch, output_hidden_states=True).hidden_states
                            kept = (hidden, hooked.heads, hooked.mlp_output)
                else:
                    for batch in batches:
                        hidden = model(**batch, output_hidden_states=True).hidden_states
                        kept = hidden if keep else None
            del kept

        return run

    arms = {
        "bare": loop(False),
        "hidden states kept": loop(True),
        "LayerCapture blocks": loop(True, heads=False, blocks=True),
        "LayerCapture heads": loop(True, heads=True, blocks=False),
        "LayerCapture heads+blocks": loop(True, heads=True, blocks=True),
    }
    return best_of(arms, args.repeats, _syncer(device), CLOCKS[args.clock])


def report(title: str, times: dict[str, float], goals: dict[str, float] | None = None) -> None:
    bare = times["bare"]
    print(f"  {title}")
    for name, seconds in times.items():
        line = f"    {name:<28} {seconds:7.3f} s"
        if name != "bare":
            overhead = seconds / bare - 1
            line += f"   {overhead:+7.1%}"
            if goals and name in goals:
                verdict = "met" if overhead <= goals[name] else "NOT met"
                line += f"   (goal <= {goals[name]:.0%}: {verdict})"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--sequences", type=int, default=64)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--max-length", type=int, default=128, help="GPT-2 window (tokens)")
    parser.add_argument("--bert-words", type=int, default=320, help="words through BERT")
    parser.add_argument("--context-words", type=int, default=16, help="BERT window (words)")
    parser.add_argument("--models", default="gpt2,bert")
    args = parser.parse_args()

    import torch
    from transformers.utils import logging as transformers_logging

    from brainalign.encoders.common import thread_limit
    from brainalign.encoders.text import TextEncoder

    transformers_logging.disable_progress_bar()

    with thread_limit():  # the cap encode_words applies, for every arm
        if args.threads:
            torch.set_num_threads(args.threads)
        print(
            f"torch {torch.__version__}, {torch.get_num_threads()} threads, device "
            f"{args.device}, batch size {args.batch_size}, best of {args.repeats}, "
            f"{args.clock} clock"
        )
        words = _words()
        with tempfile.TemporaryDirectory() as tmp:
            for name in args.models.split(","):
                directory = Path(tmp) / name
                options = {"device": args.device, "batch_size": args.batch_size}
                options["progress"] = False
                if name == "gpt2":
                    build_gpt2(directory, words, n_positions=max(args.max_length, args.tokens))
                    encoder = TextEncoder(directory, max_length=args.max_length, **options)
                    text = words
                elif name == "bert":
                    build_bert(directory, n_positions=max(args.tokens, 128))
                    encoder = TextEncoder(directory, context_words=args.context_words, **options)
                    text = words[: args.bert_words]
                else:
                    raise SystemExit(f"unknown model {name!r}; use gpt2 and/or bert")
                print(f"\n{name}: 6 blocks x 512 dims x 8 heads, {encoder!r}")
                times = end_to_end(encoder, text, args)
                report("end to end: encode_words vs bare loop on its batches", times, GOALS)
                times = hooks_only(encoder.model, args, args.device)
                report(
                    f"hooks only: {args.sequences} x {args.tokens} tokens, batch {args.batch_size}",
                    times,
                )


if __name__ == "__main__":
    main()
