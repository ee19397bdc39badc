"""What ``head_properties`` costs on a GPT-2-small-sized model, against a plain loop.

Goal (issue 16, item 5): the per-head scores of a GPT-2-small-sized model (12 blocks,
12 heads, 768 dims, vocabulary 50257) with the defaults (20 sequences of a BOS token
and 2 x 50 random tokens) in under 30 s on 2 CPU cores, loading included.

A random-weight GPT-2 of that size is built here (no download) and saved with a
byte-level BPE tokenizer trained on the Alice words (2,000 tokens: the random tokens
are drawn from those, the embedding matrix has 50,257 rows as GPT-2's). Three arms, end
to end (the model loaded from its folder each time), interleaved, best of ``--repeats``
after a warm-up (``best_of`` of perf/capture_overhead.py):

- ``head_properties``: :func:`brainalign.encoders.head_cards.head_properties`
  with its defaults;
- ``naive``: what one would write by hand: the model loaded with eager attention,
  ``model(..., output_attentions=True)`` on the same token ids in the same batches, and
  every score computed in plain Python loops over layers, heads, sequences and queries
  (numpy per query row); its numbers are checked against the table;
- ``stored``: ``head_properties`` with a feature store holding the entry (written by
  the warm-up): no forward pass, the model is loaded for its fingerprint and the
  scores are read back.

Run ``python perf/head_properties.py`` (about a minute on 2 idle CPU cores).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from capture_overhead import _bpe_tokenizer, _words, best_of  # noqa: E402

GOAL_S = 30.0


def build_gpt2_small(directory: Path) -> Path:
    """GPT-2 small's shape (12 x 768 x 12 heads, 1024 positions, vocabulary 50257),
    random weights, a 2,000-token BPE tokenizer with <|endoftext|> as BOS."""
    import torch
    from transformers import GPT2Config, GPT2Model, PreTrainedTokenizerFast

    trained = _bpe_tokenizer(_words(), vocab_size=2000)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=trained.backend_tokenizer,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
    )
    tokenizer.save_pretrained(directory)
    config = GPT2Config(
        vocab_size=50257,
        n_layer=12,
        n_embd=768,
        n_head=12,
        n_positions=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    GPT2Model(config).save_pretrained(directory)
    return directory


def naive(directory: Path, batch_size: int, n_sequences: int, sequence_length: int, seed: int):
    """The scores by hand: a plain eager forward pass, then Python loops. Returns
    ``{(layer, head): [induction, previous, first, entropy, distance]}``."""
    import numpy as np
    import torch
    from transformers import AutoModel, AutoTokenizer

    from brainalign.encoders.head_cards import repeated_random_tokens

    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = AutoModel.from_pretrained(directory, attn_implementation="eager").eval()
    ids, offset = repeated_random_tokens(
        tokenizer,
        n_sequences=n_sequences,
        sequence_length=sequence_length,
        seed=seed,
        vocab_size=model.config.vocab_size,
    )
    sums: dict[tuple[int, int], np.ndarray] = {}
    for start in range(0, n_sequences, batch_size):
        with torch.inference_mode():
            output = model(
                input_ids=torch.tensor(ids[start : start + batch_size]), output_attentions=True
            )
        for block, attention in enumerate(output.attentions):
            attention = attention.double().numpy()
            for head in range(attention.shape[1]):
                total = sums.setdefault((block + 1, head), np.zeros(5))
                for a in attention[:, head]:
                    total += _sequence_scores(a, sequence_length, offset)
    return {key: value / n_sequences for key, value in sums.items()}


def _sequence_scores(a, repeat: int, offset: int):
    import numpy as np

    n = a.shape[0]
    induction = sum(a[q, q - repeat + 1] for q in range(offset + repeat, offset + 2 * repeat))
    out = np.array([induction / repeat, 0.0, 0.0, 0.0, 0.0])
    positions = np.arange(n)
    for q in range(1, n):
        row = a[q]
        nonzero = row[row > 0]
        out[1:] += (
            row[q - 1],
            row[0],
            -float(np.sum(nonzero * np.log(nonzero))),
            float(np.sum(row * np.abs(q - positions))),
        )
    out[1:] /= n - 1
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import numpy as np
    import torch

    from brainalign.encoders.head_cards import (
        DEFAULT_BATCH_SIZE,
        DEFAULT_N_SEQUENCES,
        DEFAULT_SEQUENCE_LENGTH,
        HEAD_PROPERTY_MEASURES,
        head_properties,
    )
    from brainalign.encoders.store import FeatureStore

    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        directory = build_gpt2_small(Path(tmp) / "gpt2-small-random")
        store = FeatureStore(Path(tmp) / "store")
        print(
            f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; GPT-2 small "
            f"shape (12 x 768, 12 heads), {DEFAULT_N_SEQUENCES} sequences of 1 + 2 x "
            f"{DEFAULT_SEQUENCE_LENGTH} tokens, batches of {DEFAULT_BATCH_SIZE}; best of "
            f"{args.repeats} after a warm-up, arms interleaved"
        )
        arms = {
            "head_properties": lambda: results.update(table=head_properties(directory)),
            "naive": lambda: results.update(
                naive=naive(
                    directory, DEFAULT_BATCH_SIZE, DEFAULT_N_SEQUENCES, DEFAULT_SEQUENCE_LENGTH, 0
                )
            ),
            "stored": lambda: results.update(stored=head_properties(directory, store=store)),
        }
        times = best_of(arms, args.repeats, lambda: None)

    table, stored, by_hand = results["table"], results["stored"], results["naive"]
    fast, slow, cached = times["head_properties"], times["naive"], times["stored"]
    expected = np.array([by_hand[(layer, head)] for layer, head in table[["layer", "head"]].values])
    R = DEFAULT_SEQUENCE_LENGTH  # noqa: N806
    difference = np.abs(table[list(HEAD_PROPERTY_MEASURES)].to_numpy() - expected).max()
    assert difference < 1e-4 and stored.equals(table), difference
    print(f"  head_properties (defaults): {fast:7.2f} s  (goal < {GOAL_S:.0f} s: "
          f"{'met' if fast < GOAL_S else 'MISSED'})")  # fmt: skip
    print(f"  naive Python loops:         {slow:7.2f} s")
    print(f"  stored (cache hit):         {cached:7.2f} s")
    print(f"  naive / head_properties: {slow / fast:.2f}x; largest difference {difference:.1e}")
    print(f"  induction score range {table['induction_score'].min():.4f} .. "
          f"{table['induction_score'].max():.4f} (uniform causal: "
          f"{np.mean(1 / (np.arange(R + 1, 2 * R + 1) + 1)):.4f})")  # fmt: skip


if __name__ == "__main__":
    main()
