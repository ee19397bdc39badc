"""``futrell2018-surprisal``: per-word surprisal against self-paced reading times.

Data: the Natural Stories corpus (Futrell et al. 2018/2021), catalogue dataset
``futrell2018`` -- ``processed_wordinfo.tsv`` of the release, one row per word of the 10
stories (10,256 words) with the mean reading time (RT) over readers, its SD and the
number of readers. Those are the corpus authors' processed RTs (``process_RTs.R``:
participants with poor comprehension removed, the misaligned story-3 token fixed); no
further outlier rule is applied, as in Brain-Score's ``Futrell2018-pearsonr``, which
also takes the plain mean over readers of the processed RTs.

Model side: every story is read as its words joined by single spaces and each word's
surprisal, ``-log2 p(word | preceding words of the story)`` in **bits** summed over the
word's tokens, comes from the model's LM head
(:func:`~brainalign.encoders.surprisal.word_surprisal`; sliding windows of the model's
maximum length with at least half a window of left context past the first window; the
BOS token, where the model has one, opens every pass). Context never crosses stories.

Score: Pearson r between surprisal and mean RT over the scored words (one row per
model; there are no layers, ``layer`` is missing). Excluded words, with their counts in
the rows:

- the first word of every sentence (``n_sentence_initial``), as in Brain-Score:
  sentence boundaries follow Brain-Score's rule on the displayed words (a word ending
  in ``. ? ! .' ?' !' ;'`` ends a sentence unless the next word is lower-case or the
  word is ``Mr.``), and the first word of each story starts a sentence (on the full
  corpus this gives Brain-Score's 481 sentences);
- words whose mean RT is missing or not finite (``n_missing``; the catalogue reader
  refuses such rows, so this is 0 with the published file) and words whose surprisal is
  undefined (NaN: each story's first word for a model without a BOS token, already
  excluded as sentence-initial).

Ceiling: the highest Pearson r any predictor can reach with the noisy mean RTs, the
square root of their reliability across readers. The reliability is the value the
Spearman-Brown corrected split-half correlation of Brain-Score's ceiling estimates,
``1 - mean_i(sd_i^2 / n_i) / var_i(mean_i)`` over the scored words (readers' noise
independent; :func:`~brainalign.benchmarks.norms.reliability_ceiling`, as for the norms
benchmarks). The per-reader RTs (``processed_RTs.tsv``) that a resampled split-half
would need are not in the catalogue file. On the full corpus (9,775 scored words) the
reliability is 0.832 (ceiling 0.912), next to Brain-Score's 0.858 (median of 10 random
split-halves of the pre-2020 data with all words). Brain-Score divides the score by the
reliability itself, which makes its normalised scores larger than r / ceiling; the raw
score is the same. NaN for the Schrimpf variant of the file (no SD or reader counts).

Controls, rows next to the model's:

- ``MODEL@untrained``: the same architecture with seeded random weights, same pipeline;
- ``control:story-position``: the word's position in its story (1, 2, ...) in place
  of surprisal. It carries no stimulus content beyond position (Hadidi et al. 2025's
  position-only baseline), so it measures how much of the score a reading-speed trend
  over the story could give.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from brainalign.alignment.metrics import pearson_columns
from brainalign.benchmarks.norms import reliability_ceiling
from brainalign.benchmarks.word_similarity import model_variants
from brainalign.datasets.catalogue import load
from brainalign.results import make_results

if TYPE_CHECKING:
    from brainalign.benchmarks.registry import Benchmark
    from brainalign.datasets.recording import Recording
    from brainalign.encoders.store import FeatureStore

__all__ = [
    "POSITION_CONTROL",
    "SENTENCE_END",
    "run_futrell2018",
    "scored_words",
    "sentence_initial",
]

#: Model label of the position-only control rows.
POSITION_CONTROL = "control:story-position"
#: Endings of a sentence-final word (Brain-Score's Futrell2018 packaging).
SENTENCE_END = (".", "?", "!", ".'", "?'", "!'", ";'")
#: ``subject`` of the rows: reading times averaged over readers.
MEAN_READER = "mean"


def sentence_initial(words: Sequence[str], stories: Sequence[Any]) -> np.ndarray:
    """Whether each word opens a sentence (Brain-Score's rule, per story).

    A word ending in one of :data:`SENTENCE_END` closes its sentence unless the next
    word is lower-case or the word is ``"Mr."``; the first word of every story opens
    one.

    Parameters
    ----------
    words : sequence of str, length n_words
        Displayed words in reading order.
    stories : array-like, shape (n_words,)
        Story of each word; a story's words are contiguous.

    Returns
    -------
    numpy.ndarray of bool, shape (n_words,)
    """
    words = [str(word) for word in words]
    stories = np.asarray(stories)
    if stories.shape != (len(words),):
        raise ValueError(f"stories has shape {stories.shape}; expected ({len(words)},)")
    initial = np.zeros(len(words), dtype=bool)
    if not words:
        return initial
    initial[0] = True
    for i in range(1, len(words)):
        previous = words[i - 1]
        ends = previous.endswith(SENTENCE_END) and not (words[i].islower() or previous == "Mr.")
        initial[i] = bool(stories[i] != stories[i - 1]) or ends
    return initial


def scored_words(
    rt: np.ndarray, surprisal: np.ndarray, initial: np.ndarray
) -> tuple[np.ndarray, dict[str, int]]:
    """Mask of the words that enter the correlation, and the counts of exclusions.

    Parameters
    ----------
    rt, surprisal : numpy.ndarray, shape (n_words,)
    initial : numpy.ndarray of bool, shape (n_words,)
        From :func:`sentence_initial`.

    Returns
    -------
    keep : numpy.ndarray of bool, shape (n_words,)
    counts : dict
        ``n_words`` (kept), ``n_sentence_initial``, ``n_missing`` (missing RT or
        undefined surprisal among the non-initial words).
    """
    defined = np.isfinite(rt) & np.isfinite(surprisal)
    keep = ~initial & defined
    counts = {
        "n_words": int(keep.sum()),
        "n_sentence_initial": int(initial.sum()),
        "n_missing": int((~initial & ~defined).sum()),
    }
    return keep, counts


def _select_stories(recording: Recording, stories: Sequence[int] | None) -> pd.DataFrame:
    """The samples (with RT) of the chosen stories, checked to be complete texts."""
    table = recording.samples.reset_index(drop=True).copy()
    table["rt"] = np.asarray(recording.data[:, 0], dtype=np.float64)
    available = sorted(int(s) for s in table["story"].unique())
    if stories is not None:
        if isinstance(stories, (str, int)):
            raise ValueError(f"stories={stories!r}; pass a list of story numbers, e.g. [1, 2]")
        wanted = [int(s) for s in stories]
        unknown = sorted(set(wanted) - set(available))
        if not wanted or unknown:
            raise ValueError(
                f"stories={list(stories)!r}: unknown or empty ({unknown}); the data hold "
                f"stories {available}"
            )
        table = table[table["story"].isin(wanted)].reset_index(drop=True)
    for story, rows in table.groupby("story", sort=False):
        positions = rows["position"].to_numpy()
        if not np.array_equal(positions, np.arange(1, len(rows) + 1)):
            missing = sorted(set(range(1, int(positions.max()) + 1)) - set(positions.tolist()))
            raise ValueError(
                f"story {story} lacks words at positions {missing[:10]} (of 1..{positions.max()}); "
                "the model must read every word of a story, so the reading-time file must "
                "list them all (use the complete processed_wordinfo.tsv)"
            )
    return table


def run_futrell2018(
    benchmark: Benchmark,
    model: str,
    *,
    layers: Sequence[int] | None = None,
    device: str = "cpu",
    dtype: str = "float32",
    batch_size: int = 8,
    store: FeatureStore | None = None,
    weights: str = "pretrained",
    progress: bool = False,
    stories: Sequence[int] | None = None,
    window: int | None = None,
    min_context: int | None = None,
    seed: int = 0,
    controls: bool = True,
) -> pd.DataFrame:
    """Score a causal LM's surprisal against Natural Stories reading times.

    Parameters
    ----------
    benchmark : Benchmark
        Its ``dataset`` is read with :func:`brainalign.datasets.catalogue.load`.
    model : str
        Hub id or directory of a causal LM.
    layers : sequence of int, optional
        Ignored: the score uses the LM head's next-word probabilities, which belong to no
        layer (so a run of several benchmarks can pass the same ``layers`` to all).
    device, dtype, batch_size, store, weights, progress
        See :meth:`~brainalign.benchmarks.registry.Benchmark.run`.
    stories : sequence of int, optional
        Score these stories only (1..10; e.g. for a quick run). Default: all.
    window, min_context : int, optional
        Sliding-window settings of :func:`~brainalign.encoders.surprisal.word_surprisal`.
    seed : int
        Seed of the untrained twin's weights.
    controls : bool
        Add the untrained twin and the story-position control.

    Returns
    -------
    pandas.DataFrame
        Tidy rows (``make_results``), one per model variant and control: ``metric``
        ``pearson_r``, ``layer`` missing, ``subject`` ``"mean"``, ``roi``
        ``"reading_time"``, ``ceiling`` (square root of the reliability of the mean RT
        over the scored words), then ``n_words``, ``n_sentence_initial``, ``n_missing``,
        ``n_stories`` and ``predictor`` (``surprisal_bits`` or ``story_position``).

    Raises
    ------
    ValueError
        For unknown stories, a story with missing words, or a model that is
        not a causal LM.
    """
    from brainalign.encoders.surprisal import SURPRISAL_UNIT, word_surprisal

    del layers  # the LM head's probabilities belong to no layer
    recording = load(benchmark.dataset, progress=False)
    table = _select_stories(recording, stories)
    words = table["word"].astype(str).tolist()
    story = table["story"].to_numpy()
    rt = table["rt"].to_numpy()
    initial = sentence_initial(words, story)

    predictors: list[tuple[str, str, np.ndarray]] = []
    for variant_weights, label in model_variants(model, weights, controls):
        values = word_surprisal(
            model,
            words,
            groups=story,
            weights=variant_weights,
            seed=seed,
            window=window,
            min_context=min_context,
            device=device,
            dtype=dtype,
            batch_size=batch_size,
            store=store,
            progress=progress,
        )
        predictors.append((label, f"surprisal_{SURPRISAL_UNIT}", values))
    if controls:
        position = table["position"].to_numpy(dtype=np.float64)
        predictors.append((POSITION_CONTROL, "story_position", position))

    frames = []
    for label, predictor, values in predictors:
        keep, counts = scored_words(rt, values, initial)
        score = pearson_columns(values[keep, None], rt[keep, None])[0]
        ceiling = np.nan
        if {"sd_rt", "n_subjects"} <= set(table.columns):
            columns = (rt, table["sd_rt"].to_numpy(), table["n_subjects"].to_numpy())
            ceiling = float(reliability_ceiling(*(c[keep, None] for c in columns))[0])
        frames.append(
            {
                "model": label,
                "layer": pd.NA,
                "metric": "pearson_r",
                "score": float(score),
                "ceiling": ceiling,
                **counts,
                "n_stories": int(len(np.unique(story))),
                "predictor": predictor,
            }
        )
    rows = pd.DataFrame(frames)
    rows["dataset"] = benchmark.dataset
    rows["subject"] = MEAN_READER
    rows["roi"] = str(recording.units["unit"].iloc[0])
    return make_results(rows)
