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

Score: how well each predictor predicts the mean RT of the scored words, by one rule for
the model, its untrained twin and the control alike: leave-one-story-out linear fits
(:func:`heldout_fit_score`: ordinary least squares of RT on the predictor with an
intercept), each story's RTs predicted from a fit to the other stories, then the Pearson
r of all held-out predictions with the RTs (one row per model; there are no layers,
``layer`` is missing). A fit learns the sign of the relation,
so a predictor that explains as much RT variance scores as high whichever way it
correlates: a control whose raw r is -0.34 is as strong as a model whose raw r is 0.34.
The unfitted Pearson r of the predictor with the RTs over the scored words, Brain-Score's
``Futrell2018-pearsonr`` number, is kept in the ``raw_pearson_r`` column. At least two
stories are needed. Excluded words, with their counts in the rows:

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

Controls, rows next to the model's, scored by the same held-out fit:

- the untrained twin: the same architecture with seeded random weights, same pipeline;
- the control ``story-position``: the word's position in its story (1, 2, ...) in place
  of surprisal. It carries no stimulus content beyond position (Hadidi et al. 2025's
  position-only baseline), so it measures how much of the score a reading-speed trend
  over the story could give.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from brainalign.alignment.metrics import pearson_columns
from brainalign.benchmarks.benchmark import ModelScores
from brainalign.benchmarks.norms import reliability_ceiling
from brainalign.datasets.catalogue import load

if TYPE_CHECKING:
    from brainalign.benchmarks.benchmark import Benchmark
    from brainalign.benchmarks.settings import RunSettings
    from brainalign.datasets.recording import Recording
    from brainalign.planning.workload import Workload

__all__ = [
    "POSITION_CONTROL",
    "SENTENCE_END",
    "ReadingTimeTask",
    "heldout_fit_score",
    "prepare",
    "scored_words",
    "sentence_initial",
]

#: Name of the position-only control.
POSITION_CONTROL = "story-position"
#: Endings of a sentence-final word (Brain-Score's Futrell2018 packaging).
SENTENCE_END = (".", "?", "!", ".'", "?'", "!'", ";'")
#: ``subject`` of the rows: reading times averaged over readers.
MEAN_READER = "mean"
#: ``unit`` of the rows.
READING_TIME = "reading_time"


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


def heldout_fit_score(predictor: np.ndarray, rt: np.ndarray, stories: np.ndarray) -> float:
    """Pearson r of leave-one-story-out linear predictions of ``rt`` with ``rt``.

    For each story, ordinary least squares ``rt ~ a + b * predictor`` fitted to the
    other stories' words (:class:`~brainalign.alignment.linear.OLS`, one predictor and
    thousands of words: no penalty is needed) predicts the story's words; the score is
    the Pearson r of all held-out predictions with the reading times.

    Parameters
    ----------
    predictor, rt : numpy.ndarray, shape (n_words,)
        Finite values of the scored words.
    stories : numpy.ndarray, shape (n_words,)
        Story of each word (at least 2 stories).

    Returns
    -------
    float
    """
    from brainalign.alignment.linear import OLS

    predictions = np.empty_like(rt, dtype=np.float64)
    x = np.asarray(predictor, dtype=np.float64)[:, None]
    for story in np.unique(stories):
        test = stories == story
        fit = OLS().fit(x[~test], rt[~test])
        predictions[test] = fit.predict(x[test])
    return float(pearson_columns(predictions[:, None], rt[:, None])[0])


@dataclass
class ReadingTimeTask:
    """The Natural Stories reading times prepared for one run (module documentation)."""

    benchmark: Benchmark
    settings: RunSettings
    table: pd.DataFrame
    initial: np.ndarray

    def _row(self, values: np.ndarray, predictor: str) -> pd.DataFrame:
        rt = self.table["rt"].to_numpy()
        keep, counts = scored_words(rt, values, self.initial)
        stories = self.table["story"].to_numpy()
        return pd.DataFrame(
            [
                {
                    "subject": MEAN_READER,
                    "unit": READING_TIME,
                    "score": heldout_fit_score(values[keep], rt[keep], stories[keep]),
                    "raw_pearson_r": float(pearson_columns(values[keep, None], rt[keep, None])[0]),
                    **counts,
                    "n_stories": int(len(np.unique(stories))),
                    "predictor": predictor,
                }
            ]
        )

    def score_model(self, weights: str) -> ModelScores:
        """The model's per-word surprisal (bits) as the predictor."""
        from brainalign.encoders.surprisal import SURPRISAL_UNIT, word_surprisal

        settings, options = self.settings, self.settings.options
        values = word_surprisal(
            settings.model,
            self.table["word"].astype(str).tolist(),
            groups=self.table["story"].to_numpy(),
            weights=weights,
            seed=settings.run_seed,
            window=options.get("window"),
            min_context=options.get("min_context"),
            device=settings.device,
            dtype=settings.dtype,
            batch_size=settings.batch_size_for(self.benchmark),
            store=settings.feature_store(),
            progress=settings.progress_label(self.benchmark, weights),
        )
        return ModelScores(self._row(values, f"surprisal_{SURPRISAL_UNIT}"))

    def score_controls(self, model: ModelScores) -> dict[str, pd.DataFrame]:
        """The story-position control through the same held-out fit."""
        position = self.table["position"].to_numpy(dtype=np.float64)
        return {POSITION_CONTROL: self._row(position, "story_position")}

    def ceiling(self) -> pd.DataFrame | None:
        """Square root of the reliability of the mean RTs over the scored words."""
        if not {"sd_rt", "n_subjects"} <= set(self.table.columns):
            return None  # the Schrimpf variant of the file: no SD or reader counts
        rt = self.table["rt"].to_numpy()
        keep = ~self.initial & np.isfinite(rt)
        columns = (rt, self.table["sd_rt"].to_numpy(), self.table["n_subjects"].to_numpy())
        value = float(reliability_ceiling(*(c[keep, None] for c in columns))[0])
        return pd.DataFrame({"unit": [READING_TIME], "ceiling": [value]})

    def workload(self) -> Workload:
        """Every word's surprisal (causal windows over each story); linear fits."""
        from brainalign.planning.workload import Fit, StimulusSet, Width, Workload

        words = tuple(self.table["word"].astype(str))
        fit = {"n_samples": len(words), "n_targets": 1, "width": Width("fixed", 1)}
        return Workload(
            stimuli=(StimulusSet("surprisal", len(words), f"{len(words)} words", reading="story",
                                 texts=words, groups=tuple(self.table["story"])),),
            fits=(Fit("linear", **fit, over="once", repeats=2),),
            data_bytes=int(self.table.memory_usage(deep=True).sum()),
        )  # fmt: skip


def prepare(benchmark: Benchmark, settings: RunSettings) -> ReadingTimeTask:
    """Load the reading times (option ``stories``: a subset of at least 2 stories).

    Options ``window`` and ``min_context`` go to
    :func:`~brainalign.encoders.surprisal.word_surprisal`.

    Returns
    -------
    ReadingTimeTask
        Rows: one per model variant and control, ``subject`` ``"mean"``, ``unit``
        ``"reading_time"``, then ``raw_pearson_r``, ``n_words``, ``n_sentence_initial``,
        ``n_missing``, ``n_stories`` and ``predictor``.

    Raises
    ------
    ValueError
        For unknown stories, fewer than 2 stories, or a story with missing words.
    """
    recording = load(benchmark.dataset, progress=False)
    table = _select_stories(recording, settings.options.get("stories"))
    if table["story"].nunique() < 2:
        raise ValueError(
            f"{benchmark.versioned_id} fits each story's reading times from the other "
            "stories, so it needs at least 2 stories; give stories=[...] with two or more"
        )
    initial = sentence_initial(table["word"].astype(str).tolist(), table["story"].to_numpy())
    return ReadingTimeTask(benchmark, settings, table, initial)
