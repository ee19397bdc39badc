"""Executors for sweeps: in-process (sequential) and Ray (one task per cell).

An executor runs one function over a list of tasks and yields ``(index, Outcome)`` pairs
as tasks finish, so the caller can save each result at once (a killed sweep keeps what
it finished). A task's exception never escapes the executor: it comes back as an
:class:`Outcome` with ``error`` set, so one failing cell does not lose the others.

:class:`LocalExecutor`
    Runs the tasks one after the other in this process. No dependency.
:class:`RayExecutor`
    One Ray task per item. Without an address it starts a local Ray (``ray.init`` with
    ``num_cpus``, no dashboard) and shuts it down on exit; with an address it connects to
    that cluster (``"host:port"`` of the GCS, ``"ray://host:port"`` for Ray Client, or
    ``"auto"``). Each task asks for ``num_gpus_per_task`` GPUs when the cluster has GPUs
    and the work wants them, else one CPU.

A Ray address that does not answer
----------------------------------
``ray.init(address=...)`` with a dead address retries for a minute or more before it
fails. Before calling it, :func:`probe_address` opens a TCP connection to the address's
host and port with ``timeout_s`` (default :data:`DEFAULT_TIMEOUT_S` = 30 s); when nothing
answers, :class:`RayConnectionError` is raised within that time. (``ray.init`` is not run
in a helper thread with a timeout: Ray started off the main thread leaves the driver
unable to run tasks.) A port that accepts connections but is not a Ray GCS is left to
Ray's own connect timeout (about 60 s).

Workers import :mod:`brainalign` from the same environment as the driver (a local Ray
inherits the driver's environment, ``PYTHONPATH`` included, plus the package's parent
folder); on a remote cluster brainalign must be installed on every node, and the
environment variables listed in :data:`FORWARDED_ENV` are passed to the workers.
"""

from __future__ import annotations

import os
import socket
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "FORWARDED_ENV",
    "LocalExecutor",
    "Outcome",
    "RayConnectionError",
    "RayExecutor",
    "make_executor",
    "probe_address",
]

#: Seconds to wait for a Ray address to answer before giving up.
DEFAULT_TIMEOUT_S = 30.0

#: Environment variables (exact names or prefixes ending in ``_``) passed to Ray workers
#: of an existing cluster: where datasets are cached, offline switches, thread counts.
FORWARDED_ENV = (
    "BRAINALIGN_",
    "HF_",
    "TRANSFORMERS_OFFLINE",
    "TOKENIZERS_PARALLELISM",
)


class RayConnectionError(ConnectionError):
    """The Ray address did not answer within the timeout (or Ray could not start)."""


@dataclass
class Outcome:
    """What one task gave: ``value``, or ``error`` (one line) and ``details`` (traceback).

    ``error`` is ``"ExceptionType: message"``; ``message`` is the message alone and
    ``kind`` the exception's type name, so a caller can report a user error (a
    ``ValueError`` naming a bad option) in the exception's own words.
    """

    value: Any = None
    error: str | None = None
    details: str | None = None
    message: str | None = None
    kind: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the task finished without an exception."""
        return self.error is None


def _guarded(function: Callable[[Any], Any], task: Any) -> Outcome:
    """Run ``function(task)``; an exception becomes an :class:`Outcome` with ``error``."""
    try:
        return Outcome(value=function(task))
    except Exception as error:  # noqa: BLE001 - reported per task, never lost
        return Outcome(
            error=f"{type(error).__name__}: {error}",
            details=traceback.format_exc(),
            message=str(error),
            kind=type(error).__name__,
        )


class LocalExecutor:
    """Run tasks one after the other in this process.

    Examples
    --------
    >>> with LocalExecutor() as executor:
    ...     [outcome.value for _, outcome in executor.map_unordered(abs, [-1, 2])]
    [1, 2]
    """

    name = "local"

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def map_unordered(
        self, function: Callable[[Any], Any], tasks: Sequence[Any], *, wants_gpu: bool = False
    ) -> Iterator[tuple[int, Outcome]]:
        """Yield ``(index into tasks, Outcome)`` for each task, in order.

        Parameters
        ----------
        function : callable
            Called as ``function(task)``.
        tasks : sequence, length n_tasks
        wants_gpu : bool
            Ignored (the device is the caller's choice).
        """
        for index, task in enumerate(tasks):
            yield index, _guarded(function, task)


def _parse_address(address: str) -> tuple[str, int]:
    """``(host, port)`` of ``"host:port"`` or ``"ray://host:port"``."""
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None:
        raise RayConnectionError(
            f"Ray address {address!r} is not host:port (e.g. 10.0.0.5:6379, "
            "ray://10.0.0.5:10001 or auto)"
        )
    return parts.hostname, port


def probe_address(address: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
    """Check that something accepts TCP connections at a Ray address.

    Parameters
    ----------
    address : str
        ``"host:port"`` or ``"ray://host:port"``.
    timeout_s : float
        Seconds to wait for the connection.

    Raises
    ------
    RayConnectionError
        Within about ``timeout_s`` when nothing answers (refused, unreachable, timed out)
        or the address is not ``host:port``.
    """
    host, port = _parse_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return
    except OSError as error:
        raise RayConnectionError(
            f"Ray address {address!r} does not answer ({host}:{port}: {error}; waited up "
            f"to {timeout_s:g} s). Start the cluster (ray start --head --port={port}), fix "
            "the address, or leave it out to start a local Ray."
        ) from error


def _forwarded_env() -> dict[str, str]:
    return {
        name: value
        for name, value in os.environ.items()
        if any(name == p or (p.endswith("_") and name.startswith(p)) for p in FORWARDED_ENV)
    }


def _restore_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _package_parent() -> str:
    """The folder holding the ``brainalign`` package (for the workers' ``PYTHONPATH``)."""
    return str(Path(__file__).resolve().parent.parent)


class RayExecutor:
    """One Ray task per item, on a local Ray started here or on an existing cluster.

    Parameters
    ----------
    address : str, optional
        ``None`` starts a local Ray (shut down on exit); ``"host:port"``,
        ``"ray://host:port"`` or ``"auto"`` connect to an existing cluster (left running).
    num_cpus : int, optional
        CPUs of the local Ray (default: all); ignored with an address.
    num_gpus_per_task : float, optional
        GPUs per task when the cluster has GPUs and the work wants them (default 1).
    timeout_s : float
        Seconds to wait for ``address`` to answer (:func:`probe_address`).

    Raises
    ------
    ImportError
        On entering, when Ray is not installed (``pip install 'brainalign[ray]'``).
    RayConnectionError
        On entering, when the address does not answer within ``timeout_s``.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        num_cpus: int | None = None,
        num_gpus_per_task: float | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        if num_cpus is not None and (isinstance(num_cpus, bool) or num_cpus < 1):
            raise ValueError(f"num_cpus must be a positive integer; got {num_cpus!r}")
        if num_gpus_per_task is not None and num_gpus_per_task < 0:
            raise ValueError(f"num_gpus_per_task must be >= 0; got {num_gpus_per_task!r}")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be positive; got {timeout_s!r}")
        self.address = address
        self.num_cpus = num_cpus
        self.num_gpus_per_task = num_gpus_per_task
        self.timeout_s = float(timeout_s)
        self._started_here = False

    def __enter__(self) -> RayExecutor:
        ray = _import_ray()
        remote_address = self.address not in (None, "", "local")
        if remote_address and self.address != "auto":
            probe_address(self.address, self.timeout_s)
        if ray.is_initialized():
            return self
        if not remote_address:
            self._start_local(ray)
        else:
            try:
                ray.init(
                    address=self.address,
                    runtime_env={"env_vars": _forwarded_env()},
                    log_to_driver=False,
                )
            except ConnectionError as error:
                raise RayConnectionError(
                    f"could not connect to Ray at {self.address!r}: {error}"
                ) from error
        return self

    def _start_local(self, ray: Any) -> None:
        parent = _package_parent()
        path = os.environ.get("PYTHONPATH")
        if parent not in (path or "").split(os.pathsep):
            os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (parent, path) if p)
        try:
            ray.init(num_cpus=self.num_cpus, include_dashboard=False, log_to_driver=False)
        finally:
            _restore_env("PYTHONPATH", path)
        self._started_here = True

    def __exit__(self, *exc: Any) -> None:
        if self._started_here:
            _import_ray().shutdown()
            self._started_here = False

    def gpus_per_task(self, wants_gpu: bool) -> float:
        """GPUs each task asks for: ``num_gpus_per_task`` (default 1) when the cluster has
        GPUs and ``wants_gpu``, else 0."""
        if not wants_gpu:
            return 0.0
        if self.num_gpus_per_task is not None:
            return float(self.num_gpus_per_task)
        has_gpus = _import_ray().cluster_resources().get("GPU", 0) > 0
        return 1.0 if has_gpus else 0.0

    def map_unordered(
        self, function: Callable[[Any], Any], tasks: Sequence[Any], *, wants_gpu: bool = False
    ) -> Iterator[tuple[int, Outcome]]:
        """Submit one task per item; yield ``(index into tasks, Outcome)`` as each finishes.

        Parameters
        ----------
        function : callable
            Picklable (a module-level function); called as ``function(task)`` on a worker.
        tasks : sequence, length n_tasks
        wants_gpu : bool
            Ask for GPUs per task (see :meth:`gpus_per_task`).
        """
        ray = _import_ray()
        num_gpus = self.gpus_per_task(wants_gpu)
        remote = ray.remote(num_cpus=1, num_gpus=num_gpus, max_retries=0)(_guarded)
        pending = {remote.remote(function, task): i for i, task in enumerate(tasks)}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                index = pending.pop(ref)
                try:
                    outcome = ray.get(ref)
                except Exception as error:  # noqa: BLE001 - a worker that died
                    outcome = Outcome(
                        error=f"{type(error).__name__}: {error}",
                        message=str(error),
                        kind=type(error).__name__,
                    )
                yield index, outcome


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as error:
        raise ImportError(
            "the Ray engine needs ray: pip install 'brainalign[ray]' (or use engine: local)"
        ) from error
    return ray


def make_executor(
    engine: str,
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    num_gpus_per_task: float | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> LocalExecutor | RayExecutor:
    """The executor called ``engine`` (``"local"`` or ``"ray"``).

    Raises
    ------
    ValueError
        For another engine name.
    """
    if engine == "local":
        return LocalExecutor()
    if engine == "ray":
        return RayExecutor(
            address, num_cpus=num_cpus, num_gpus_per_task=num_gpus_per_task, timeout_s=timeout_s
        )
    raise ValueError(f"engine={engine!r}; use 'local' or 'ray'")
