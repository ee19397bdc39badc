"""Sweeps: every model on every benchmark, resumable, locally or on Ray; the leaderboard.

A sweep is described by a YAML file::

    models: [gpt2, bert-base-uncased]
    benchmarks: [simlex999, wordsim353, alice2016-encoding]
    layers: all              # or a list of hidden-state indices, e.g. [0, 6, 12]
    heads: false             # also score each attention head (benchmarks that support it)
    device: auto             # auto (cuda when the worker has a GPU, else cpu), cpu, cuda, ...
    dtype: float32           # float32, float16 or bfloat16
    batch_size: 32
    out: results/sweep1      # output folder (or --out); relative paths: to this file's folder
    store: features          # feature store shared by all cells (default OUT/features)
    engine: local            # local (in this process, one cell after the other) or ray
    ray:
      address: null          # null: start a local Ray; host:port / ray://host:port / auto
      num_cpus: 2            # CPUs of the local Ray (default: all)
      num_gpus_per_task: 1   # GPUs per task when the cluster has GPUs (default 1)
      timeout_s: 30          # give up on an address that does not answer after this long

:func:`load_config` checks it strictly: an unknown key, a duplicate key or a bad value
raises :class:`SweepConfigError` naming the file, the line and the key (close matches
are suggested for misspelt keys and unknown benchmarks).

Cells and resume
----------------
A cell is one (model, benchmark). Its rows are written atomically to
``OUT/cells/<model>__<benchmark id@version>.parquet``, then a done-marker
``... .done.json`` with its provenance (model, benchmark, settings, brainalign version,
host, finish time, duration, forward passes, feature-store entries written). A rerun
skips every cell whose marker and table exist, so a killed sweep resumes where it
stopped; a marker written with other settings (layers, heads, dtype) is an error rather
than a silent mix (use another ``out``). At the end all cells of the config (finished
now or before) are gathered into ``OUT/results.parquet`` and ``OUT/results.csv``.

Features are shared through one feature store: a model's features computed for one
benchmark are read back by any other cell with the same provenance key, and by reruns.
With Ray on several machines, ``out`` is written by the driver only, but the store must
be on a filesystem every worker sees.

:func:`compare` turns a results folder into a leaderboard (see its documentation).
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import os
import re
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brainalign.parallel import DEFAULT_TIMEOUT_S

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Cell",
    "RayOptions",
    "SweepConfig",
    "SweepConfigError",
    "SweepError",
    "compare",
    "load_config",
    "sweep",
]

DTYPES = ("float32", "float16", "bfloat16")
ENGINES = ("local", "ray")
TOP_KEYS = (
    "models",
    "benchmarks",
    "layers",
    "heads",
    "device",
    "dtype",
    "batch_size",
    "store",
    "out",
    "engine",
    "ray",
)
RAY_KEYS = ("address", "num_cpus", "num_gpus_per_task", "timeout_s")
#: The settings that change a cell's rows; a marker written with others is not reused.
CELL_SETTINGS = ("layers", "heads", "dtype")


class SweepConfigError(ValueError):
    """A sweep configuration that is not valid (the message names file, line and key)."""


class SweepError(RuntimeError):
    """Some cells of a sweep failed (the finished ones are kept for a rerun)."""


@dataclass(frozen=True)
class RayOptions:
    """The ``ray:`` section of a sweep configuration (see the module documentation)."""

    address: str | None = None
    num_cpus: int | None = None
    num_gpus_per_task: float | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep configuration (see the module documentation for the keys).

    ``layers`` is ``None`` for all layers; ``out`` and ``store`` are absolute (``store``
    ``None`` means ``out/features``); ``source`` is the file it came from, if any.
    """

    models: tuple[str, ...]
    benchmarks: tuple[str, ...]
    layers: tuple[int, ...] | None = None
    heads: bool = False
    device: str = "auto"
    dtype: str = "float32"
    batch_size: int = 32
    store: Path | None = None
    out: Path | None = None
    engine: str = "local"
    ray: RayOptions = field(default_factory=RayOptions)
    source: Path | None = None

    @property
    def store_dir(self) -> Path:
        """The feature store folder: ``store``, or ``out/features``."""
        if self.store is not None:
            return self.store
        if self.out is None:
            raise SweepConfigError("the sweep has no output folder: set 'out' or pass out=")
        return self.out / "features"


# ----------------------------------------------------------------------- config parsing


class _Where:
    """Names a place in the config for error messages: the file and a key's line."""

    def __init__(self, source: Path | None, lines: Mapping[str, int]) -> None:
        self.source = source
        self.lines = lines

    def error(self, key: str, message: str) -> SweepConfigError:
        place = str(self.source) if self.source is not None else "sweep config"
        line = self.lines.get(key)
        if line is not None:
            place += f", line {line}"
        return SweepConfigError(f"{place}: {key!r}: {message}")


def _mapping_lines(node: Any, where: _Where, prefix: str = "") -> dict[str, int]:
    """Line (1-based) of each key of a YAML mapping node (nested: ``ray.address``);
    duplicate keys are an error."""
    import yaml

    lines: dict[str, int] = {}
    for key_node, value_node in node.value:
        name = prefix + str(key_node.value)
        if name in lines:
            where.lines = {**where.lines, name: key_node.start_mark.line + 1}
            raise where.error(name, f"given twice (first on line {lines[name]})")
        lines[name] = key_node.start_mark.line + 1
        if not prefix and isinstance(value_node, yaml.MappingNode):
            lines.update(_mapping_lines(value_node, where, prefix=f"{name}."))
    return lines


def _read_yaml(path: Path) -> tuple[Any, dict[str, int]]:
    """The document of a YAML file and the line of each key."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SweepConfigError(f"cannot read sweep config {str(path)!r}: {error}") from error
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as error:
        raise SweepConfigError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(node, yaml.MappingNode):
        raise SweepConfigError(
            f"{path}: a sweep config is a mapping of keys (models:, benchmarks:, ...); "
            f"got {type(data).__name__}"
        )
    return data, _mapping_lines(node, _Where(path, {}))


def _check_keys(data: Mapping[str, Any], allowed: Sequence[str], where: _Where, prefix: str):
    for key in data:
        if str(key) not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=2, cutoff=0.6)
            hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
            raise where.error(
                prefix + str(key), f"unknown key; {hint}allowed: {', '.join(allowed)}"
            )


def _string_list(value: Any, key: str, where: _Where) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise where.error(key, f"must be a non-empty list of names; got {value!r}")
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise where.error(key, f"every entry must be a non-empty string; got {item!r}")
    duplicates = sorted({item for item in value if value.count(item) > 1})
    if duplicates:
        raise where.error(key, f"lists {', '.join(duplicates)} more than once")
    return tuple(item.strip() for item in value)


def _check_benchmarks(names: tuple[str, ...], where: _Where) -> tuple[str, ...]:
    from brainalign.benchmarks.registry import UnknownBenchmarkError, get

    resolved = []
    for name in names:
        try:
            resolved.append(get(name).versioned_id)
        except UnknownBenchmarkError as error:
            raise where.error("benchmarks", str(error)) from None
    return tuple(resolved)


def _layers(value: Any, where: _Where) -> tuple[int, ...] | None:
    if value is None or value == "all":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if (
        not isinstance(value, list)
        or not value
        or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in value)
    ):
        raise where.error(
            "layers",
            f"must be 'all' or a list of non-negative layer indices (0 = embeddings), "
            f"e.g. [0, 6, 12]; got {value!r}",
        )
    return tuple(sorted(set(value)))


def _positive_number(value: Any, key: str, where: _Where, *, integer: bool, zero_ok=False):
    kinds = (int,) if integer else (int, float)
    bad = isinstance(value, bool) or not isinstance(value, kinds)
    if bad or value < 0 or (value == 0 and not zero_ok):
        what = "integer" if integer else "number"
        bound = ">= 0" if zero_ok else "> 0"
        raise where.error(key, f"must be a {what} {bound}; got {value!r}")
    return value


def _choice(value: Any, key: str, choices: Sequence[str], where: _Where) -> str:
    if value not in choices:
        raise where.error(key, f"must be one of {', '.join(choices)}; got {value!r}")
    return value


def _path(value: Any, key: str, where: _Where, base: Path) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise where.error(key, f"must be a folder path (a string); got {value!r}")
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def _ray_options(value: Any, where: _Where) -> RayOptions:
    if value is None:
        return RayOptions()
    if not isinstance(value, dict):
        raise where.error("ray", f"must be a mapping (address:, num_cpus:, ...); got {value!r}")
    _check_keys(value, RAY_KEYS, where, prefix="ray.")
    address = value.get("address")
    if address is not None and (not isinstance(address, str) or not address.strip()):
        raise where.error(
            "ray.address", f"must be host:port, ray://host:port or auto; got {address!r}"
        )
    num_cpus = value.get("num_cpus")
    if num_cpus is not None:
        _positive_number(num_cpus, "ray.num_cpus", where, integer=True)
    gpus = value.get("num_gpus_per_task")
    if gpus is not None:
        _positive_number(gpus, "ray.num_gpus_per_task", where, integer=False, zero_ok=True)
    timeout = value.get("timeout_s", DEFAULT_TIMEOUT_S)
    _positive_number(timeout, "ray.timeout_s", where, integer=False)
    return RayOptions(
        address=address.strip() if address else None,
        num_cpus=num_cpus,
        num_gpus_per_task=gpus,
        timeout_s=float(timeout),
    )


def parse_config(
    data: Any,
    *,
    source: Path | None = None,
    lines: Mapping[str, int] | None = None,
    base: Path | None = None,
) -> SweepConfig:
    """Validate a sweep configuration given as a mapping.

    Parameters
    ----------
    data : mapping
        The keys of the module documentation.
    source : path, optional
        File the mapping came from (named in errors).
    lines : mapping of str to int, optional
        Line of each key (``"ray.address"`` for nested ones), named in errors.
    base : path, optional
        Folder relative ``out``/``store`` paths are resolved against (default: the
        folder of ``source``, else the working directory).

    Returns
    -------
    SweepConfig

    Raises
    ------
    SweepConfigError
        For a missing, unknown or duplicate key, a bad value or an unknown benchmark.
    """
    where = _Where(source, lines or {})
    if not isinstance(data, Mapping):
        raise SweepConfigError(f"{source or 'sweep config'}: must be a mapping of keys")
    _check_keys(data, TOP_KEYS, where, prefix="")
    for required in ("models", "benchmarks"):
        if required not in data:
            raise where.error(required, "is required (a list of names)")
    base = base or (source.parent if source is not None else Path.cwd())
    device = data.get("device", "auto")
    if not isinstance(device, str) or not device.strip():
        raise where.error("device", f"must be auto, cpu, cuda, cuda:N or mps; got {device!r}")
    heads = data.get("heads", False)
    if not isinstance(heads, bool):
        raise where.error("heads", f"must be true or false; got {heads!r}")
    return SweepConfig(
        models=_string_list(data["models"], "models", where),
        benchmarks=_check_benchmarks(_string_list(data["benchmarks"], "benchmarks", where), where),
        layers=_layers(data.get("layers"), where),
        heads=heads,
        device=device.strip(),
        dtype=_choice(data.get("dtype", "float32"), "dtype", DTYPES, where),
        batch_size=_positive_number(data.get("batch_size", 32), "batch_size", where, integer=True),
        store=_path(data["store"], "store", where, base) if "store" in data else None,
        out=_path(data["out"], "out", where, base) if "out" in data else None,
        engine=_choice(data.get("engine", "local"), "engine", ENGINES, where),
        ray=_ray_options(data.get("ray"), where),
        source=source,
    )


def load_config(path: str | os.PathLike) -> SweepConfig:
    """Read and validate a sweep configuration file (YAML).

    Parameters
    ----------
    path : path-like

    Returns
    -------
    SweepConfig

    Raises
    ------
    SweepConfigError
        When the file cannot be read, is not YAML, or is not a valid configuration; the
        message names the file, the line and the key.
    """
    path = Path(path).expanduser().resolve()
    data, lines = _read_yaml(path)
    return parse_config(data, source=path, lines=lines)


# ----------------------------------------------------------------------- cells


def _safe_model_name(model: str) -> str:
    """A file-name-safe, unique stand-in for a model id or path."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model.strip("/")).strip("._") or "model"
    digest = hashlib.sha256(model.encode("utf-8")).hexdigest()[:8]
    return f"{slug[-60:]}-{digest}"


@dataclass(frozen=True)
class Cell:
    """One (model, benchmark) of a sweep.

    Attributes
    ----------
    model : str
    benchmark : str
        Versioned id (``"simlex999@1"``).
    """

    model: str
    benchmark: str

    @property
    def stem(self) -> str:
        """File name stem: ``<safe model>__<benchmark id@version>``."""
        return f"{_safe_model_name(self.model)}__{self.benchmark}"

    def table_path(self, out: Path) -> Path:
        """``OUT/cells/<stem>.parquet``."""
        return out / "cells" / f"{self.stem}.parquet"

    def marker_path(self, out: Path) -> Path:
        """``OUT/cells/<stem>.done.json``."""
        return out / "cells" / f"{self.stem}.done.json"


@dataclass(frozen=True)
class _CellTask:
    """Everything a worker needs to compute one cell (picklable)."""

    cell: Cell
    layers: tuple[int, ...] | None
    heads: bool
    device: str
    dtype: str
    batch_size: int
    store: str
    progress: bool


def _resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _store_entry_names(store: str) -> set[str]:
    root = Path(store)
    if not root.is_dir():
        return set()
    return {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}


def _compute_cell(task: _CellTask) -> dict[str, Any]:
    """Run one cell (in a worker): its rows and what it cost."""
    from brainalign.benchmarks.registry import get
    from brainalign.scoring import count_forward_passes, run_benchmark

    entries_before = _store_entry_names(task.store)
    start = time.perf_counter()
    with count_forward_passes() as passes:
        rows = run_benchmark(
            get(task.cell.benchmark),
            task.cell.model,
            layers=list(task.layers) if task.layers is not None else None,
            heads=task.heads,
            device=_resolve_device(task.device),
            dtype=task.dtype,
            batch_size=task.batch_size,
            store=task.store,
            progress=task.progress,
        )
    return {
        "rows": rows,
        "duration_s": time.perf_counter() - start,
        "forward_passes": passes.batches,
        "forward_items": passes.items,
        "store_entries_written": len(_store_entry_names(task.store) - entries_before),
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }


def _settings(config: SweepConfig) -> dict[str, Any]:
    return {
        "layers": list(config.layers) if config.layers is not None else "all",
        "heads": config.heads,
        "dtype": config.dtype,
    }


def _finished(cell: Cell, out: Path, settings: Mapping[str, Any]) -> bool:
    """Whether the cell's marker and table exist (and the marker has these settings)."""
    marker = cell.marker_path(out)
    if not marker.is_file() or not cell.table_path(out).is_file():
        return False
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    previous = recorded.get("settings", {})
    if previous != dict(settings):
        raise SweepError(
            f"{marker} was computed with {previous}, but this sweep asks for "
            f"{dict(settings)}; use another out folder, or delete the cell's files to "
            "recompute it"
        )
    return True


def _write_cell(cell: Cell, out: Path, result: Mapping[str, Any], extra: Mapping[str, Any]):
    """The cell's table, then its done-marker (both atomically)."""
    from brainalign import __version__
    from brainalign._io import atomic_path
    from brainalign.results import write_results_parquet

    write_results_parquet(result["rows"], cell.table_path(out))
    marker = {
        "model": cell.model,
        "benchmark": cell.benchmark,
        "settings": dict(extra["settings"]),
        "device": extra["device"],
        "engine": extra["engine"],
        "brainalign_version": __version__,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "n_rows": len(result["rows"]),
        **{k: v for k, v in result.items() if k != "rows"},
    }
    with atomic_path(cell.marker_path(out)) as temp:
        Path(temp).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")


def gather(config: SweepConfig, out: Path | None = None) -> pd.DataFrame:
    """All finished cells of ``config`` in one table (config order), written to
    ``OUT/results.parquet`` and ``OUT/results.csv``.

    Returns
    -------
    pandas.DataFrame
        :func:`brainalign.scoring.combine_results` of the cells' tables.
    """
    import pandas as pd

    from brainalign.scoring import combine_results, write_tables

    out = out or config.out
    frames = [
        pd.read_parquet(cell.table_path(out))
        for cell in cells_of(config)
        if cell.table_path(out).is_file()
    ]
    if not frames:
        raise SweepError(f"no finished cells in {out / 'cells'}")
    results = combine_results(frames)
    write_tables(results, out)
    return results


def cells_of(config: SweepConfig) -> list[Cell]:
    """The cells of a sweep: every model on every benchmark, models outermost.

    Returns
    -------
    list of Cell, length n_models * n_benchmarks
    """
    return [Cell(model, benchmark) for model in config.models for benchmark in config.benchmarks]


def _as_config(config: SweepConfig | Mapping[str, Any] | str | os.PathLike) -> SweepConfig:
    if isinstance(config, SweepConfig):
        return config
    if isinstance(config, Mapping):
        return parse_config(config)
    return load_config(config)


def sweep(
    config: SweepConfig | Mapping[str, Any] | str | os.PathLike,
    *,
    engine: str | None = None,
    address: str | None = None,
    out: str | os.PathLike | None = None,
    progress: bool = False,
    log: Any = None,
) -> pd.DataFrame:
    """Run a sweep (every model on every benchmark), skipping finished cells.

    Parameters
    ----------
    config : SweepConfig, mapping or path to a YAML file
        See the module documentation for the keys.
    engine : {"local", "ray"}, optional
        Overrides the config's ``engine``.
    address : str, optional
        Ray address; overrides ``ray.address`` (and implies ``engine="ray"`` when
        ``engine`` is not given).
    out : path, optional
        Overrides the config's ``out``.
    progress : bool
        Progress bars inside each cell.
    log : callable, optional
        Called with one line of text per event (cell skipped, finished, failed).

    Returns
    -------
    pandas.DataFrame
        The gathered rows of all cells (also written to ``OUT/results.parquet`` and
        ``OUT/results.csv``).

    Raises
    ------
    SweepConfigError
        For an invalid configuration, or no output folder.
    brainalign.parallel.RayConnectionError
        When the Ray address does not answer within ``ray.timeout_s``.
    SweepError
        When cells failed (each named with its error; finished cells are kept, so a
        rerun computes only the missing ones).
    """
    from brainalign._io import ensure_writable_dir
    from brainalign.parallel import make_executor

    config = _override(_as_config(config), engine=engine, address=address, out=out)
    if config.out is None:
        where = config.source or "the sweep config"
        raise SweepConfigError(f"{where}: no output folder; add 'out: DIR' or pass --out")
    out_dir = ensure_writable_dir(config.out)
    ensure_writable_dir(out_dir / "cells")
    log = log or (lambda line: None)
    settings = _settings(config)
    cells = cells_of(config)
    todo = [cell for cell in cells if not _finished(cell, out_dir, settings)]
    for cell in cells:
        if cell not in todo:
            log(f"skip {cell.model} on {cell.benchmark} (done)")
    failures = _run_cells(config, todo, out_dir, settings, progress, log, make_executor)
    if failures:
        raise SweepError(
            f"{len(failures)} of {len(cells)} cells failed (finished cells are kept in "
            f"{out_dir / 'cells'}; rerun to retry only the failed ones):\n"
            + "\n".join(f"  {cell.model} on {cell.benchmark}: {error}" for cell, error in failures)
        )
    return gather(config, out_dir)


def _override(
    config: SweepConfig, *, engine: str | None, address: str | None, out: Any
) -> SweepConfig:
    changes: dict[str, Any] = {}
    if engine is not None:
        if engine not in ENGINES:
            raise SweepConfigError(f"engine={engine!r}; use one of {', '.join(ENGINES)}")
        changes["engine"] = engine
    if address is not None:
        changes["ray"] = dataclasses.replace(config.ray, address=address)
        changes.setdefault("engine", "ray")
    if out is not None:
        changes["out"] = Path(out).expanduser().resolve()
    return dataclasses.replace(config, **changes)


def _run_cells(config, todo, out_dir, settings, progress, log, make_executor):
    """Compute the cells of ``todo`` with the config's engine; save each as it finishes.

    Returns the failures as ``[(cell, error line)]``.
    """
    if not todo:
        return []
    store = str(config.store_dir)
    tasks = [
        _CellTask(
            cell, config.layers, config.heads, config.device, config.dtype,
            config.batch_size, store, progress,
        )
        for cell in todo
    ]  # fmt: skip
    executor = make_executor(
        config.engine,
        address=config.ray.address,
        num_cpus=config.ray.num_cpus,
        num_gpus_per_task=config.ray.num_gpus_per_task,
        timeout_s=config.ray.timeout_s,
    )
    extra = {"settings": settings, "device": config.device, "engine": config.engine}
    failures = []
    with executor:
        outcomes = executor.map_unordered(_compute_cell, tasks, wants_gpu=config.device != "cpu")
        for index, outcome in outcomes:
            cell = todo[index]
            if outcome.ok:
                _write_cell(cell, out_dir, outcome.value, extra)
                log(
                    f"done {cell.model} on {cell.benchmark} "
                    f"({outcome.value['duration_s']:.1f} s, "
                    f"{outcome.value['forward_passes']} forward passes)"
                )
            else:
                failures.append((cell, outcome.error))
                log(f"FAILED {cell.model} on {cell.benchmark}: {outcome.error}")
    return failures


# ----------------------------------------------------------------------- leaderboard


def compare(results_dir: str | os.PathLike) -> pd.DataFrame:
    """The leaderboard of a results folder.

    Per benchmark and scored model, from
    :func:`brainalign.report.figures.best_layer_table` (the same numbers as the HTML
    report and the figures): the layer with the highest mean score over its rows
    (subjects, ROIs, rating dimensions; whole layers, not heads), that ``score``, the
    median ``ceiling`` and the mean ``normalized_score``; then the controls:
    ``untrained_score`` (the model's untrained twin at *its own* best layer, so both get
    the same selection) and ``control_score`` (the best content-free baseline of the
    benchmark: ``control:*`` or ``nuisance:*`` rows), named in ``control``. Rows are
    sorted by benchmark, then score (best first), with ``rank`` within the benchmark.
    The best layer is chosen on the data it is reported on: an optimistic estimate.

    Parameters
    ----------
    results_dir : path-like
        A folder with ``results.parquet`` (or ``results.csv``), as written by
        ``brainalign score --out`` or ``brainalign sweep``.

    Returns
    -------
    pandas.DataFrame
        Shape (n_benchmarks * n_models, 11): ``benchmark, rank, model, best_layer, score,
        ceiling, normalized_score, untrained_score, control, control_score, metric``.

    Raises
    ------
    FileNotFoundError
        When the folder does not exist or holds no results table.
    ValueError
        When the table lacks the result columns.
    """
    import numpy as np
    import pandas as pd

    from brainalign.report.figures import UNTRAINED_SUFFIX, best_layer_table
    from brainalign.report.html import find_results_file, read_results

    best = best_layer_table(read_results(find_results_file(results_dir)))
    rows = []
    for (name, metric), group in best.groupby(["benchmark", "metric"], sort=True):
        by_model = group.set_index("model")
        controls = group[group["control"] == "content-free"]
        strongest = (
            controls.loc[controls["score"].fillna(-np.inf).idxmax()] if len(controls) else None
        )
        for record in group[group["control"] == ""].itertuples(index=False):
            twin = f"{record.model}{UNTRAINED_SUFFIX}"
            rows.append(
                {
                    "benchmark": name,
                    "model": record.model,
                    "best_layer": record.best_layer,
                    "score": record.score,
                    "ceiling": record.ceiling,
                    "normalized_score": record.normalized_score,
                    "untrained_score": by_model.at[twin, "score"]
                    if twin in by_model.index
                    else np.nan,
                    "control": "" if strongest is None else strongest["model"],
                    "control_score": np.nan if strongest is None else strongest["score"],
                    "metric": metric,
                }
            )
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table = table.sort_values(["benchmark", "score"], ascending=[True, False], kind="stable")
    table.insert(1, "rank", table.groupby("benchmark").cumcount() + 1)
    table["best_layer"] = table["best_layer"].astype("Int64")
    return table.reset_index(drop=True)
