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
    units: null              # e.g. language:1%: only the localized units (and random units)
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
      timeout_s: 30          # give up on an address that is not a Ray cluster after this long
      max_retries: 1         # run a cell again when its worker died (never on an error)
    properties:              # your own model properties (or a CSV path: model,[weights,]...)
      gpt2: {accuracy: 0.3, instruction_tuned: false}
    pairs:                   # model variants compared unit by unit (brainalign compare --pairs)
      - {base: gpt2, variant: gpt2-instruct, name: instruction-tuning}
      - [bert-base-uncased, bert-large-uncased]   # or [base, variant]

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

Ray
---
With ``engine: ray`` each cell is one Ray task (:class:`brainalign.parallel.RayExecutor`).
A cell asks for one CPU and, where the cluster has GPUs and ``device`` is not ``cpu``,
``ray.num_gpus_per_task`` GPUs, and the memory its cost plan predicts
(:mod:`brainalign.planning`: the peak host memory, so Ray never packs more cells on a
node than its memory holds); :func:`sweep`'s ``resources_of`` declares other needs
per cell (:class:`brainalign.parallel.CellResources`: CPUs, GPUs, memory), and a cell
that no node of the cluster could run is refused before anything starts. A cell whose
worker died (killed, out of memory, node lost) is run again up to ``ray.max_retries``
times (an integer >= 0, default 1); a cell that raised an error is never run again, it
is reported as failed. Either way each cell is written once, by the driver. Feature-store
entries loaded by several cells are read from disk once and shared through Ray's object
store (:mod:`brainalign.encoders.store.shared`); ``run.json`` records how many
(``shared_feature_entries`` of the invocation). An ``address`` is checked before
connecting: something must answer there in gRPC within ``ray.timeout_s`` seconds, or
:class:`brainalign.parallel.RayConnectionError` is raised.

Properties and pairs
--------------------
``properties`` (:mod:`brainalign.results.properties`) and ``pairs``
(:class:`brainalign.results.across_models.Pair`) name models of ``models`` only (another
name is a :class:`SweepConfigError` naming the line). They do not change scores, so they
are not part of the run's fingerprint: changing them never recomputes a cell. The sweep
saves them as ``OUT/properties.csv`` and ``OUT/pairs.json`` (removing stale ones), joins
the properties into the gathered results, and ``brainalign compare OUT --by PROPERTY`` /
``--pairs`` and the report read them from there.

Features are shared through one feature store: a model's features computed for one
benchmark are read back by any other cell with the same provenance key, and by reruns.
With Ray on several machines, ``out`` is written by the driver only, but the store must
be on a filesystem every worker sees.

:func:`compare` is the leaderboard of a results folder
(:func:`brainalign.results.leaderboard`), or, with ``by=``, scores against a model
property (:func:`brainalign.results.correlate_property`), or, with ``pairs=``, paired
variants (:func:`brainalign.results.paired_differences`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brainalign._yaml import Place, check_keys, read_yaml_mapping
from brainalign.parallel import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT_S

if TYPE_CHECKING:
    import pandas as pd

    from brainalign.benchmarks.benchmark import Benchmark
    from brainalign.benchmarks.settings import RunSettings
    from brainalign.parallel import CellResources
    from brainalign.results.across_models import Pair
    from brainalign.runs import CellTask

__all__ = [
    "RayOptions",
    "SweepConfig",
    "SweepConfigError",
    "SweepError",
    "compare",
    "load_config",
    "sweep",
    "sweep_cells",
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
    "units",
    "options",
    "device",
    "dtype",
    "batch_size",
    "store",
    "out",
    "engine",
    "ray",
    "properties",
    "pairs",
)
PAIR_KEYS = ("base", "variant", "name")
RAY_KEYS = ("address", "num_cpus", "num_gpus_per_task", "timeout_s", "max_retries")


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
    max_retries: int = DEFAULT_MAX_RETRIES


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep configuration (see the module documentation for the keys).

    ``layers`` is ``None`` for all layers; ``out`` and ``store`` are absolute (``store``
    ``None`` means ``out/features``); ``properties`` is the table of
    :func:`brainalign.results.read_properties` (None without); ``source`` is the file it
    came from, if any.
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
    units: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    device: str = "auto"
    dtype: str = "float32"
    batch_size: int = 32
    store: Path | None = None
    out: Path | None = None
    engine: str = "local"
    ray: RayOptions = field(default_factory=RayOptions)
    properties: pd.DataFrame | None = field(default=None, compare=False)
    pairs: tuple[Pair, ...] = ()
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


def _units(value: Any, where: Place) -> str | None:
    """The ``units`` specification, checked (:func:`brainalign.benchmarks.units.parse_units`)."""
    from brainalign.benchmarks.units import parse_units

    if value is None:
        return None
    try:
        return parse_units(value).text
    except ValueError as error:
        raise where.error("units", str(error)) from None


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
    retries = value.get("max_retries", DEFAULT_MAX_RETRIES)
    _positive_number(retries, "ray.max_retries", where, integer=True, zero_ok=True)
    return RayOptions(
        address=address.strip() if address else None,
        num_cpus=num_cpus,
        num_gpus_per_task=gpus,
        timeout_s=float(timeout),
        max_retries=retries,
    )


def _properties(value: Any, models: tuple[str, ...], where: Place, base: Path):
    """The ``properties:`` key: a mapping {model: {property: value}} or a CSV path."""
    from brainalign.results.properties import (
        PropertiesError,
        properties_from_mapping,
        read_properties,
    )

    if value is None:
        return None
    try:
        if isinstance(value, str):
            table = read_properties(_path(value, "properties", where, base, must_exist=True))
        elif isinstance(value, dict):
            table = properties_from_mapping(value, source="properties")
        else:
            raise where.error(
                "properties",
                f"must be a mapping {{model: {{name: value}}}} or a CSV path; got {value!r}",
            )
    except PropertiesError as error:
        raise where.error("properties", str(error)) from None
    for model in table["model"]:
        if model not in models:
            key = f"properties.{model}" if isinstance(value, dict) else "properties"
            raise where.error(
                key, f"model {model!r} is not one of the sweep's models ({', '.join(models)})"
            )
    return table


def _pair(item: Any, index: int, where: Place) -> Pair:
    """One entry of ``pairs:``: {base, variant[, name]} or [base, variant]."""
    from brainalign.results.across_models import Pair

    if isinstance(item, list) and len(item) == 2:
        item = {"base": item[0], "variant": item[1]}
    if not isinstance(item, dict):
        raise where.error(
            "pairs",
            f"entry {index} must be {{base: M, variant: M2, name: ...}} or [M, M2]; got {item!r}",
        )
    unknown = [k for k in item if k not in PAIR_KEYS]
    missing = [k for k in ("base", "variant") if k not in item]
    if unknown or missing:
        what = f"unknown key {unknown[0]!r}" if unknown else f"no {missing[0]!r}"
        raise where.error("pairs", f"entry {index} has {what} (keys: {', '.join(PAIR_KEYS)})")
    for key in PAIR_KEYS:
        if key in item and (not isinstance(item[key], str) or not item[key].strip()):
            raise where.error("pairs", f"entry {index}: {key} must be a name; got {item[key]!r}")
    return Pair(item["base"].strip(), item["variant"].strip(), item.get("name", "").strip())


def _pairs(value: Any, models: tuple[str, ...], where: Place) -> tuple[Pair, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise where.error("pairs", f"must be a non-empty list of pairs; got {value!r}")
    pairs = tuple(_pair(item, index, where) for index, item in enumerate(value, start=1))
    for index, pair in enumerate(pairs, start=1):
        for model in (pair.base, pair.variant):
            if model not in models:
                raise where.error(
                    "pairs",
                    f"entry {index} ({pair.label}): model {model!r} is not one of the "
                    f"sweep's models ({', '.join(models)})",
                )
        if pair.base == pair.variant:
            raise where.error("pairs", f"entry {index}: base and variant are both {pair.base!r}")
    return pairs


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
        For a missing, unknown or duplicate key, a bad value, an unknown benchmark, or a
        model in ``properties`` or ``pairs`` that ``models`` does not list.
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
    models = _string_list(data["models"], "models", where)
    return SweepConfig(
        models=models,
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
        units=_units(data.get("units"), where),
        options=dict(options),
        device=device.strip(),
        dtype=_choice(data.get("dtype", "float32"), "dtype", DTYPES, where),
        batch_size=_positive_number(data.get("batch_size", 32), "batch_size", where, integer=True),
        store=_path(data["store"], "store", where, base) if "store" in data else None,
        out=_path(data["out"], "out", where, base) if "out" in data else None,
        engine=_choice(data.get("engine", "local"), "engine", ENGINES, where),
        ray=_ray_options(data.get("ray"), where),
        properties=_properties(data.get("properties"), models, where, base),
        pairs=_pairs(data.get("pairs"), models, where),
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
        units=config.units,
        device=config.device,
        dtype=config.dtype,
        batch_size=config.batch_size,
        store=str(config.store_dir),
        options=dict(config.options),
    )


def sweep_cells(config: SweepConfig) -> tuple[list[RunSettings], list[Benchmark]]:
    """The checked cells of a sweep: one RunSettings per model, and the benchmarks
    (registered, then the studies'), every setting checked against every benchmark.

    Raises
    ------
    SweepConfigError
        Naming the config, for a bad setting, an unknown benchmark or model, a study's
        error, or a setting a benchmark would not use.
    """
    from brainalign.benchmarks.settings import SettingsError
    from brainalign.encoders.models import ModelLoadError
    from brainalign.scoring import check_distinct, preflight, resolve_benchmarks

    where = config.source or "the sweep config"
    try:
        runs = run_settings(config)
        registered = resolve_benchmarks(list(config.benchmarks)) if config.benchmarks else []
        benchmarks = check_distinct(registered + study_benchmarks(config))
        preflight(runs, benchmarks)
    except (SettingsError, ModelLoadError, ValueError) as error:
        if isinstance(error, SweepConfigError):
            raise
        raise SweepConfigError(f"{where}: {error}") from error
    return runs, benchmarks


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
    resources_of: Callable[[CellTask], CellResources | None] | None = None,
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
    resources_of : callable, optional
        ``resources_of(task) -> CellResources`` (:class:`brainalign.runs.CellTask`,
        :class:`brainalign.parallel.CellResources`): what each cell needs on Ray. The
        default on Ray is each cell's cost plan
        (:func:`brainalign.planning.cost.planned_resources`: its peak host memory, one
        CPU, GPUs as ``ray.num_gpus_per_task`` says); a None it returns asks for one CPU
        and those GPUs. The local engine runs cells whatever they declare.

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
    brainalign.parallel.CellResourcesError
        On Ray, before any cell runs, when a cell needs more than any node has.
    SweepError
        When cells failed (each named with its error; finished cells are kept, so a
        rerun computes only the missing ones).
    """
    from brainalign.parallel import make_executor
    from brainalign.runs import CellTask, RunFolder, run_cells

    config = _override(_as_config(config), engine=engine, address=address, out=out)
    where = config.source or "the sweep config"
    if config.out is None:
        raise SweepConfigError(f"{where}: no output folder; add 'out: DIR' or pass --out")
    runs, benchmarks = sweep_cells(config)
    runs = [dataclasses.replace(run, progress=progress) for run in runs]
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
        max_retries=config.ray.max_retries,
    )
    todo = [task for task in tasks if task.cell in pending]
    if resources_of is None and config.engine == "ray" and todo:
        from brainalign.planning.cost import planned_resources

        resources_of = planned_resources(log=log)  # each cell's memory from its plan
    if resources_of is not None:
        todo = [dataclasses.replace(task, resources=resources_of(task)) for task in todo]
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
    return _gather(folder, config)


def _gather(folder: Any, config: SweepConfig) -> pd.DataFrame:
    """The run's results (with the config's properties joined), its figures, and the
    properties and pairs saved next to them (stale ones removed)."""
    from brainalign.report.figures import write_benchmark_figures
    from brainalign.results import attach_properties, write_pairs, write_properties, write_results
    from brainalign.runs import FIGURES_DIR
    from brainalign.scoring import write_run_outputs

    write_properties(config.properties, folder.path)
    write_pairs(config.pairs, folder.path)
    if config.properties is None:
        return write_run_outputs(folder)
    results = attach_properties(write_run_outputs(folder, figures=False), config.properties)
    write_results(results, folder.path)
    write_benchmark_figures(results, folder.path / FIGURES_DIR)
    return results


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


def compare(
    results_dir: str | os.PathLike,
    by: str | None = None,
    *,
    properties: Any = None,
    depth: str | float = "best",
    score: str = "median_score",
    pairs: bool | Sequence[Any] | None = None,
    test: str = "permutation",
    n_resamples: int | None = None,
    seed: int = 0,
    figures: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """The leaderboard of a results folder, or its scores against a property, or pairs.

    Without ``by`` and ``pairs``: the leaderboard (:func:`brainalign.results.leaderboard`).
    Per benchmark, metric and scored model: the best layer (highest median score over
    units, whole layers), its ``median_score``, ``median_ceiling`` and
    ``normalized_score`` (median score over the units with a usable ceiling / their
    median ceiling), the untrained twin's score at its own best layer and the strongest
    of the model's own controls (:data:`brainalign.results.SUMMARY_NOTE`). The same
    numbers as the HTML report and the figures.

    The folder's saved properties (``properties.csv`` of a sweep) are joined first, then
    ``properties`` (which override them and the model card columns).

    Parameters
    ----------
    results_dir : path-like
        A folder with ``results.parquet`` (or ``results.csv``), as written by
        ``brainalign score --out`` or ``brainalign sweep``.
    by : str, optional
        A model (or head) property: :func:`brainalign.results.correlate_property`.
    properties : DataFrame, mapping or path-like, optional
        User properties (:func:`brainalign.results.attach_properties`).
    depth : "best" or float in [0, 1], default "best"
        With ``by``: each model's best layer, or the layer nearest this relative depth.
    score : {"median_score", "normalized_score"}, default "median_score"
        With ``by``: the score correlated.
    pairs : True or sequence of Pair / (base, variant), optional
        :func:`brainalign.results.paired_differences`; True reads the folder's
        ``pairs.json`` (saved by a sweep with ``pairs:``).
    test : {"permutation", "bootstrap"}, default "permutation"
        With ``pairs``.
    n_resamples : int, optional
        Bootstrap resamples (default 1000) with ``by``; sign flips or resamples (default
        9999) with ``pairs``.
    seed : int, default 0
    figures : path-like, optional
        Also draw the figures over models there
        (:func:`brainalign.report.scaling.write_model_figures`: the scaling figure of
        ``by``, or of every card column with enough distinct values; the layer curves by
        relative depth; the pairs). What was drawn, and why a kind of figure was not,
        is the table's ``attrs["figures"]`` (a
        :class:`~brainalign.report.scaling.ModelFigures`).

    Returns
    -------
    pandas.DataFrame
        :data:`brainalign.results.LEADERBOARD_COLUMNS`, or
        :data:`brainalign.results.CORRELATION_COLUMNS` with ``by``, or
        :data:`brainalign.results.PAIR_COLUMNS` with ``pairs``.

    Raises
    ------
    FileNotFoundError
        When the folder does not exist or holds no results table.
    ValueError
        When the table lacks the result columns, ``by`` is not a numeric property, the
        properties or pairs name a model the results do not hold, ``pairs=True`` and the
        folder has no pairs, or both ``by`` and ``pairs`` are given.
    """
    from brainalign.results import attach_properties, read_results, read_run_properties

    if by is not None and pairs:
        raise ValueError("give by= (scores against a property) or pairs=, not both")
    results = read_results(results_dir)
    folder = Path(results_dir)
    if folder.is_dir():
        results = attach_properties(results, read_run_properties(folder))
    results = attach_properties(results, properties)
    table = _compare_table(results, folder, by, depth, score, pairs, test, n_resamples, seed)
    if figures is not None:
        from brainalign.report.scaling import write_model_figures

        drawn = write_model_figures(
            results, figures, properties=None if by is None else [by], seed=seed,
            pairs=table if pairs else None,
        )  # fmt: skip
        table.attrs["figures"] = drawn
    return table


def _compare_table(
    results: pd.DataFrame, folder: Path, by: str | None, depth: str | float, score: str,
    pairs: Any, test: str, n_resamples: int | None, seed: int,
) -> pd.DataFrame:  # fmt: skip
    from brainalign.results import (
        correlate_property,
        leaderboard,
        paired_differences,
        read_pairs,
    )

    if by is not None:
        return correlate_property(
            results, by, depth=depth, score=score, seed=seed, n_resamples=n_resamples or 1000
        )
    if pairs:
        if pairs is True:
            pairs = read_pairs(folder) if folder.is_dir() else []
            if not pairs:
                raise ValueError(
                    f"{str(folder)!r} has no pairs.json: add pairs: to the sweep config and "
                    "rerun it (finished cells are skipped), or pass pairs=[(base, variant)]"
                )
        return paired_differences(
            results, pairs, test=test, seed=seed, n_resamples=n_resamples or 9999
        )
    return leaderboard(results)
