"""``brainalign.score``: several models on several registered benchmarks, one tidy table.

The one scoring path: every (model, benchmark) *cell* runs through
:meth:`brainalign.benchmarks.benchmark.Benchmark.run` with one
:class:`~brainalign.benchmarks.settings.RunSettings` per model, built once here from the
keyword settings. Before anything runs, :func:`preflight` checks every setting against
every benchmark (a setting a benchmark would not use is an error), each model's path,
its layer range and (for causal models) ``context_words``, and the output folder, all
without importing torch or loading weights.

With ``out``, each cell is written atomically as soon as it finishes
(:class:`brainalign.runs.RunFolder`: ``cells/``, ``run.json``); a rerun with the same
settings skips finished cells, and a folder holding other settings is refused unless
``overwrite=True``. All finished cells are then gathered into ``results.parquet`` and
``results.csv``, with the figures in ``figures/``.

One feature store (``store``) serves every cell: features computed for one benchmark are
read back by any other benchmark (or later run) that needs the same provenance key, so
no forward pass is repeated. :func:`count_forward_passes` counts the forward passes a
block of code makes, which is how a run with a full store shows that it ran no model.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from brainalign.benchmarks.benchmark import Benchmark
    from brainalign.benchmarks.settings import RunSettings
    from brainalign.encoders.store import FeatureStore
    from brainalign.parallel import Outcome
    from brainalign.planning.cost import CellPlan
    from brainalign.runs import Cell

__all__ = [
    "BenchmarkRunError",
    "ForwardPassCount",
    "check_distinct",
    "count_forward_passes",
    "make_settings",
    "plan",
    "preflight",
    "resolve_benchmarks",
    "resolve_studies",
    "score",
]

#: Exception types whose message is reported as it is (a bad option, a model that does
#: not load, missing data); any other is reported with its type name.
USER_ERRORS = ("ValueError", "OSError", "FileNotFoundError", "ModelLoadError",
               "SettingsError", "MissingBenchmarkDataError", "NotInCacheError",
               "DoesNotFitError")  # fmt: skip


class BenchmarkRunError(RuntimeError):
    """Cells of a run failed; ``str()`` names each: ``"<benchmark id@version>: <why>"``.

    Attributes
    ----------
    failures : list of (Cell, Outcome)
        Each failed cell with its outcome (``details`` holds the traceback).
    """

    def __init__(self, failures: Sequence[tuple[Cell, Outcome]], n_cells: int) -> None:
        lines = [f"{cell.benchmark}: {_why(outcome)}" for cell, outcome in failures]
        if len(failures) == 1 and n_cells == 1:
            message = lines[0]
        else:
            several = {cell.model for cell, _ in failures}
            lines = [
                f"{cell.model} on {line}" if len(several) > 1 else line
                for (cell, _), line in zip(failures, lines, strict=True)
            ]
            message = f"{len(failures)} of {n_cells} cells failed:\n  " + "\n  ".join(lines)
        super().__init__(message)
        self.failures = list(failures)
        self.model = failures[0][0].model
        self.benchmark = failures[0][0].benchmark


def _why(outcome: Outcome) -> str:
    return outcome.message if outcome.kind in USER_ERRORS else str(outcome.error)


def _as_list(value: Any, name: str) -> list[Any]:
    """A single name or a sequence of them as a non-empty list without duplicates."""
    items = [value] if isinstance(value, str) or not isinstance(value, Sequence) else list(value)
    if not items:
        raise ValueError(f"{name} is empty; give at least one")
    return list(dict.fromkeys(items))


def resolve_benchmarks(benchmarks: str | Benchmark | Sequence[str | Benchmark]) -> list[Benchmark]:
    """Registry records of benchmark names (``"simlex999"`` or ``"simlex999@1"``).

    Parameters
    ----------
    benchmarks : str, Benchmark or sequence of them, length n_benchmarks

    Returns
    -------
    list of Benchmark, length n_unique

    Raises
    ------
    brainalign.benchmarks.registry.UnknownBenchmarkError
        For an unknown name (the message lists the close matches).
    """
    from brainalign.benchmarks.registry import Benchmark, get

    if isinstance(benchmarks, Benchmark | str):
        benchmarks = [benchmarks]
    if not benchmarks:
        raise ValueError("benchmarks is empty; give at least one")
    records = [b if isinstance(b, Benchmark) else get(b) for b in benchmarks]
    return list({b.versioned_id: b for b in records}.values())


def check_distinct(records: Sequence[Benchmark]) -> list[Benchmark]:
    """``records`` unless two of them share a versioned id (a study named like another).

    Raises
    ------
    ValueError
        For an empty list, or naming the shared ids.
    """
    if not records:
        raise ValueError("give at least one benchmark or study to score")
    names = [record.versioned_id for record in records]
    shared = sorted({name for name in names if names.count(name) > 1})
    if shared:
        raise ValueError(
            f"two benchmarks or studies share the name {', '.join(shared)}: give each study "
            "its own name"
        )
    return list(records)


def make_settings(models: str | Sequence[str], **settings: Any) -> list[RunSettings]:
    """One checked :class:`~brainalign.benchmarks.settings.RunSettings` per model.

    Raises
    ------
    brainalign.benchmarks.settings.SettingsError
        For a bad value (named); models given with different ``@`` weight suffixes.
    """
    from brainalign.benchmarks.settings import RunSettings, SettingsError

    built = [RunSettings(str(model), **settings) for model in _as_list(models, "models")]
    prints = {repr(s.fingerprint()) for s in built}
    if len(prints) > 1:
        raise SettingsError(
            "the models of one run must share their settings; MODEL@untrained and MODEL "
            "differ in weights: score them in separate runs (or use the untrained twin, "
            "which every pretrained model gets)"
        )
    return built


def preflight(settings: Sequence[RunSettings], benchmarks: Sequence[Benchmark]) -> None:
    """Check everything that can be checked before torch is imported or weights load.

    Every setting against every benchmark
    (:func:`~brainalign.benchmarks.settings.check_settings`), then each model
    (:func:`brainalign.encoders.models.inspect_model`): that it resolves (a directory
    with config.json, or a hub id), that the requested layers exist when its config
    states its depth, and that ``context_words`` is not given for a causal model.

    Raises
    ------
    brainalign.benchmarks.settings.SettingsError
        For a setting a benchmark would not use, a layer out of range, or
        ``context_words`` for a causal model.
    brainalign.encoders.models.ModelLoadError
        For a model path that is not a model.
    """
    from brainalign.benchmarks.settings import SettingsError, check_settings
    from brainalign.encoders.models import inspect_model

    for run in settings:
        for benchmark in benchmarks:
            check_settings(benchmark, run)
    for run in settings:
        info = inspect_model(run.model)
        n_states = info.n_hidden_states()
        if run.layers is not None and n_states is not None and max(run.layers) >= n_states:
            raise SettingsError(
                f"layer {max(run.layers)} is out of range for {run.model!r}; valid "
                f"hidden-state indices are 0..{n_states - 1} (0 = embeddings)"
            )
        if run.context_words is not None and info.is_causal:
            raise SettingsError(
                f"context_words={run.context_words} (--context-words) sets the window of "
                f"bidirectional models; {run.model!r} is causal and reads every preceding "
                "word: drop it"
            )


def resolve_studies(studies: Any) -> list[Benchmark]:
    """Benchmarks of a user's studies: :class:`~brainalign.benchmarks.study.Study`
    objects or study files (YAML), one or a sequence.

    Raises
    ------
    brainalign.benchmarks.study.StudyInputError
        For a study file or input that is wrong (named).
    """
    from brainalign.benchmarks.study import Study

    if studies is None:
        return []
    items = [studies] if isinstance(studies, Study | str | os.PathLike) else list(studies)
    return [
        (item if isinstance(item, Study) else Study.from_yaml(item)).benchmark() for item in items
    ]


def score(
    models: str | Sequence[str],
    benchmarks: str | Benchmark | Sequence[str | Benchmark] | None = None,
    *,
    study: Any = None,
    weights: str = "pretrained",
    untrained_twin: bool = True,
    seed: int | None = None,
    layers: Sequence[int] | None = None,
    heads: bool = False,
    context_words: int | None = None,
    device: str = "cpu",
    dtype: str = "float32",
    batch_size: int | None = None,
    store: FeatureStore | str | os.PathLike | None = None,
    options: Mapping[str, Any] | None = None,
    out: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: bool = False,
    figures: bool = True,
    instruction: str | None = None,
    instruction_format: str = "plain",
    units: str | None = None,
) -> pd.DataFrame:
    """Score every model on every benchmark, with its untrained twin, controls and ceilings.

    Parameters
    ----------
    models : str or sequence of str, length n_models
        Hugging Face hub ids or local model directories (``MODEL@untrained``: the
        architecture with random weights, as ``weights="untrained"``).
    benchmarks : str, Benchmark or sequence of them, length n_benchmarks, optional
        Registered names (``"simlex999"``, ``"alice2016-encoding@2"``); see
        ``brainalign benchmarks list``.
    study : Study, path or sequence of them, optional
        The user's own studies (:class:`~brainalign.benchmarks.study.Study`, or study
        files read by :meth:`~brainalign.benchmarks.study.Study.from_yaml`), scored
        exactly as the benchmarks are. At least one benchmark or study is needed.
    weights, untrained_twin, seed, layers, heads, context_words, device, dtype, batch_size
        Run settings (:class:`~brainalign.benchmarks.settings.RunSettings`); a setting
        that a benchmark would not use is refused before anything runs.
    store : FeatureStore or path, optional
        Feature store shared by all cells: features are read from it when present (no
        forward pass) and written to it otherwise.
    options : mapping, optional
        Benchmark-specific options (``brainalign benchmarks info NAME`` lists them), e.g.
        ``{"radius_mm": 10}``; every selected benchmark must take each of them.
    out : path, optional
        Run folder: each cell written as it finishes, ``run.json``, the gathered
        ``results.parquet`` / ``results.csv`` and ``figures/``
        (:mod:`brainalign.runs`). A rerun with the same settings skips finished cells.
    overwrite : bool, default False
        Replace the results of other settings in ``out`` (else they are refused).
    progress : bool
        Progress bars (on a terminal); stages are logged to ``brainalign.progress``.
    figures : bool
        With ``out``: draw each benchmark's figures into ``out/figures``.
    instruction, instruction_format
        A task instruction the text encoder reads before every text (plain prefix or the
        model's chat template), for the benchmarks that read text
        (:class:`~brainalign.benchmarks.settings.RunSettings`); the rows carry it in an
        ``instruction`` column and the run folder's settings include it.
    units : str, optional
        Score only the model's localized units, e.g. ``"language:1%"``
        (:mod:`brainalign.benchmarks.units`), next to the control ``random-units``.

    Returns
    -------
    pandas.DataFrame
        The rows of every cell of this call (:data:`brainalign.results.RESULT_COLUMNS`
        first), in order of models, then benchmarks. (``out/results.*`` also hold the
        folder's earlier cells of the same settings.)

    Raises
    ------
    brainalign.benchmarks.registry.UnknownBenchmarkError
        For an unknown benchmark (before anything runs).
    brainalign.benchmarks.settings.SettingsError
        For a bad or unused setting (before anything runs).
    brainalign.runs.RunFolderError
        When ``out`` holds results of other settings (before anything runs).
    brainalign._io.OutputDirectoryError
        When ``out`` cannot be written (before anything runs).
    BenchmarkRunError
        When cells fail (model not loadable, data missing); the finished ones are kept.

    Examples
    --------
    >>> import brainalign  # doctest: +SKIP
    >>> brainalign.score(["gpt2"], ["simlex999", "wordsim353"], out="results")  # doctest: +SKIP
    """
    import pandas as pd

    from brainalign.parallel import LocalExecutor
    from brainalign.runs import CellTask, RunFolder, run_cells

    runs = make_settings(
        models,
        weights=weights,
        untrained_twin=untrained_twin,
        seed=seed,
        layers=layers,
        heads=heads,
        context_words=context_words,
        device=device,
        dtype=dtype,
        batch_size=batch_size,
        store=store,
        progress=progress,
        options=dict(options or {}),
        instruction=instruction,
        instruction_format=instruction_format,
        units=units,
    )
    registered = [] if benchmarks is None else resolve_benchmarks(benchmarks)
    records = check_distinct(registered + resolve_studies(study))
    preflight(runs, records)
    tasks = [CellTask.of(run, b) for run in runs for b in records]
    folder = None
    if out is not None:
        invocation = {
            "device": device,
            "batch_size": batch_size,
            "store": runs[0].store,
            "engine": "local",
        }
        folder = RunFolder(out, runs[0].fingerprint(), overwrite=overwrite, invocation=invocation)
        folder.add_models(run.model for run in runs)
    cells = [task.cell for task in tasks]
    pending = set(cells) if folder is None else set(folder.request(cells))
    todo = [task for task in tasks if task.cell in pending]
    done, failures = run_cells(todo, LocalExecutor(), folder=folder)
    if folder is not None:
        folder.finish()
    if failures:
        raise BenchmarkRunError(failures, len(tasks))
    frames = [
        done[task.cell] if task.cell in done else pd.read_parquet(task.cell.table_path(folder.path))
        for task in tasks
    ]
    results = pd.concat(frames, ignore_index=True)
    if folder is not None:
        write_run_outputs(folder, figures=figures)
    from brainalign.results import make_results

    return make_results(results)


def plan(
    models: str | Sequence[str],
    benchmarks: str | Benchmark | Sequence[str | Benchmark] | None = None,
    *,
    study: Any = None,
    recalibrate: bool = False,
    **settings: Any,
) -> list[CellPlan]:
    """The cost plan of :func:`score` with the same arguments, without scoring anything.

    Every cell's task is prepared (its data loaded; no model is loaded and no forward
    pass is made) and costed by :func:`brainalign.planning.cost.plan_cell`: forward
    passes, feature bytes, peak host and device memory and time, from a calibration of
    this machine (:mod:`brainalign.planning.calibration`, cached).

    Parameters
    ----------
    models, benchmarks, study
        As for :func:`score`.
    recalibrate : bool, default False
        Measure this machine again instead of using the cached calibration.
    **settings
        The run settings of :func:`score` (``layers``, ``heads``, ``dtype``,
        ``batch_size``, ``store``, ``options``, ...).

    Returns
    -------
    list of CellPlan
        One per (model, benchmark) cell, models first; ``refusal`` says why a cell would
        not fit in memory, and with which options it would.
        :func:`brainalign.planning.cost.format_plans` prints them as a table.

    Raises
    ------
    brainalign.benchmarks.settings.SettingsError
        For a bad or unused setting (as :func:`score`).
    """
    from brainalign.planning.calibration import machine_calibration
    from brainalign.planning.cost import plan_cells

    runs = make_settings(models, **settings)
    registered = [] if benchmarks is None else resolve_benchmarks(benchmarks)
    records = check_distinct(registered + resolve_studies(study))
    preflight(runs, records)
    return plan_cells(runs, records, calibration=machine_calibration(refresh=recalibrate))


def write_run_outputs(folder: Any, *, figures: bool = True) -> pd.DataFrame:
    """Gather a run folder's finished cells into ``results.*`` (and its figures).

    Returns
    -------
    pandas.DataFrame
        The gathered table.
    """
    from brainalign.results import write_results
    from brainalign.runs import FIGURES_DIR

    gathered = folder.gather()
    write_results(gathered, folder.path)
    if figures:
        from brainalign.report.figures import write_benchmark_figures

        write_benchmark_figures(gathered, folder.path / FIGURES_DIR)
    return gathered


# ----------------------------------------------------------------- forward-pass counting


@dataclass
class ForwardPassCount:
    """Forward passes (batches) and items run through encoders inside a
    :func:`count_forward_passes` block."""

    batches: int = 0
    items: int = 0


def _encoder_classes() -> list[type]:
    """Classes whose ``_forward(batch, ...)`` runs a model: text, vision, surprisal."""
    from brainalign.encoders.text import TextEncoder
    from brainalign.encoders.vision import VisionEncoder

    classes: list[type] = [TextEncoder, VisionEncoder]
    try:
        from brainalign.encoders.surprisal import SurprisalModel
    except ImportError:  # an older checkout without surprisal
        return classes
    return classes + [SurprisalModel]


@contextlib.contextmanager
def count_forward_passes() -> Iterator[ForwardPassCount]:
    """Count the encoders' forward passes made inside the block (this process only).

    Wraps ``TextEncoder._forward``, ``VisionEncoder._forward`` and
    ``SurprisalModel._forward`` for the duration of the block and restores them
    after. Not for blocks running encoders in several threads at once (the counts
    would mix).

    Yields
    ------
    ForwardPassCount
        Updated as the block runs: ``batches`` (forward passes) and ``items`` (rows).
    """
    count = ForwardPassCount()
    originals = {cls: cls.__dict__["_forward"] for cls in _encoder_classes()}

    def counting(original: Any) -> Any:
        def wrapper(self: Any, batch: Any, *args: Any, **kwargs: Any) -> Any:
            count.batches += 1
            count.items += _batch_length(batch)
            return original(self, batch, *args, **kwargs)

        return wrapper

    for cls, original in originals.items():
        cls._forward = counting(original)
    try:
        yield count
    finally:
        for cls, original in originals.items():
            cls._forward = original


def _batch_length(batch: Any) -> int:
    """Rows in a forward-pass batch (a list of texts or a tensor of pixels)."""
    shape = getattr(batch, "shape", None)
    if shape is not None and len(shape):
        return int(shape[0])
    try:
        return len(batch)
    except TypeError:
        return 0
