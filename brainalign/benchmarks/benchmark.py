"""A benchmark, and the one path that turns run settings into result rows.

A :class:`Benchmark` fixes everything that makes a score comparable between models
(dataset, presentation, metric, cross-validation, ceiling, aggregation, controls) under
a versioned id. :meth:`Benchmark.run` is the only way a score is made:

1. the settings are checked against the benchmark (:func:`~brainalign.benchmarks.
   settings.check_settings`: a setting it would not use is an error);
2. the dataset's files are checked (:meth:`Benchmark.check_data`);
3. the benchmark's *task* is prepared (its runner: ``prepare(benchmark, settings)``,
   which loads the data once); a task that describes its ``workload()`` is planned
   (:mod:`brainalign.planning`) and the cell refused with
   :class:`~brainalign.planning.errors.DoesNotFitError` when its predicted peak memory
   exceeds what is available, before any forward pass; then the task is asked for the
   scores of the model, of its untrained twin, of its controls and for the ceiling
   (:class:`BenchmarkTask`);
4. ``Benchmark.run`` labels every row (``model``, ``weights``, ``control``,
   ``control_of``, ``benchmark``, ``dataset``, ``metric``), flags the rows scored from
   features that are the same for every item (``features_flag``, with one
   :class:`ConstantFeaturesWarning` per run naming them), joins the ceiling, puts the
   model's card on its rows (:mod:`brainalign.encoders.cards`: size, depth, width,
   objective, ``relative_depth``) and, for per-head rows of a text model, each head's
   properties (:mod:`brainalign.encoders.head_cards`: induction and previous-token
   scores, attention entropy and distance), and types the table
   (:func:`brainalign.results.make_results`).

A task only computes scores: it never names the rows, adds the twin or the controls
itself, or checks settings. Each stage is logged (logger ``brainalign.progress``, one
line with the elapsed time and what was scored), so a run without a terminal is never
silent.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from brainalign.benchmarks.settings import RunSettings, check_settings
from brainalign.benchmarks.units import RANDOM_UNITS_CONTROL, units_per_row
from brainalign.datasets.download import NotInCacheError
from brainalign.encoders.cards import attach_model_card, model_card
from brainalign.encoders.store.usage import recording_entries
from brainalign.planning.store_hits import record_variant
from brainalign.results.schema import UNIT_KEYS

if TYPE_CHECKING:
    from brainalign.encoders.features import Features

__all__ = [
    "CONSTANT_FLAG",
    "Benchmark",
    "BenchmarkTask",
    "ConstantFeaturesWarning",
    "MissingBenchmarkDataError",
    "ModelScores",
    "as_settings",
    "constant_feature_sets",
    "is_constant",
]

PROGRESS = logging.getLogger("brainalign.progress")
"""Where the stages of a run are logged (INFO)."""

#: Columns a task's rows may be joined to the ceiling on: those of
#: :data:`brainalign.results.schema.UNIT_KEYS` the ceiling has (``time``: seconds of a
#: time-resolved row, e.g. a study's epochs).
CEILING_KEYS = UNIT_KEYS

#: ``features_flag`` of a row scored from features that are the same for every item.
CONSTANT_FLAG = "constant"

#: Relative spread (of a dimension, over items) at or below which it counts as constant:
#: a few float32 roundings (float32's epsilon is 1.2e-7).
CONSTANT_RTOL = 1e-6


class MissingBenchmarkDataError(NotInCacheError):
    """A benchmark's dataset is not in the cache and downloads are off."""


class ConstantFeaturesWarning(UserWarning):
    """Some layers (or heads) of a model gave the same features for every item.

    A score needs features that vary across items: a similarity or RSA score of such a
    layer is NaN, and an encoding score carries nothing of the model beyond the items'
    timing. :meth:`Benchmark.run` warns once per run, naming the model and the layers
    and heads, and flags their rows ``features_flag == "constant"``.
    """


def is_constant(X: np.ndarray) -> bool:
    """Whether every item (row) of ``X`` has the same features, to float32 precision.

    Parameters
    ----------
    X : numpy.ndarray, shape (n_items, ...)

    Returns
    -------
    bool
        True when every dimension's spread over the items (max - min) is at most
        :data:`CONSTANT_RTOL` times its largest absolute value (all-zero dimensions
        included); False for fewer than two items or a non-finite value.
    """
    X = np.asarray(X)
    if len(X) < 2 or X.size == 0:
        return False
    X = X.reshape(len(X), -1)
    low, high = X.min(axis=0), X.max(axis=0)
    scale = np.maximum(np.abs(low), np.abs(high))
    with np.errstate(invalid="ignore"):
        return bool(np.all(high - low <= CONSTANT_RTOL * scale))


def constant_feature_sets(features: Features, heads: bool = False) -> list[tuple[int, int | None]]:
    """The hidden states (and heads) whose features are the same for every item.

    Parameters
    ----------
    features : Features
        Hidden states ``"0"``, ``"1"``, ... of shape (n_items, n_dims), and per-head
        arrays ``"L.heads"`` of shape (n_items, n_heads, d_head).
    heads : bool, default False
        Whether heads are scored (then each head of every ``"L.heads"`` is checked).

    Returns
    -------
    list of (int, int or None)
        (layer, head) of each constant feature set, in model order; head None for a
        whole layer. For :attr:`ModelScores.constant`.
    """
    found: list[tuple[int, int | None]] = []
    suffix = ".heads"
    for name in features.layer_names:
        array = features[name]
        if name.isdigit():
            if is_constant(array):
                found.append((int(name), None))
        elif heads and name.endswith(suffix) and name[: -len(suffix)].isdigit():
            layer = int(name[: -len(suffix)])
            found += [(layer, h) for h in range(array.shape[1]) if is_constant(array[:, h])]
    return found


@dataclass
class ModelScores:
    """What a task scored for one model variant.

    Attributes
    ----------
    rows : pandas.DataFrame, shape (n_rows, ...)
        ``layer`` (missing for layer-free scores), ``head`` (optional), ``subject``,
        ``unit``, ``score`` and any benchmark-specific columns; no model, weights,
        control, benchmark, dataset or metric (the benchmark adds them).
    n_dims : int or None
        Width of the model's last scored layer, for controls that match it.
    constant : list of (int, int or None)
        (layer, head) of the feature sets that were the same for every item (head None
        for a whole layer; :func:`constant_feature_sets`): their rows get
        ``features_flag == "constant"``.
    """

    rows: pd.DataFrame
    n_dims: int | None = None
    constant: list[tuple[int, int | None]] = field(default_factory=list)


class BenchmarkTask(Protocol):
    """A benchmark's data, prepared once for one run (returned by its runner)."""

    def score_model(self, weights: str) -> ModelScores:
        """Scores of the run's model with ``weights`` (``"pretrained"``/``"untrained"``)."""

    def score_controls(self, model: ModelScores) -> Mapping[str, pd.DataFrame]:
        """Rows of each control by name, scored exactly as the model is."""

    def ceiling(self) -> pd.DataFrame | None:
        """The ceiling: :data:`CEILING_KEYS` columns present in the rows, ``ceiling``,
        and any other ceiling columns; None when the benchmark has no ceiling."""

    # Optional: ``workload(self) -> brainalign.planning.workload.Workload``, what the
    # task will compute (stimulus sets, fits, data held), read without running a model
    # by the cost plan (:mod:`brainalign.planning`) and by the memory check that
    # :meth:`Benchmark.run` makes before any forward pass. A task without it is
    # planned as "unknown" and never refused.


#: A runner: ``prepare(benchmark, settings) -> BenchmarkTask``.
Runner = Callable[..., BenchmarkTask]


def as_settings(model: str | RunSettings, **settings: Any) -> RunSettings:
    """``RunSettings`` from a model name and keyword settings, or unchanged.

    Raises
    ------
    brainalign.benchmarks.settings.SettingsError
        For a bad value, or keyword settings next to a ``RunSettings``.
    """
    if isinstance(model, RunSettings):
        if settings:
            from brainalign.benchmarks.settings import SettingsError

            raise SettingsError(
                "give settings either as a RunSettings or as keywords, not both "
                f"({sorted(settings)})"
            )
        return model
    return RunSettings(model, **settings)


@dataclass(frozen=True)
class Benchmark:
    """One named benchmark.

    Parameters
    ----------
    id : str
        Name, lower case, ``-`` separated (``"simlex999"``).
    version : int
        Bumped whenever a change can move the scores; results carry ``id@version``.
    dataset : str
        Catalogue dataset (:func:`brainalign.datasets.catalogue.load`).
    description : str
        One paragraph: what is measured.
    presentation : str
        How stimuli reach the model, in words.
    context : str
        Context mode of the encoder (``"isolated"``, ``"passage"``, ``"window"``), or
        ``"image"`` for images.
    pooling : str
        How an item's tokens become one vector.
    metric : str
        Value of the ``metric`` column (``"spearman_r"``, ``"pearson_r"``).
    cross_validation : str
        How held-out scores are obtained (``"none"`` when nothing is fitted).
    ceiling : str
        What the ``ceiling`` column holds (or why it is NaN).
    aggregation : str
        What one row is.
    controls : str
        The baselines reported next to the model and how they are scored (exactly as
        the model is).
    citation : str
        The dataset's paper.
    runner : str or callable
        ``"package.module:function"`` (imported when run) or the function itself:
        ``prepare(benchmark, settings) -> BenchmarkTask``.
    dataset_files : tuple of str
        Catalogue file keys the benchmark reads (checked before running).
    scores_heads : bool
        Whether it scores attention heads (``heads=True``).
    uses_layers : bool
        Whether it scores layers (``layers=`` selects them).
    layers_note : str
        Why it takes no ``layers``, when it takes none.
    uses_context_words : bool
        Whether it reads words in windows of preceding words (``context_words``).
    reads_instruction : bool
        Whether its model features come from the text encoder, which can read a task
        instruction before every text (``instruction``).
    selects_units : bool
        Whether its model features are a text model's hidden states, which a run can
        restrict to localized units (``units``, :mod:`brainalign.benchmarks.units`).
    seeded : str
        What the run's seed seeds besides the untrained twin (random controls, shuffled
        folds); empty when nothing.
    options : mapping of str to str
        Benchmark-specific options and what each does.
    batch_size : int
        Items per forward pass when the run does not set one.
    digest : str
        sha256 of the data and analysis behind the scores, for benchmarks whose data
        can change under the same version (a user's :class:`~brainalign.benchmarks.
        study.Study`); a run folder recomputes a cell whose digest changed. Empty for
        registered benchmarks, whose version says it.
    """

    id: str
    version: int
    dataset: str
    description: str
    presentation: str
    context: str
    pooling: str
    metric: str
    cross_validation: str
    ceiling: str
    aggregation: str
    controls: str
    citation: str
    runner: str | Runner
    dataset_files: tuple[str, ...] = ()
    scores_heads: bool = False
    uses_layers: bool = True
    layers_note: str = ""
    uses_context_words: bool = False
    reads_instruction: bool = False
    selects_units: bool = False
    seeded: str = ""
    options: Mapping[str, str] = field(default_factory=dict)
    batch_size: int = 32
    digest: str = ""

    def __post_init__(self) -> None:
        if not self.id or "@" in self.id or self.id != self.id.strip().lower():
            raise ValueError(
                f"Benchmark id={self.id!r}: use a non-empty lower-case name without '@'"
            )
        if not isinstance(self.version, int) or self.version < 1:
            raise ValueError(f"Benchmark {self.id!r}: version={self.version!r} must be an int >= 1")

    @property
    def stimuli_kind(self) -> str:
        """What the model reads: ``"image"``, ``"audio"``, ``"video"`` (the benchmark's
        ``context``) or ``"text"`` (every other context)."""
        return self.context if self.context in ("image", "audio", "video") else "text"

    @property
    def versioned_id(self) -> str:
        """``"id@version"``, the value of the results' ``benchmark`` column."""
        return f"{self.id}@{self.version}"

    def resolve_runner(self) -> Runner:
        """The runner function (imported on first use)."""
        if callable(self.runner):
            return self.runner
        module_name, _, attribute = self.runner.partition(":")
        return getattr(importlib.import_module(module_name), attribute)

    def check_data(self) -> None:
        """Make sure the dataset's files are available (downloading them when allowed).

        Raises
        ------
        MissingBenchmarkDataError
            Offline (``BRAINALIGN_OFFLINE=1``) and a file is not in the cache; the message
            says how to fetch it and lists each missing file with its cache path and URL.
        """
        if not self.dataset_files:
            return
        from brainalign.datasets.catalogue import fetch

        try:
            fetch(self.dataset, files=list(self.dataset_files), progress=False)
        except NotInCacheError as error:
            raise MissingBenchmarkDataError(
                f"benchmark {self.versioned_id} needs dataset {self.dataset!r}, which is not "
                f"in the cache: run `brainalign datasets fetch {self.dataset}` (online), or "
                f"save the files as listed below.\n{error}"
            ) from error

    def run(self, model: str | RunSettings, **settings: Any) -> pd.DataFrame:
        """Score a model on this benchmark, with its untrained twin, controls and ceiling.

        Parameters
        ----------
        model : str or RunSettings
            A hub id or model directory (then ``settings`` are
            :class:`~brainalign.benchmarks.settings.RunSettings` keywords: ``layers``,
            ``heads``, ``seed``, ``options``, ...), or the settings themselves.
        **settings
            Keywords of :class:`~brainalign.benchmarks.settings.RunSettings`.

        Returns
        -------
        pandas.DataFrame
            Result rows (:data:`brainalign.results.RESULT_COLUMNS`, then the
            benchmark's own columns): the model's, its untrained twin's (unless
            ``untrained_twin=False``), each control's (``control``, ``control_of``), with
            the ceiling. ``features_flag`` is ``"constant"`` on the rows of a layer (or
            head) whose features were the same for every item, else ``""``.

        Warns
        -----
        ConstantFeaturesWarning
            Once, when any layer or head of the model (or its twin) was constant,
            naming the model, the weights and the layers and heads.

        Raises
        ------
        brainalign.benchmarks.settings.SettingsError
            For a setting the benchmark would not use (named), or a bad value.
        MissingBenchmarkDataError
            When the data is missing offline (see :meth:`check_data`).
        """
        settings_ = as_settings(model, **settings)
        check_settings(self, settings_)
        self.check_data()
        from brainalign.alignment.backend import alignment_device

        # the encoding fits of the run compute where --device says (in float64 there)
        with alignment_device(settings_.alignment_device()):
            return self._rows(settings_)

    def _rows(self, settings_: RunSettings) -> pd.DataFrame:
        """The body of :meth:`run`: task, model variants, controls, ceiling, cards."""
        start = time.perf_counter()
        where = f"{self.versioned_id} {settings_.model}"
        PROGRESS.info("%s: loading %s", where, self.dataset)
        task = self.resolve_runner()(self, settings_)
        _check_fits(self, settings_, task)
        frames = []
        scored: ModelScores | None = None
        constant: dict[str, list[tuple[int, int | None]]] = {}
        for weights in settings_.variants:
            began = time.perf_counter()
            PROGRESS.info("%s (%s): features and scores", where, weights)
            with recording_entries() as used:  # what the next plan of this cell may skip
                scores = task.score_model(weights)
            record_variant(settings_, self, weights, used)
            PROGRESS.info(
                "%s (%s): %s in %.1f s", where, weights, _counts(scores.rows),
                time.perf_counter() - began,
            )  # fmt: skip
            labelled = _label(scores.rows, model=settings_.model, weights=weights)
            frames.append(_flag_constant(labelled, scores.constant))
            if scores.constant:
                constant[weights] = list(scores.constant)
            if weights == settings_.weights:
                scored = scores
        assert scored is not None
        for name, rows in task.score_controls(scored).items():
            frames.append(_label(rows, control=name, control_of=settings_.model))
        if settings_.units is not None:  # the same number of units per layer, at random
            frames.append(self._random_units(settings_))
        if constant:
            warnings.warn(
                _constant_message(self.versioned_id, settings_.model, constant),
                ConstantFeaturesWarning,
                stacklevel=2,
            )
        rows = pd.concat(frames, ignore_index=True)
        rows["features_flag"] = rows["features_flag"].fillna("")
        rows = _with_ceiling(rows, task.ceiling())
        rows = attach_model_card(rows, model_card(settings_.model, stimuli=self.stimuli_kind))
        if settings_.heads and self.stimuli_kind == "text":
            rows = _with_head_properties(rows, settings_)
        if settings_.units is not None:
            rows["units"] = settings_.units
            rows["n_model_units"] = units_per_row(rows, settings_)
        if settings_.instruction is not None:  # a run-wide setting the rows must carry
            rows["instruction"] = settings_.instruction
            rows["instruction_format"] = settings_.instruction_format
        rows["benchmark"] = self.versioned_id
        rows["dataset"] = self.dataset
        rows["metric"] = self.metric
        PROGRESS.info("%s: done in %.1f s (%d rows)", where, time.perf_counter() - start, len(rows))
        from brainalign.results import make_results

        return make_results(rows)

    def _random_units(self, settings: RunSettings) -> pd.DataFrame:
        """Rows of the ``random-units`` control: the run's task scoring random units."""
        drawn = dataclasses.replace(settings, unit_draw="random")
        PROGRESS.info("%s %s: random-units control", self.versioned_id, settings.model)
        scores = self.resolve_runner()(self, drawn).score_model(settings.weights)
        return _label(scores.rows, control=RANDOM_UNITS_CONTROL, control_of=settings.model)


def _check_fits(benchmark: Benchmark, settings: RunSettings, task: BenchmarkTask) -> None:
    """Refuse a cell that would not fit in memory, before any forward pass
    (:func:`brainalign.planning.cost.check_cell_fits`: raises
    :class:`~brainalign.planning.errors.DoesNotFitError`). A failure of the plan itself
    is logged and the run goes on: a plan never stops a run it cannot size."""
    from brainalign.planning.cost import check_cell_fits
    from brainalign.planning.errors import DoesNotFitError

    try:
        check_cell_fits(settings, benchmark, task)
    except DoesNotFitError:
        raise
    except Exception as error:  # noqa: BLE001 - the plan is advice; the run decides
        PROGRESS.warning("%s: no memory plan (%s: %s)", benchmark.versioned_id,
                         type(error).__name__, error)  # fmt: skip


def _with_head_properties(rows: pd.DataFrame, settings: RunSettings) -> pd.DataFrame:
    """Per-head rows joined to their head's properties (induction, previous-token, ...).

    :func:`brainalign.encoders.head_cards.head_properties` of each scored weights
    variant (in the run's store), matched on ``(weights, layer, head)``; whole-layer and
    control rows get NaN.
    """
    from brainalign.encoders.head_cards import HEAD_PROPERTY_MEASURES, head_properties

    table = rows.copy()
    for name in HEAD_PROPERTY_MEASURES:
        table[name] = np.nan
    for weights in settings.variants:
        cards = head_properties(
            settings.model, weights=weights, seed=settings.run_seed, sequence_length=None,
            device=settings.device, dtype=settings.dtype, store=settings.feature_store(),
        )  # fmt: skip
        cards = cards.set_index(["layer", "head"])
        mine = (table["weights"] == weights) & table["head"].notna()
        keys = list(zip(table.loc[mine, "layer"].astype(int), table.loc[mine, "head"].astype(int),
                        strict=True))  # fmt: skip
        values = cards.reindex(keys)[list(HEAD_PROPERTY_MEASURES)].to_numpy(dtype=np.float64)
        table.loc[mine, list(HEAD_PROPERTY_MEASURES)] = values
    return table


def _counts(rows: pd.DataFrame) -> str:
    """'13 layers x 12 heads, 162 units' for a progress line."""
    layers = rows["layer"].dropna().nunique() if "layer" in rows else 0
    heads = rows["head"].dropna().nunique() if "head" in rows else 0
    units = rows[["subject", "unit"]].drop_duplicates().shape[0]
    what = f"{layers} layer{'s' * (layers != 1)}" if layers else "scored"
    if heads:
        what += f" x {heads} heads"
    return f"{what}, {units} unit{'s' * (units != 1)}"


def _label(rows: pd.DataFrame, **entity: str) -> pd.DataFrame:
    labelled = rows.copy()
    for column in ("model", "weights", "control", "control_of"):
        labelled[column] = entity.get(column, "")
    if "layer" not in labelled.columns:
        labelled["layer"] = pd.NA
    return labelled


def _flag_constant(rows: pd.DataFrame, constant: Sequence[tuple[int, int | None]]) -> pd.DataFrame:
    """``features_flag``: ``"constant"`` on the rows of the (layer, head) in ``constant``."""
    flagged = rows.assign(features_flag="")
    if not constant or "layer" not in rows.columns:
        return flagged
    layers = rows["layer"].astype("Int64")
    heads = rows["head"].astype("Int64") if "head" in rows.columns else pd.Series(pd.NA, rows.index)
    for layer, head in constant:
        at = (layers == layer).fillna(False)
        at &= heads.isna() if head is None else (heads == head).fillna(False)
        flagged.loc[at.to_numpy(dtype=bool), "features_flag"] = CONSTANT_FLAG
    return flagged


def _constant_message(
    benchmark: str, model: str, constant: Mapping[str, Sequence[tuple[int, int | None]]]
) -> str:
    """The one warning of a run: model, weights, the layers and heads that were constant."""

    def described(sets: Sequence[tuple[int, int | None]]) -> str:
        whole = [str(layer) for layer, head in sets if head is None]
        parts = [f"layer{'s' * (len(whole) > 1)} {', '.join(whole)}"] if whole else []
        by_layer: dict[int, list[str]] = {}
        for layer, head in sets:
            if head is not None:
                by_layer.setdefault(layer, []).append(str(head))
        parts += [f"layer {layer} heads {', '.join(hs)}" for layer, hs in by_layer.items()]
        return "; ".join(parts)

    per_weights = [f"{described(sets)} ({weights})" for weights, sets in constant.items()]
    return (
        f"{benchmark}: model {model!r} gave the same features for every item at "
        f"{'; '.join(per_weights)}, so their scores say nothing about the model (NaN, or "
        "for a time series only the items' timing); these rows have features_flag "
        "'constant'. A CLS token read at the embedding layer (layer 0) is one such case: "
        "leave those layers out or pool over tokens."
    )


def _with_ceiling(rows: pd.DataFrame, ceiling: pd.DataFrame | None) -> pd.DataFrame:
    """Join the task's ceiling; rows it does not cover are marked as having none."""
    if ceiling is None:
        return rows.assign(ceiling=np.nan, ceiling_flag="none")
    keys = [c for c in CEILING_KEYS if c in ceiling.columns]
    if not keys:
        raise ValueError(f"a ceiling needs at least one of {CEILING_KEYS} to join on")
    table = ceiling.assign(ceiling_flag="")
    joined = rows.merge(table, on=keys, how="left", validate="many_to_one")
    joined["ceiling_flag"] = joined["ceiling_flag"].fillna("none")
    return joined
