"""Brain-Score language neural benchmarks, scored with leak-free ridge encoding.

Five benchmarks read the Brain-Score language assemblies (netCDF, read by
:func:`brainalign.datasets.brainio.read_assembly` through the catalogue) and score every
layer of a language model by cross-validated ridge regression:

=========================  ===========================  ==========================  =========
benchmark                  items (presentation)         read by the model as        folds by
=========================  ===========================  ==========================  =========
``pereira2018-243-ridge``  sentences of experiment 3    passage context, last token passage
``pereira2018-384-ridge``  sentences of experiment 2    passage context, last token passage
``blank2014-ridge``        words heard in each TR       story context, last token   story
``fedorenko2016-ridge``    words of 8-word sentences    words, sentence context     sentence
``tuckute2024-ridge``      1,000 single sentences       each sentence alone         sentence
=========================  ===========================  ==========================  =========

How stimuli are presented follows Brain-Score language's benchmarks
(``brainscore_language/benchmarks/*/benchmark.py``): Pereira's sentences are digested
passage by passage (each sentence after the earlier ones of its passage), Blank's
per-TR word chunks story by story, Fedorenko's words sentence by sentence, Tuckute's
sentences one at a time; the readout is the last token of each item (``pooling="last"``,
Brain-Score's language-model subject reads the last token too). Items are put in
reading order first: Blank's assembly is stored sorted by ``stimulus_id`` (Brain-Score's
``groupby`` sorts it), so its TRs are re-ordered by ``timepoint_value`` within each story.

Differences from Brain-Score, on purpose:

* **Folds.** Brain-Score's ridge metric shuffles presentations (``ShuffleSplit``, 90 %
  train) except where a ``split_coord`` is given. Here the outer folds are always
  :class:`~sklearn.model_selection.GroupKFold` over the group (passage, story or
  sentence; :func:`group_cv`), so no passage is ever split between training and test,
  and the ridge penalty is chosen per unit by an inner ``GroupKFold`` over the training
  groups (:func:`brainalign.alignment.encoding.cross_validated_encoding`, features and
  responses z-scored with training statistics, no delays: the assemblies are already
  one row per item, Blank's shifted by 4 s by Brain-Score). ``fold_by=`` names another
  presentation coordinate (e.g. ``"story"``, Brain-Score's passage *topic* for Pereira).
* **Every layer**, not one committed layer; optionally every attention head.
* **Scores.** Held-out Pearson r per neuroid (voxel or electrode), mean over outer folds;
  one row per (model, layer, subject, ROI), the ROI in the ``unit`` column, holding the
  median over that subject's neuroids of the ROI (Brain-Score takes the median over all
  neuroids), with ``n_units`` (finite ones).
* **Ceiling.** The value the assembly carries in ``attrs["ceiling"]`` when it has one
  (scalar, or one per neuroid); else computed here, per (subject, ROI) (column
  ``ceiling_source``):

  - ``loso-encoding`` (Pereira, Fedorenko): each subject's units predicted from all
    other subjects' units by the same ridge pipeline and folds, median over the units;
    what the other n - 1 subjects' responses can predict of this subject's (Brain-Score
    extrapolates a similar inter-subject predictivity to infinitely many subjects, so
    its ceilings are higher);
  - ``loso-isc`` (Blank: the same fROIs in every subject): leave-one-subject-out
    inter-subject correlation (:func:`brainalign.alignment.ceiling.leave_one_out_isc`,
    each subject's time courses z-scored within each story), falling back to
    ``loso-encoding`` when the subjects' fROIs differ;
  - none (Tuckute: the assembly holds one neuroid, the average of 5 subjects, so no
    inter-subject ceiling exists; Brain-Score's benchmark has none either): NaN, with
    ``ceiling_flag`` ``"none"``.

Controls, as rows next to the model's, scored exactly as it is (same folds, same ridge,
same metric):

* the untrained twin: the same architecture with seeded random weights.
* the control ``position``: :func:`~brainalign.benchmarks.controls.position_features` of
  each item's position in its group (sentence index in the passage, TR index in the
  story, word index in the sentence): index, log(1 + index), relative position and two
  sine/cosine pairs of it. Tuckute's sentences are read alone, so the only position the
  model reads at is that of the sentence's last word: its index (word count - 1), the
  relative scale taken over all sentences. ``layer`` is missing.

The data are download-only: :meth:`~brainalign.benchmarks.registry.Benchmark.run`
raises :class:`~brainalign.benchmarks.registry.MissingBenchmarkDataError` naming
``brainalign datasets fetch NAME`` when the assembly is not in the cache offline.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from brainalign.alignment.ceiling import leave_one_out_isc
from brainalign.alignment.encoding import cross_validated_encoding
from brainalign.benchmarks.benchmark import ModelScores, constant_feature_sets
from brainalign.benchmarks.controls import position_features
from brainalign.benchmarks.units import restrict_run_features
from brainalign.datasets.catalogue import load

if TYPE_CHECKING:
    from brainalign.benchmarks.benchmark import Benchmark
    from brainalign.benchmarks.settings import RunSettings
    from brainalign.datasets.recording import Recording
    from brainalign.encoders.features import Features
    from brainalign.encoders.store import FeatureStore
    from brainalign.planning.workload import Workload

__all__ = [
    "POSITION_CONTROL",
    "SPECS",
    "AssemblySpec",
    "LanguageRidgeTask",
    "Presentation",
    "extract_item_features",
    "group_cv",
    "prepare",
    "presentation",
]

#: Name of the position-only control.
POSITION_CONTROL = "position"
#: Column holding where the ceiling came from.
CEILING_SOURCE = "ceiling_source"


@dataclass(frozen=True)
class AssemblySpec:
    """How one Brain-Score language assembly is read, presented and scored.

    Parameters
    ----------
    dataset : str
        Catalogue name.
    experiment : str, optional
        Value of the ``experiment`` presentation coordinate to keep (Pereira).
    text : tuple of str
        Presentation coordinates holding the item's text, first present wins.
    group : tuple of str
        Coordinates naming the item's passage, story or sentence (context and folds).
    order : tuple of str
        Coordinates giving the reading order within a group; file order if none.
    subject, roi : tuple of str
        Neuroid coordinates naming the subject and the region.
    default_roi : str
        ROI label when the assembly has no roi coordinate.
    context, level : str
        Encoder context mode and item level (see ``TextEncoder.extract``).
    positions : {"rank", "last-word"}
        ``"rank"``: index within the group; ``"last-word"``: index of the item's last
        word (word count - 1), all items one group (items read alone).
    ceiling : {"encoding", "isc", "none"}
        Ceiling computed when the assembly carries none.
    n_splits : int
        Outer group folds.
    """

    dataset: str
    experiment: str | None
    text: tuple[str, ...]
    group: tuple[str, ...]
    order: tuple[str, ...]
    subject: tuple[str, ...]
    roi: tuple[str, ...]
    default_roi: str
    context: str
    level: str
    positions: str
    ceiling: str
    n_splits: int


def _pereira(experiment: str) -> AssemblySpec:
    return AssemblySpec(
        dataset="pereira2018",
        experiment=experiment,
        text=("stimulus", "sentence"),
        group=("passage_index", "passage_label"),
        order=("stimulus_num",),
        subject=("subject",),
        roi=("roi",),
        default_roi="language",
        context="passage",
        level="sentence",
        positions="rank",
        ceiling="encoding",
        n_splits=5,
    )


#: Benchmark id -> how its assembly is read and scored.
SPECS: dict[str, AssemblySpec] = {
    "pereira2018-243-ridge": _pereira("243sentences"),
    "pereira2018-384-ridge": _pereira("384sentences"),
    "blank2014-ridge": AssemblySpec(
        dataset="blank2014",
        experiment=None,
        text=("stimulus", "stimulus_sentence"),
        group=("story",),
        order=("timepoint_value", "sentence_number_in_story"),
        subject=("subject_id", "subject_UID", "subject"),
        roi=("fROI_area", "roi"),
        default_roi="language",
        context="passage",
        level="sentence",
        positions="rank",
        ceiling="isc",
        n_splits=8,
    ),
    "fedorenko2016-ridge": AssemblySpec(
        dataset="fedorenko2016",
        experiment=None,
        text=("word", "stimulus"),
        group=("sentence_id",),
        order=("word_num",),
        subject=("subject_UID", "subject"),
        roi=("roi",),
        default_roi="language",
        context="window",
        level="word",
        positions="rank",
        ceiling="encoding",
        n_splits=5,
    ),
    "tuckute2024-ridge": AssemblySpec(
        dataset="tuckute2024",
        experiment=None,
        text=("stimulus", "sentence"),
        group=("stimulus_id",),
        order=(),
        subject=("subject_UID", "subject"),
        roi=("roi",),
        default_roi="lang_LH_netw",
        context="isolated",
        level="sentence",
        positions="last-word",
        ceiling="none",
        n_splits=10,
    ),
}


# ----------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Presentation:
    """An assembly in reading order, ready to score.

    Attributes
    ----------
    data : numpy.ndarray of float64, shape (n_items, n_units)
    items : pandas.DataFrame, shape (n_items, 4)
        ``stimulus_id``, ``text``, ``group`` (str) and ``position`` (float).
    units : pandas.DataFrame, shape (n_units, 2)
        ``subject`` and ``roi`` (str).
    folds : numpy.ndarray of str, shape (n_items,)
        The fold group of each item.
    position_groups : numpy.ndarray of str, shape (n_items,)
        Groups of the position control.
    attrs : dict
        The assembly's attributes (``ceiling`` is looked up there).
    """

    data: np.ndarray
    items: pd.DataFrame
    units: pd.DataFrame
    folds: np.ndarray
    position_groups: np.ndarray
    attrs: dict


def _first_column(table: pd.DataFrame, names: Sequence[str], what: str, dataset: str) -> str:
    for name in names:
        if name in table.columns:
            return name
    raise ValueError(
        f"{dataset}: the assembly has no {what} coordinate (looked for {list(names)}; it has "
        f"{list(table.columns)}); is this the Brain-Score language assembly?"
    )


def _labels(column: pd.Series) -> np.ndarray:
    return column.astype(str).to_numpy()


def _reading_order(groups: np.ndarray, order: np.ndarray | None) -> np.ndarray:
    """Indices that sort items by group (first appearance), then reading order, then file."""
    _, first, codes = np.unique(groups, return_index=True, return_inverse=True)
    group_rank = np.argsort(np.argsort(first))[codes]
    file_order = np.arange(len(groups))
    keys = [file_order] + ([] if order is None else [order]) + [group_rank]
    return np.lexsort(keys)


def presentation(
    recording: Recording, spec: AssemblySpec, *, fold_by: str | None = None
) -> Presentation:
    """Put an assembly's items in reading order with their groups and positions.

    Parameters
    ----------
    recording : Recording
        The assembly (``load(spec.dataset, ...)``), event sampling.
    spec : AssemblySpec
    fold_by : str, optional
        Presentation coordinate whose values group the folds, instead of ``spec.group``.

    Returns
    -------
    Presentation

    Raises
    ------
    ValueError
        If a needed coordinate is missing, ``fold_by`` is not a coordinate, or a text is
        empty.
    """
    samples = recording.samples
    name = spec.dataset
    text_column = _first_column(samples, spec.text, "text (stimulus)", name)
    group_column = _first_column(samples, spec.group, "group", name)
    groups = _labels(samples[group_column])
    order_column = next((c for c in spec.order if c in samples.columns), None)
    order = None if order_column is None else samples[order_column].to_numpy(dtype=float)
    index = _reading_order(groups, order)

    texts = samples[text_column].astype(str).str.strip().to_numpy()[index]
    empty = np.flatnonzero(texts == "")
    if empty.size:
        raise ValueError(f"{name}: items {empty[:5].tolist()} have an empty {text_column!r}")
    groups = groups[index]
    if spec.positions == "last-word":
        positions = np.array([len(t.split()) - 1 for t in texts], dtype=float)
        position_groups = np.full(len(texts), "all")
    else:
        positions = position_features(groups, n_harmonics=0)[:, 0]
        position_groups = groups
    if fold_by is None:
        folds = groups
    elif fold_by in samples.columns:
        folds = _labels(samples[fold_by])[index]
    else:
        raise ValueError(
            f"fold_by={fold_by!r} is not a presentation coordinate of {name}; it has "
            f"{list(samples.columns)}"
        )
    items = pd.DataFrame(
        {
            "stimulus_id": samples["stimulus_id"].astype(str).to_numpy()[index],
            "text": texts,
            "group": groups,
            "position": positions,
        }
    )
    units = recording.units
    subject_column = _first_column(units, spec.subject, "subject", name)
    roi_column = next((c for c in spec.roi if c in units.columns), None)
    unit_table = pd.DataFrame(
        {
            "subject": _labels(units[subject_column]),
            "roi": spec.default_roi if roi_column is None else _labels(units[roi_column]),
        }
    )
    return Presentation(
        data=np.asarray(recording.data, dtype=np.float64)[index],
        items=items,
        units=unit_table,
        folds=np.asarray(folds),
        position_groups=np.asarray(position_groups),
        attrs=dict(recording.meta.get("attrs", {})),
    )


def group_cv(groups: Sequence[Any] | np.ndarray, n_splits: int) -> Any:
    """Outer folds that hold out whole groups (passages, stories, sentences).

    Parameters
    ----------
    groups : array-like, shape (n_items,)
    n_splits : int
        Wanted folds (at least 2); fewer when there are fewer groups.

    Returns
    -------
    sklearn.model_selection.GroupKFold
        With ``min(n_splits, n_groups)`` splits; call ``split(X, y, groups)``.

    Raises
    ------
    ValueError
        If ``n_splits`` < 2 or there are fewer than 2 groups.
    """
    from sklearn.model_selection import GroupKFold

    if isinstance(n_splits, bool) or not isinstance(n_splits, int | np.integer) or n_splits < 2:
        raise ValueError(f"n_splits={n_splits!r}; it must be an integer >= 2")
    n_groups = len(np.unique(np.asarray(groups).astype(str)))
    if n_groups < 2:
        raise ValueError(
            f"the items form {n_groups} group; group folds need at least 2 (passages, "
            "stories or sentences)"
        )
    return GroupKFold(min(int(n_splits), n_groups))


# ----------------------------------------------------------------------------- features


def extract_item_features(
    model: str,
    items: pd.DataFrame,
    *,
    context: str,
    level: str = "sentence",
    pooling: str = "last",
    weights: str = "pretrained",
    layers: Sequence[int] | None = None,
    heads: bool = False,
    context_words: int | None = None,
    device: str = "cpu",
    dtype: str = "float32",
    batch_size: int = 32,
    seed: int = 0,
    store: FeatureStore | None = None,
    progress: bool | str = False,
    instruction: str | None = None,
    instruction_format: str = "plain",
) -> Features:
    """Features of every item, read in a context mode (``pooling`` over its tokens).

    Parameters
    ----------
    model : str
    items : pandas.DataFrame, shape (n_items, ...)
        ``stimulus_id``, ``text``, ``group`` in reading order (:func:`presentation`).
    context : {"isolated", "passage", "window"}
        How items are read (:meth:`~brainalign.encoders.text.TextEncoder.extract`).
    level : str
        Item level of :meth:`~brainalign.encoders.text.TextEncoder.extract`
        (``"sentence"`` or ``"word"``).
    pooling : str
        How an item's tokens become one vector (``"last"``, ``"mean"`` ...).
    weights, layers, device, dtype, batch_size, seed
        As for :class:`~brainalign.encoders.text.TextEncoder`.
    heads : bool
        Also capture per-head outputs (``"L.heads"``, (n_items, n_heads, d_head)).
    context_words : int, optional
        Bidirectional models reading words in a window (``context="window"``): words per
        window (default that of :class:`~brainalign.encoders.text.TextEncoder`).
    store : FeatureStore, optional
        Read the entry when present (no forward pass), else stream into it.
    progress : bool or str
        A progress bar (on a terminal), named by the string when one is given.
    instruction, instruction_format
        A task instruction read before every item or passage, and how
        (:class:`~brainalign.encoders.text.TextEncoder`); never pooled, part of the key.

    Returns
    -------
    Features
        Float32 (n_items, n_dims) per hidden state, rows in the order of ``items``.
    """
    from brainalign.encoders.text import TextEncoder
    from brainalign.stimuli import Stimuli

    window = {} if context_words is None else {"context_words": context_words}
    if instruction is not None:
        window.update(instruction=instruction, instruction_format=instruction_format)
    encoder = TextEncoder(
        model,
        weights=weights,
        seed=seed,
        device=device,
        dtype=dtype,
        batch_size=batch_size,
        pooling=pooling,
        progress=progress,
        **window,
    )
    table = items[["stimulus_id", "text", "group"]].reset_index(drop=True)
    options: dict[str, Any] = {
        "context": context,
        "level": level,
        "pooling": pooling,
        "layers": layers,
    }
    return encoder.extract(Stimuli(table), **options, heads=heads, store=store)


def _feature_sets(features: Features, heads: bool) -> Iterator[tuple[int, Any, np.ndarray]]:
    """(layer, head or NA, (n_items, n_dims) array) for every hidden state and head."""
    for name in features.layer_names:
        array = features[name]
        if name.isdigit():
            yield int(name), pd.NA, np.asarray(array)
        elif heads and name.endswith(".heads"):
            layer = int(name.split(".")[0])
            for head in range(array.shape[1]):
                yield layer, head, np.asarray(array[:, head, :])


# ----------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class _Scorer:
    """The shared ridge pipeline: group folds, inner group folds, per-unit alphas."""

    folds: np.ndarray
    n_splits: int
    inner_splits: int
    alphas: np.ndarray | None

    def unit_scores(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Held-out Pearson r per column of ``Y``, shape (n_units,)."""
        options: dict[str, Any] = {
            "sampling": "event",
            "delays": (0,),
            "cv": group_cv(self.folds, self.n_splits),
            "groups": self.folds,
            "inner_splits": self.inner_splits,
        }
        if self.alphas is not None:
            options["alphas"] = self.alphas
        return cross_validated_encoding(X, Y, **options).scores


def _aggregate(units: pd.DataFrame, scores: np.ndarray, column: str = "score") -> pd.DataFrame:
    """Median over each (subject, ROI)'s neuroids, and how many were finite.

    Returns
    -------
    pandas.DataFrame
        ``subject``, ``unit`` (the ROI), ``column`` (and ``n_units`` for scores).
    """
    table = units.rename(columns={"roi": "unit"}).assign(**{column: scores})
    grouped = table.groupby(["subject", "unit"], sort=False)[column]
    result = grouped.median().to_frame(column)
    if column == "score":
        result["n_units"] = grouped.count()
    return result.reset_index()


def _assembly_ceiling(presented: Presentation) -> pd.DataFrame | None:
    if "ceiling" not in presented.attrs:
        return None
    value = np.asarray(presented.attrs["ceiling"], dtype=np.float64).reshape(-1)
    n_units = len(presented.units)
    if value.size == 1:
        value = np.repeat(value, n_units)
    elif value.size != n_units:
        raise ValueError(
            f"the assembly's attrs['ceiling'] holds {value.size} values; expected 1 or one "
            f"per neuroid ({n_units})"
        )
    return _aggregate(presented.units, value, "ceiling").assign(**{CEILING_SOURCE: "assembly"})


def _isc_ceiling(presented: Presentation) -> pd.DataFrame | None:
    """LOSO ISC when every subject has exactly one unit per roi, the same rois; else None."""
    units = presented.units
    subjects = list(dict.fromkeys(units["subject"]))
    rois = list(dict.fromkeys(units["roi"]))
    counts = units.groupby(["subject", "roi"]).size()
    if len(subjects) < 2 or len(counts) != len(subjects) * len(rois) or (counts != 1).any():
        return None
    column = {key: i for i, key in enumerate(zip(units["subject"], units["roi"], strict=True))}
    stacked = np.stack(
        [presented.data[:, [column[(s, r)] for r in rois]] for s in subjects]
    )  # (n_subjects, n_items, n_rois)
    isc = leave_one_out_isc(stacked, runs=presented.position_groups)
    return pd.DataFrame(
        {
            "subject": np.repeat(subjects, len(rois)),
            "unit": np.tile(rois, len(subjects)),
            "ceiling": isc.reshape(-1),
            CEILING_SOURCE: "loso-isc",
        }
    )


def _encoding_ceiling(presented: Presentation, scorer: _Scorer) -> pd.DataFrame | None:
    """Each subject's units predicted from all other subjects' units (same pipeline)."""
    subjects = presented.units["subject"].to_numpy()
    if len(np.unique(subjects)) < 2:
        return None
    scores = np.empty(len(subjects))
    for subject in dict.fromkeys(subjects):
        own = subjects == subject
        scores[own] = scorer.unit_scores(presented.data[:, ~own], presented.data[:, own])
    return _aggregate(presented.units, scores, "ceiling").assign(
        **{CEILING_SOURCE: "loso-encoding"}
    )


def _ceiling(presented: Presentation, spec: AssemblySpec, scorer: _Scorer) -> pd.DataFrame | None:
    found = _assembly_ceiling(presented)
    if found is None and spec.ceiling == "isc":
        found = _isc_ceiling(presented)
    if found is None and spec.ceiling in ("isc", "encoding"):
        found = _encoding_ceiling(presented, scorer)
    return found


@dataclass
class LanguageRidgeTask:
    """A Brain-Score language assembly prepared for one run (module documentation)."""

    benchmark: Benchmark
    settings: RunSettings
    spec: AssemblySpec
    presented: Presentation
    scorer: _Scorer
    n_harmonics: int

    def _rows(self, X: np.ndarray, layer: object = pd.NA, head: object = pd.NA) -> pd.DataFrame:
        rows = _aggregate(self.presented.units, self.scorer.unit_scores(X, self.presented.data))
        rows.insert(0, "layer", pd.array([layer] * len(rows), dtype="Int64"))
        rows.insert(1, "head", pd.array([head] * len(rows), dtype="Int64"))
        return rows

    def score_model(self, weights: str) -> ModelScores:
        """Ridge from every layer (and head) to every neuroid, median per subject and ROI."""
        settings = self.settings
        features = extract_item_features(
            settings.model,
            self.presented.items,
            context=self.spec.context,
            level=self.spec.level,
            heads=settings.heads,
            context_words=settings.context_words,
            **settings.text_instruction(),
            **settings.encoder_options(self.benchmark, weights),
        )
        features = restrict_run_features(features, settings, weights)
        frames = [
            self._rows(X, layer, head) for layer, head, X in _feature_sets(features, settings.heads)
        ]
        last = [name for name in features.layer_names if name.isdigit()][-1]
        return ModelScores(
            pd.concat(frames, ignore_index=True),
            features[last].shape[1],
            constant=constant_feature_sets(features, settings.heads),
        )

    def score_controls(self, model: ModelScores) -> dict[str, pd.DataFrame]:
        """The position control through the same ridge and folds."""
        X = position_features(
            self.presented.position_groups,
            self.presented.items["position"].to_numpy(),
            n_harmonics=self.n_harmonics,
        )
        return {POSITION_CONTROL: self._rows(X)}

    def ceiling(self) -> pd.DataFrame | None:
        """The assembly's ceiling, else the spec's inter-subject ceiling (module docs)."""
        return _ceiling(self.presented, self.spec, self.scorer)

    def workload(self) -> Workload:
        """The items in reading order; a group-fold ridge per layer (and head) and the
        position control onto every neuroid."""
        from brainalign.benchmarks.controls import position_feature_names
        from brainalign.planning.workload import Workload, feature_set_fits, text_set

        items = self.presented.items["text"].astype(str).tolist()
        reading = "window" if self.spec.context == "window" else self.spec.context
        scorer = self.scorer
        n_groups = len(np.unique(scorer.folds))
        return Workload(
            stimuli=(
                text_set(
                    items,
                    reading,
                    self.settings,
                    f"{len(items)} items",
                    groups=self.presented.items["group"].tolist(),
                ),
            ),  # fmt: skip
            fits=feature_set_fits(
                self.settings,
                "ridge",
                n_samples=len(items),
                n_targets=self.presented.data.shape[1],
                control_width=len(position_feature_names(self.n_harmonics)),
                n_splits=min(scorer.n_splits, n_groups),
                inner_splits=scorer.inner_splits,
                n_alphas=None if scorer.alphas is None else len(scorer.alphas),
            ),  # fmt: skip
            data_bytes=int(self.presented.data.nbytes),
        )


def prepare(benchmark: Benchmark, settings: RunSettings) -> LanguageRidgeTask:
    """Load a Brain-Score language assembly in reading order for a run.

    Options (``settings.options``): ``n_splits`` (outer group folds; default per
    benchmark: 5, Blank 8, Tuckute 10; fewer when there are fewer groups),
    ``inner_splits`` (default 5), ``alphas`` (ridge grid), ``fold_by`` (a presentation
    coordinate grouping the folds instead of the default group), ``n_harmonics`` (sine/
    cosine pairs of the position control, default 2).

    Returns
    -------
    LanguageRidgeTask
        Rows: per (layer[, head], subject, ROI), the ROI in ``unit``, the median
        held-out r over the subject's neuroids of the ROI, ``n_units``; ceiling rows add
        ``ceiling_source``.

    Raises
    ------
    ValueError
        For a benchmark id without a spec, a bad option or an assembly missing a
        needed coordinate.
    """
    if benchmark.id not in SPECS:
        raise ValueError(
            f"benchmark {benchmark.id!r} is not a language ridge benchmark; known: {sorted(SPECS)}"
        )
    spec = SPECS[benchmark.id]
    options = settings.options
    load_options = {} if spec.experiment is None else {"experiment": spec.experiment}
    recording = load(spec.dataset, progress=False, **load_options)
    presented = presentation(recording, spec, fold_by=options.get("fold_by"))
    alphas = options.get("alphas")
    scorer = _Scorer(
        folds=presented.folds,
        n_splits=options.get("n_splits", spec.n_splits),
        inner_splits=options.get("inner_splits", 5),
        alphas=None if alphas is None else np.asarray(alphas, dtype=float),
    )
    group_cv(scorer.folds, scorer.n_splits)  # check the options before any forward pass
    return LanguageRidgeTask(
        benchmark, settings, spec, presented, scorer, options.get("n_harmonics", 2)
    )
