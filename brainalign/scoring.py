"""``brainalign.score``: several models on several registered benchmarks, one tidy table.

Each (model, benchmark) pair runs through
:meth:`brainalign.benchmarks.registry.Benchmark.run` (controls and ceiling included);
the rows of all pairs are concatenated and rows that several runs share (the same
content-free control or nuisance baseline, reported once per model) are kept once
(:func:`combine_results`). With ``out`` the table is written atomically to
``out/results.csv`` and ``out/results.parquet``.

One feature store (``store``) serves every pair: features computed for one benchmark are
read back by any other benchmark (or later run) that needs the same provenance key, so
no forward pass is repeated. :func:`count_forward_passes` counts the forward passes a
block of code makes, which is how a run with a full store shows that it ran no model.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from brainalign.benchmarks.registry import Benchmark
    from brainalign.encoders.store import FeatureStore

__all__ = [
    "BenchmarkRunError",
    "ForwardPassCount",
    "combine_results",
    "count_forward_passes",
    "resolve_benchmarks",
    "run_benchmark",
    "score",
]

#: Errors of a benchmark run that are reported as :class:`BenchmarkRunError` (a model
#: that does not load, a bad option, missing data); anything else propagates unchanged.
_RUN_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError)


class BenchmarkRunError(RuntimeError):
    """One (model, benchmark) run failed; ``str()`` is ``"<benchmark id@version>: <why>"``.

    Attributes
    ----------
    model : str
    benchmark : str
        Versioned id.
    """

    def __init__(self, model: str, benchmark: str, error: BaseException) -> None:
        super().__init__(f"{benchmark}: {error}")
        self.model = model
        self.benchmark = benchmark


def _as_list(value: str | Sequence[Any], name: str) -> list[Any]:
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

    if isinstance(benchmarks, Benchmark):
        benchmarks = [benchmarks]
    records = [
        b if isinstance(b, Benchmark) else get(b) for b in _as_list(benchmarks, "benchmarks")
    ]
    return list({b.versioned_id: b for b in records}.values())


def _as_store(store: FeatureStore | str | os.PathLike | None) -> FeatureStore | None:
    from brainalign.encoders.store import FeatureStore

    if store is None or isinstance(store, FeatureStore):
        return store
    return FeatureStore(store)


def run_benchmark(
    benchmark: Benchmark,
    model: str,
    *,
    layers: Sequence[int] | None = None,
    heads: bool = False,
    device: str = "cpu",
    dtype: str = "float32",
    batch_size: int = 32,
    store: FeatureStore | str | os.PathLike | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Score one model on one benchmark (:meth:`Benchmark.run`).

    Parameters
    ----------
    benchmark : Benchmark
    model : str
        Hugging Face hub id or local model directory.
    layers, heads, device, dtype, batch_size, store, progress
        See :func:`score`. ``heads`` on a benchmark that does not score heads warns and
        scores its layers (so one call can mix benchmarks).

    Returns
    -------
    pandas.DataFrame
        The benchmark's tidy rows (``RESULT_COLUMNS``, ``benchmark``, extras).

    Raises
    ------
    BenchmarkRunError
        When the run raises ``ValueError`` or ``OSError`` (a model that does not load, a
        bad option, missing data); the original error is its ``__cause__``.
    """
    if heads and not benchmark.scores_heads:
        warnings.warn(
            f"{benchmark.versioned_id} does not score attention heads: its layers only",
            stacklevel=2,
        )
        heads = False
    options: dict[str, Any] = {"heads": True} if heads else {}
    try:
        return benchmark.run(
            model,
            layers=layers,
            device=device,
            dtype=dtype,
            batch_size=batch_size,
            store=_as_store(store),
            progress=progress,
            **options,
        )
    except _RUN_ERRORS as error:
        raise BenchmarkRunError(model, benchmark.versioned_id, error) from error


def combine_results(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """One tidy table from several runs; rows shared by runs are kept once.

    Parameters
    ----------
    frames : sequence of pandas.DataFrame, length n_runs
        Result tables (columns may differ: missing ones become NaN).

    Returns
    -------
    pandas.DataFrame
        The rows in order of the frames, exact duplicates dropped.
    """
    import pandas as pd

    if not frames:
        raise ValueError("combine_results needs at least one result table")
    return pd.concat(list(frames), ignore_index=True).drop_duplicates(ignore_index=True)


def write_tables(results: pd.DataFrame, out: str | os.PathLike) -> Path:
    """Write ``results.csv`` and ``results.parquet`` into ``out`` (atomically).

    Returns
    -------
    pathlib.Path
        The CSV path.
    """
    from brainalign.results import write_results_csv, write_results_parquet

    out = Path(out)
    csv_path = write_results_csv(results, out / "results.csv")
    write_results_parquet(results, out / "results.parquet")
    return csv_path


def score(
    models: str | Sequence[str],
    benchmarks: str | Benchmark | Sequence[str | Benchmark],
    *,
    layers: Sequence[int] | None = None,
    heads: bool = False,
    device: str = "cpu",
    dtype: str = "float32",
    batch_size: int = 32,
    store: FeatureStore | str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    progress: bool = False,
    figures: bool = True,
) -> pd.DataFrame:
    """Score every model on every benchmark, with controls and ceilings.

    Parameters
    ----------
    models : str or sequence of str, length n_models
        Hugging Face hub ids or local model directories.
    benchmarks : str, Benchmark or sequence of them, length n_benchmarks
        Registered names (``"simlex999"``, ``"alice2016-encoding@1"``); see
        ``brainalign benchmarks list``.
    layers : sequence of int, optional
        Hidden-state indices (0 = embeddings); all by default.
    heads : bool
        Also score each attention head (benchmarks that support it).
    device : str
        Torch device (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``).
    dtype : {"float32", "float16", "bfloat16"}
    batch_size : int
        Items per forward pass.
    store : FeatureStore or path, optional
        Feature store shared by all runs: features are read from it when present (no
        forward pass) and written to it otherwise.
    out : path, optional
        Directory for ``results.csv`` and ``results.parquet`` (created; written
        atomically).
    progress : bool
        Show progress bars.
    figures : bool
        With ``out``: also draw each benchmark's figures into ``out/figures``
        (:func:`brainalign.report.figures.write_benchmark_figures`: score by layer with
        ceiling and control bands, layers x heads heatmaps, model comparison).

    Returns
    -------
    pandas.DataFrame
        Tidy rows of all runs (:func:`combine_results`): ``RESULT_COLUMNS``,
        ``benchmark``, then the runners' extra columns.

    Raises
    ------
    brainalign.benchmarks.registry.UnknownBenchmarkError
        For an unknown benchmark (before anything runs).
    brainalign._io.OutputDirectoryError
        When ``out`` cannot be written (before anything runs).
    BenchmarkRunError
        When a run fails (model not loadable, bad option, data missing).
    ValueError
        For empty ``models`` or a non-positive ``batch_size``.

    Examples
    --------
    >>> import brainalign  # doctest: +SKIP
    >>> brainalign.score(["gpt2"], ["simlex999", "wordsim353"], out="results")  # doctest: +SKIP
    """
    from brainalign._io import ensure_writable_dir

    models = [str(m) for m in _as_list(models, "models")]
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
    records = resolve_benchmarks(benchmarks)
    out_dir = ensure_writable_dir(out) if out is not None else None
    shared_store = _as_store(store)
    frames = [
        run_benchmark(
            benchmark,
            model,
            layers=layers,
            heads=heads,
            device=device,
            dtype=dtype,
            batch_size=batch_size,
            store=shared_store,
            progress=progress,
        )
        for model in models
        for benchmark in records
    ]
    results = combine_results(frames)
    if out_dir is not None:
        write_tables(results, out_dir)
        if figures:
            from brainalign.report.figures import write_benchmark_figures

            write_benchmark_figures(results, out_dir / "figures")
    return results


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
