"""Sweeps: every model on every benchmark, resumable, locally or on Ray; the leaderboard.

A sweep is described by a YAML file::

    models: [gpt2, bert-base-uncased]
    benchmarks: [simlex999, wordsim353, alice2016-encoding]
    studies: [my-study.yaml]  # your own studies (brainalign.benchmarks.study), optional
    layers: all              # or a list of hidden-state indices, e.g. [0, 6, 12]
    heads: false             # also score each attention head (benchmarks that support it)
    weights: pretrained      # or untrained: score the architectures with random weights
    untrained_twin: true     # also score each pretrained model's untrained twin
    seed: 0                  # seeds random weights, random controls and shuffled folds
    context_words: 16        # bidirectional models reading word windows
    instruction: null        # a task instruction read before every text (text benchmarks)
    instruction_format: plain  # with an instruction: plain prefix or chat (chat template)
    options: {}              # benchmark options, e.g. {radius_mm: 10}
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
are suggested for misspelt keys and unknown benchmarks); a setting that one of the
benchmarks would not use is refused, as by ``brainalign score``.

Cells and resume
----------------
A sweep runs through the same run folder as ``brainalign score --out``
(:mod:`brainalign.runs`): each finished (model, benchmark) cell is written at once with
a done-marker, ``run.json`` records versions, settings, model weight hashes and timings,
a rerun skips finished cells, and a folder holding other settings is refused. All
finished cells are gathered into ``OUT/results.parquet`` and ``OUT/results.csv``.

Features are shared through one feature store: a model's features computed for one
benchmark are read back by any other cell with the same provenance key, and by reruns.
With Ray on several machines, ``out`` is written by the driver only, but the store must
be on a filesystem every worker sees.

:func:`compare` is the leaderboard of a results folder
(:func:`brainalign.results.leaderboard`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brainalign._yaml import Place, check_keys, read_yaml_mapping
from brainalign.parallel import DEFAULT_TIMEOUT_S

if TYPE_CHECKING:
    import pandas as pd

    from brainalign.benchmarks.benchmark import Benchmark
    from brainalign.benchmarks.settings import RunSettings

__all__ = [
    "RayOptions",
    "SweepConfig",
    "SweepConfigError",
    "SweepError",
    "compare",
    "load_config",
    "sweep",
]

DTYPES = ("float32", "float16", "bfloat16")
WEIGHTS = ("pretrained", "untrained")
ENGINES = ("local", "ray")
TOP_KEYS = (
    "models",
    "benchmarks",
    "studies",
    "layers",
    "heads",
    "weights",
    "untrained_twin",
    "seed",
    "context_words",
    "instruction",
    "instruction_format",
    "options",
    "device",
    "dtype",
    "batch_size",
    "store",
    "out",
    "engine",
    "ray",
)
RAY_KEYS = ("address", "num_cpus", "num_gpus_per_task", "timeout_s")


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
    studies: tuple[Path, ...] = ()
    layers: tuple[int, ...] | None = None
    heads: bool = False
    weights: str = "pretrained"
    untrained_twin: bool = True
    seed: int | None = None
    context_words: int | None = None
    instruction: str | None = None
    instruction_format: str = "plain"
    options: Mapping[str, Any] = field(default_factory=dict)
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


def _where(source: Path | None, lines: Mapping[str, int]) -> Place:
    return Place(source, lines, SweepConfigError, "sweep config")


def _read_yaml(path: Path) -> tuple[Any, dict[str, int]]:
    """The document of a sweep config file and the line of each key."""
    return read_yaml_mapping(path, error=SweepConfigError, what="sweep config",
                             example="models:, benchmarks:, ...")  # fmt: skip


def _string_list(value: Any, key: str, where: Place) -> tuple[str, ...]:
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


def _check_benchmarks(names: tuple[str, ...], where: Place) -> tuple[str, ...]:
    from brainalign.benchmarks.registry import UnknownBenchmarkError, get

    resolved = []
    for name in names:
        try:
            resolved.append(get(name).versioned_id)
        except UnknownBenchmarkError as error:
            raise where.error("benchmarks", str(error)) from None
    return tuple(resolved)


def _layers(value: Any, where: Place) -> tuple[int, ...] | None:
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


def _positive_number(value: Any, key: str, where: Place, *, integer: bool, zero_ok=False):
    kinds = (int,) if integer else (int, float)
    bad = isinstance(value, bool) or not isinstance(value, kinds)
    if bad or value < 0 or (value == 0 and not zero_ok):
        what = "integer" if integer else "number"
        bound = ">= 0" if zero_ok else "> 0"
        raise where.error(key, f"must be a {what} {bound}; got {value!r}")
    return value


def _choice(value: Any, key: str, choices: Sequence[str], where: Place) -> str:
    if value not in choices:
        raise where.error(key, f"must be one of {', '.join(choices)}; got {value!r}")
    return value


def _path(value: Any, key: str, where: Place, base: Path, must_exist: bool = False) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise where.error(key, f"must be a path (a string); got {value!r}")
    path = Path(value).expanduser()
    path = path if path.is_absolute() else (base / path).resolve()
    if must_exist and not path.is_file():
        raise where.error(key, f"{path} does not exist ({value!r} relative to {base})")
    return path


def _ray_options(value: Any, where: Place) -> RayOptions:
    if value is None:
        return RayOptions()
    if not isinstance(value, dict):
        raise where.error("ray", f"must be a mapping (address:, num_cpus:, ...); got {value!r}")
    check_keys(value, RAY_KEYS, where, prefix="ray.")
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
    where = _where(source, lines or {})
    if not isinstance(data, Mapping):
        raise SweepConfigError(f"{source or 'sweep config'}: must be a mapping of keys")
    check_keys(data, TOP_KEYS, where, prefix="")
    if "models" not in data:
        raise where.error("models", "is required (a list of names)")
    if "benchmarks" not in data and "studies" not in data:
        raise where.error("benchmarks", "is required (a list of names), unless studies are given")
    base = base or (source.parent if source is not None else Path.cwd())
    device = data.get("device", "auto")
    if not isinstance(device, str) or not device.strip():
        raise where.error("device", f"must be auto, cpu, cuda, cuda:N or mps; got {device!r}")
    for key in ("heads", "untrained_twin"):
        if not isinstance(data.get(key, False), bool):
            raise where.error(key, f"must be true or false; got {data[key]!r}")
    seed = data.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise where.error("seed", f"must be an integer; got {seed!r}")
    context_words = data.get("context_words")
    if context_words is not None:
        _positive_number(context_words, "context_words", where, integer=True)
    instruction = data.get("instruction")
    if instruction is not None and (not isinstance(instruction, str) or not instruction.strip()):
        raise where.error("instruction", f"must be the instruction's text; got {instruction!r}")
    options = data.get("options") or {}
    if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
        raise where.error("options", f"must be a mapping of option names; got {options!r}")
    return SweepConfig(
        models=_string_list(data["models"], "models", where),
        benchmarks=_check_benchmarks(_string_list(data["benchmarks"], "benchmarks", where), where)
        if "benchmarks" in data
        else (),
        studies=tuple(
            _path(item, "studies", where, base, must_exist=True)
            for item in _string_list(data["studies"], "studies", where)
        )
        if "studies" in data
        else (),
        layers=_layers(data.get("layers"), where),
        heads=data.get("heads", False),
        weights=_choice(data.get("weights", "pretrained"), "weights", WEIGHTS, where),
        untrained_twin=data.get("untrained_twin", True),
        seed=seed,
        context_words=context_words,
        instruction=instruction,
        instruction_format=_choice(
            data.get("instruction_format", "plain"), "instruction_format", ("plain", "chat"), where
        ),
        options=dict(options),
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


# ----------------------------------------------------------------------- running


def study_benchmarks(config: SweepConfig) -> list[Benchmark]:
    """The benchmarks of the config's study files (:meth:`~brainalign.benchmarks.study.
    Study.from_yaml`).

    Raises
    ------
    SweepConfigError
        Naming the sweep config and the study file's own error.
    """
    from brainalign.benchmarks.study import StudyInputError
    from brainalign.scoring import resolve_studies

    studies = []
    for path in config.studies:
        try:
            studies += resolve_studies(path)
        except StudyInputError as error:
            raise SweepConfigError(
                f"{config.source or 'sweep config'}: study {path}: {error}"
            ) from None
    return studies


def run_settings(config: SweepConfig) -> list[RunSettings]:
    """One :class:`~brainalign.benchmarks.settings.RunSettings` per model of the config."""
    from brainalign.scoring import make_settings

    return make_settings(
        list(config.models),
        weights=config.weights,
        untrained_twin=config.untrained_twin,
        seed=config.seed,
        layers=config.layers,
        heads=config.heads,
        context_words=config.context_words,
        instruction=config.instruction,
        instruction_format=config.instruction_format,
        device=config.device,
        dtype=config.dtype,
        batch_size=config.batch_size,
        store=str(config.store_dir),
        options=dict(config.options),
    )


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
    overwrite: bool = False,
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
    overwrite : bool, default False
        Replace results of other settings in the output folder (else refused).
    progress : bool
        Progress bars inside each cell.
    log : callable, optional
        Called with one line of text per event (cell skipped, finished, failed).

    Returns
    -------
    pandas.DataFrame
        Every finished cell of the folder (also written to ``OUT/results.parquet`` and
        ``OUT/results.csv``, with ``OUT/figures``).

    Raises
    ------
    SweepConfigError
        For an invalid configuration, a setting a benchmark would not use, or no output
        folder.
    brainalign.runs.RunFolderError
        When the output folder holds results of other settings.
    brainalign.parallel.RayConnectionError
        When the Ray address does not answer within ``ray.timeout_s``.
    SweepError
        When cells failed (each named with its error; finished cells are kept, so a
        rerun computes only the missing ones).
    """
    from brainalign.benchmarks.settings import SettingsError
    from brainalign.encoders.models import ModelLoadError
    from brainalign.parallel import make_executor
    from brainalign.runs import CellTask, RunFolder, run_cells
    from brainalign.scoring import (
        check_distinct,
        preflight,
        resolve_benchmarks,
        write_run_outputs,
    )

    config = _override(_as_config(config), engine=engine, address=address, out=out)
    where = config.source or "the sweep config"
    if config.out is None:
        raise SweepConfigError(f"{where}: no output folder; add 'out: DIR' or pass --out")
    try:
        runs = run_settings(config)
        runs = [dataclasses.replace(run, progress=progress) for run in runs]
        registered = resolve_benchmarks(list(config.benchmarks)) if config.benchmarks else []
        benchmarks = check_distinct(registered + study_benchmarks(config))
        preflight(runs, benchmarks)
    except (SettingsError, ModelLoadError, ValueError) as error:
        if isinstance(error, SweepConfigError):
            raise
        raise SweepConfigError(f"{where}: {error}") from error
    log = log or (lambda line: None)
    invocation = {
        "device": config.device,
        "batch_size": config.batch_size,
        "store": str(config.store_dir),
        "engine": config.engine,
        "config": None if config.source is None else str(config.source),
    }
    folder = RunFolder(
        config.out, runs[0].fingerprint(), overwrite=overwrite, invocation=invocation
    )
    folder.add_models(config.models)
    tasks = [CellTask.of(run, b) for run in runs for b in benchmarks]
    pending = set(folder.request([task.cell for task in tasks]))
    for task in tasks:
        if task.cell not in pending:
            log(f"skip {task.cell.model} on {task.cell.benchmark} (done)")
    executor = make_executor(
        config.engine,
        address=config.ray.address,
        num_cpus=config.ray.num_cpus,
        num_gpus_per_task=config.ray.num_gpus_per_task,
        timeout_s=config.ray.timeout_s,
    )
    todo = [task for task in tasks if task.cell in pending]
    _, failures = run_cells(
        todo, executor, folder=folder, wants_gpu=config.device != "cpu", log=log
    )
    folder.finish()
    if failures:
        raise SweepError(
            f"{len(failures)} of {len(tasks)} cells failed (finished cells are kept in "
            f"{folder.path / 'cells'}; rerun to retry only the failed ones):\n"
            + "\n".join(
                f"  {cell.model} on {cell.benchmark}: {outcome.error}" for cell, outcome in failures
            )
        )
    return write_run_outputs(folder)


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


# ----------------------------------------------------------------------- leaderboard


def compare(results_dir: str | os.PathLike) -> pd.DataFrame:
    """The leaderboard of a results folder (:func:`brainalign.results.leaderboard`).

    Per benchmark, metric and scored model: the best layer (highest median score over
    units, whole layers), its ``median_score``, ``median_ceiling`` and
    ``normalized_score`` (median score over the units with a usable ceiling / their
    median ceiling), the untrained twin's score at its own best layer and the strongest
    of the model's own controls (:data:`brainalign.results.SUMMARY_NOTE`). The same
    numbers as the HTML report and the figures.

    Parameters
    ----------
    results_dir : path-like
        A folder with ``results.parquet`` (or ``results.csv``), as written by
        ``brainalign score --out`` or ``brainalign sweep``.

    Returns
    -------
    pandas.DataFrame
        :data:`brainalign.results.LEADERBOARD_COLUMNS`.

    Raises
    ------
    FileNotFoundError
        When the folder does not exist or holds no results table.
    ValueError
        When the table lacks the result columns.
    """
    from brainalign.results import leaderboard, read_results

    return leaderboard(read_results(results_dir))
