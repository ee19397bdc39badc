"""Run folders: cells written as they finish, resumed, never mixed with other settings.

``brainalign score --out`` and ``brainalign sweep`` share this machinery. A run folder
holds:

- ``cells/<model>__<benchmark id@version>.parquet`` and ``... .done.json``: one *cell*
  (one model on one benchmark), its rows written atomically as soon as it finishes,
  then its done-marker (what it cost: seconds, forward passes, feature-store entries);
- ``run.json``: what made the numbers (brainalign, torch, transformers, numpy and
  Python versions; every setting that changes scores, :meth:`~brainalign.benchmarks.
  settings.RunSettings.fingerprint`; each model's source, revision and weight hashes;
  each invocation's device, batch size, engine, cells computed and reused and time
  taken), rewritten atomically after every cell;
- ``results.parquet`` / ``results.csv``: all finished cells gathered (:func:`gather`).

A rerun with the same settings skips finished cells, so a killed run resumes where it
stopped. A folder holding results of other settings is refused (:class:`RunFolderError`)
unless ``overwrite=True``, which removes the earlier run's files first. Cells of the same
settings accumulate: scoring another model into the folder adds its cells, and the
gathered table holds every finished cell.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import platform
import re
import shutil
import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from brainalign.benchmarks.benchmark import Benchmark
    from brainalign.benchmarks.settings import RunSettings
    from brainalign.parallel import CellResources, Outcome

__all__ = [
    "CELLS_DIR",
    "FIGURES_DIR",
    "RUN_FILE",
    "Cell",
    "CellTask",
    "RunFolder",
    "RunFolderError",
    "compute_cell",
    "library_versions",
    "model_identity",
    "run_cells",
]

RUN_FILE = "run.json"
"""The run record of a run folder."""

CELLS_DIR = "cells"
"""Sub-folder of the finished cells."""

FIGURES_DIR = "figures"
"""Sub-folder of the figures drawn from the gathered results."""

#: Files and folders of a run that ``overwrite=True`` removes (nothing else is touched).
RUN_OUTPUTS = (CELLS_DIR, RUN_FILE, "results.csv", "results.parquet", FIGURES_DIR, "report.html")

_PROGRESS = logging.getLogger("brainalign.progress")

#: Distributions whose versions a run records.
LIBRARIES = ("brainalign", "torch", "transformers", "numpy", "scipy", "scikit-learn", "pandas")


class RunFolderError(ValueError):
    """A run folder that holds results of other settings (or is not a run folder)."""


def _safe_model_name(model: str) -> str:
    """A file-name-safe, unique stand-in for a model id or path."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model.strip("/")).strip("._") or "model"
    digest = hashlib.sha256(model.encode("utf-8")).hexdigest()[:8]
    return f"{slug[-60:]}-{digest}"


@dataclass(frozen=True)
class Cell:
    """One (model, benchmark) of a run.

    Attributes
    ----------
    model : str
    benchmark : str
        Versioned id (``"simlex999@1"``).
    digest : str
        The benchmark's :attr:`~brainalign.benchmarks.benchmark.Benchmark.digest` (a
        study's data and analysis); a finished cell of another digest is recomputed.
    """

    model: str
    benchmark: str
    digest: str = ""

    @property
    def stem(self) -> str:
        """File name stem: ``<safe model>__<benchmark id@version>``."""
        return f"{_safe_model_name(self.model)}__{self.benchmark}"

    def table_path(self, out: Path) -> Path:
        """``OUT/cells/<stem>.parquet``."""
        return out / CELLS_DIR / f"{self.stem}.parquet"

    def marker_path(self, out: Path) -> Path:
        """``OUT/cells/<stem>.done.json``."""
        return out / CELLS_DIR / f"{self.stem}.done.json"


@dataclass(frozen=True)
class CellTask:
    """Everything a worker needs to compute one cell (picklable).

    Attributes
    ----------
    cell : Cell
    settings : RunSettings
    benchmark : Benchmark
        The benchmark itself (a registered one, or a user's study), so a worker never
        looks it up by name.
    resources : CellResources, optional
        What the cell needs on a Ray node (:class:`~brainalign.parallel.CellResources`);
        None asks for the executor's default (one CPU, GPUs by ``num_gpus_per_task``).
        The local executor ignores it.
    """

    cell: Cell
    settings: RunSettings
    benchmark: Benchmark
    resources: CellResources | None = None

    @property
    def label(self) -> str:
        """``"<model> on <benchmark id@version>"``, how messages name the cell."""
        return f"{self.cell.model} on {self.cell.benchmark}"

    @classmethod
    def of(cls, settings: RunSettings, benchmark: Benchmark) -> CellTask:
        """The task of scoring ``settings.model`` on ``benchmark``."""
        return cls(Cell(settings.model, benchmark.versioned_id, benchmark.digest), settings,
                   benchmark)  # fmt: skip


def library_versions() -> dict[str, str | None]:
    """Versions of Python and the libraries that make the numbers (no import needed)."""
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def model_identity(model: str) -> dict[str, Any]:
    """Where a model comes from and the sha256 of its weight files (no torch).

    Returns
    -------
    dict
        ``source``, ``revision`` (of a cached hub model) and ``weights_sha256`` (file ->
        digest; empty for an uncached hub model).
    """
    from brainalign.encoders.models import inspect_model

    info = inspect_model(model)
    return {
        "source": info.source,
        "revision": info.revision,
        "weights_sha256": info.weight_hashes(),
    }


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _write_json(path: Path, value: Any) -> None:
    from brainalign._io import atomic_path, raise_if_disk_full

    try:
        with atomic_path(path) as temp:
            Path(temp).write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        raise_if_disk_full(error, path, "run file")
        raise


def _table_problem(path: Path, n_rows: Any) -> str | None:
    """Why a cell's table cannot be read back (None when it can): a file cut short
    (no Parquet footer) or holding another number of rows than its done-marker says."""
    import pyarrow.parquet as pq

    try:
        rows = pq.ParquetFile(path).metadata.num_rows
    except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
        return f"unreadable ({error})"
    if isinstance(n_rows, int) and rows != n_rows:
        return f"holds {rows} rows, its done-marker says {n_rows}"
    return None


def _differences(recorded: Mapping[str, Any], wanted: Mapping[str, Any]) -> str:
    keys = sorted(set(recorded) | set(wanted))
    changed = [k for k in keys if recorded.get(k) != wanted.get(k)]
    return ", ".join(f"{k}: {recorded.get(k)!r} there, {wanted.get(k)!r} now" for k in changed)


class RunFolder:
    """A run folder (see the module documentation), opened for one invocation.

    Parameters
    ----------
    out : path-like
        The folder (created when missing).
    settings : mapping
        The fingerprint of the invocation's settings (the same for every model).
    overwrite : bool, default False
        Remove an earlier run's files (:data:`RUN_OUTPUTS`) when its settings differ,
        or when the folder holds results without a ``run.json``.
    invocation : mapping, optional
        What else this invocation recorded (device, batch size, engine, command).

    Raises
    ------
    RunFolderError
        When the folder holds results of other settings and ``overwrite`` is False (the
        message names each differing setting), or its ``run.json`` is unreadable.
    brainalign._io.OutputDirectoryError
        When the folder cannot be created or written.
    """

    def __init__(
        self,
        out: str | os.PathLike,
        settings: Mapping[str, Any],
        *,
        overwrite: bool = False,
        invocation: Mapping[str, Any] | None = None,
    ) -> None:
        from brainalign._io import ensure_writable_dir

        self.path = ensure_writable_dir(out)
        self.settings = json.loads(json.dumps(dict(settings)))
        recorded = self._read_record()
        if recorded is not None and recorded.get("settings") != self.settings:
            if not overwrite:
                raise RunFolderError(
                    f"{self.path} holds results of other settings "
                    f"({_differences(recorded.get('settings', {}), self.settings)}); use another "
                    "output folder, or overwrite=True (--overwrite) to replace them"
                )
            self._clear()
            recorded = None
        elif recorded is None and self._has_outputs():
            if not overwrite:
                raise RunFolderError(
                    f"{self.path} holds results without a {RUN_FILE} (another run or an "
                    "older brainalign); use another output folder, or overwrite=True "
                    "(--overwrite) to replace them"
                )
            self._clear()
        self.record = recorded or {
            "settings": self.settings,
            "versions": library_versions(),
            "models": {},
            "cells": [],
            "invocations": [],
            "created": _now(),
        }
        self.record["versions"] = library_versions()
        self._invocation = {
            "started": _now(),
            "host": socket.gethostname(),
            **dict(invocation or {}),
            "cells_computed": 0,
            "cells_reused": 0,
            "seconds": 0.0,
        }
        self.record["invocations"].append(self._invocation)
        self._started = time.perf_counter()
        (self.path / CELLS_DIR).mkdir(exist_ok=True)
        self._save_record()

    # ----------------------------------------------------------------- the record

    def _read_record(self) -> dict[str, Any] | None:
        path = self.path / RUN_FILE
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise RunFolderError(
                f"{path} is not readable JSON ({error}); remove it or use --overwrite"
            ) from error
        if not isinstance(record, dict) or "settings" not in record:
            raise RunFolderError(f"{path} is not a brainalign run record; use --overwrite")
        return record

    def _has_outputs(self) -> bool:
        return any((self.path / name).exists() for name in RUN_OUTPUTS)

    def _clear(self) -> None:
        for name in RUN_OUTPUTS:
            target = self.path / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()

    def _save_record(self) -> None:
        self._invocation["seconds"] = round(time.perf_counter() - self._started, 3)
        self.record["updated"] = _now()
        _write_json(self.path / RUN_FILE, self.record)

    def add_models(self, models: Iterable[str]) -> None:
        """Record each model's source, revision and weight hashes (:func:`model_identity`)."""
        for model in models:
            if model not in self.record["models"]:
                self.record["models"][model] = model_identity(model)
        self._save_record()

    # ----------------------------------------------------------------- cells

    def is_done(self, cell: Cell) -> bool:
        """Whether the cell's table and done-marker exist (with these settings) and the
        table reads back whole.

        A table cut short after its marker was written (a full disk, a copy that stopped)
        counts as not done: the cell is computed again, and the log
        (``brainalign.progress``) says so.
        """
        marker = cell.marker_path(self.path)
        table = cell.table_path(self.path)
        if not marker.is_file() or not table.is_file():
            return False
        try:
            recorded = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        if not isinstance(recorded, dict) or not (
            recorded.get("settings") == self.settings and recorded.get("digest", "") == cell.digest
        ):
            return False
        problem = _table_problem(table, recorded.get("n_rows"))
        if problem is not None:
            _PROGRESS.warning(
                "cell %s on %s: its table %s is %s; computing the cell again",
                cell.model,
                cell.benchmark,
                table,
                problem,
            )
            return False
        return True

    def request(self, cells: Sequence[Cell]) -> list[Cell]:
        """Note the cells of this invocation; return those still to compute."""
        listed = {(c["model"], c["benchmark"]): c for c in self.record["cells"]}
        for cell in cells:
            entry = listed.get((cell.model, cell.benchmark))
            if entry is None:
                entry = {"model": cell.model, "benchmark": cell.benchmark}
                self.record["cells"].append(entry)
                listed[(cell.model, cell.benchmark)] = entry
            if cell.digest:
                entry["digest"] = cell.digest
        todo = [cell for cell in cells if not self.is_done(cell)]
        self._invocation["cells_reused"] = len(cells) - len(todo)
        self._save_record()
        return todo

    def save_cell(self, cell: Cell, value: Mapping[str, Any]) -> None:
        """Write a finished cell: its table, then its done-marker (both atomically)."""
        from brainalign.results import write_results_parquet

        write_results_parquet(value["rows"], cell.table_path(self.path))
        cost = {k: v for k, v in value.items() if k != "rows"}
        marker = {
            "model": cell.model,
            "benchmark": cell.benchmark,
            "digest": cell.digest,
            "settings": self.settings,
            "finished": _now(),
            "n_rows": len(value["rows"]),
            **cost,
        }
        try:
            _write_json(cell.marker_path(self.path), marker)
        except BaseException:  # no table without its marker: the cell is simply not done
            cell.table_path(self.path).unlink(missing_ok=True)
            raise
        for entry in self.record["cells"]:
            if (entry["model"], entry["benchmark"]) == (cell.model, cell.benchmark):
                entry.update({"finished": marker["finished"], "n_rows": marker["n_rows"], **cost})
        self._invocation["cells_computed"] += 1
        self._save_record()

    def note(self, **values: Any) -> None:
        """Record more about this invocation in ``run.json`` (JSON values)."""
        self._invocation.update(values)
        self._save_record()

    def finish(self) -> None:
        """Record the invocation's end (and the weight hashes of models downloaded by it)."""
        for model, identity in self.record["models"].items():
            if not identity.get("weights_sha256"):  # a hub model not cached when it began
                self.record["models"][model] = model_identity(model)
        self._invocation["finished"] = _now()
        self._save_record()

    def gather(self) -> pd.DataFrame | None:
        """Every finished cell of the folder in one table (run order); None if none."""
        import pandas as pd

        from brainalign.results import make_results

        cells = [
            Cell(c["model"], c["benchmark"], c.get("digest", "")) for c in self.record["cells"]
        ]
        tables = [pd.read_parquet(c.table_path(self.path)) for c in cells if self.is_done(c)]
        if not tables:
            return None
        return make_results(pd.concat(tables, ignore_index=True))


def _store_entries(store: str | None) -> set[str]:
    if store is None or not Path(store).is_dir():
        return set()
    return {p.name for p in Path(store).iterdir() if p.is_dir() and not p.name.startswith(".")}


def _resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def compute_cell(task: CellTask) -> dict[str, Any]:
    """Run one cell (in a worker): its rows and what it cost.

    Returns
    -------
    dict
        ``rows`` (the result table), ``seconds``, ``forward_passes``, ``forward_items``,
        ``store_entries_written``, ``device``, ``host``, ``pid``.
    """
    from brainalign.scoring import count_forward_passes

    settings = dataclasses.replace(task.settings, device=_resolve_device(task.settings.device))
    entries_before = _store_entries(settings.store)
    start = time.perf_counter()
    with count_forward_passes() as passes:
        rows = task.benchmark.run(settings)
    return {
        "rows": rows,
        "seconds": round(time.perf_counter() - start, 3),
        "forward_passes": passes.batches,
        "forward_items": passes.items,
        "store_entries_written": len(_store_entries(settings.store) - entries_before),
        "device": settings.device,
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }


def run_cells(
    tasks: Sequence[CellTask],
    executor: Any,
    *,
    folder: RunFolder | None = None,
    wants_gpu: bool = False,
    log: Callable[[str], None] | None = None,
) -> tuple[dict[Cell, pd.DataFrame], list[tuple[Cell, Outcome]]]:
    """Compute cells with an executor, saving each into ``folder`` as it finishes.

    Parameters
    ----------
    tasks : sequence of CellTask
    executor : LocalExecutor or RayExecutor
        (:mod:`brainalign.parallel`), not yet entered. Each task's ``resources`` go
        with it (a Ray executor refuses, before running anything, a cell that no node
        could run: :class:`~brainalign.parallel.CellResourcesError`).
    folder : RunFolder, optional
        Where each finished cell is written at once (by this process only, once per
        cell, even when Ray ran a cell again after losing its worker); the Ray
        executor's feature-sharing counts go into the invocation's record
        (``shared_feature_entries``).
    wants_gpu : bool
        Ask the executor for GPUs per task (tasks without declared resources).
    log : callable, optional
        Called with one line per finished or failed cell.

    Returns
    -------
    rows : dict of Cell to pandas.DataFrame
        The finished cells' rows.
    failures : list of (Cell, Outcome)
        The failed cells with their outcome (error, message, traceback).
    """
    log = log or (lambda line: None)
    rows: dict[Cell, pd.DataFrame] = {}
    failures = []
    if not tasks:
        return rows, failures
    with executor:
        outcomes = executor.map_unordered(
            compute_cell,
            tasks,
            wants_gpu=wants_gpu,
            resources=[task.resources for task in tasks],
            labels=[task.label for task in tasks],
        )
        for index, outcome in outcomes:
            cell = tasks[index].cell
            if outcome.ok:
                if folder is not None:
                    folder.save_cell(cell, outcome.value)
                rows[cell] = outcome.value["rows"]
                log(
                    f"done {cell.model} on {cell.benchmark} ({outcome.value['seconds']:.1f} s, "
                    f"{outcome.value['forward_passes']} forward passes)"
                )
            else:
                failures.append((cell, outcome))
                log(f"FAILED {cell.model} on {cell.benchmark}: {outcome.error}")
    shared = getattr(executor, "shared_stats", None)
    if folder is not None and shared is not None:
        folder.note(shared_feature_entries=shared)
    return rows, failures
