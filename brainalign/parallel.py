"""Executors for sweeps: in-process (sequential) and Ray (one task per cell).

An executor runs one function over a list of tasks and yields ``(index, Outcome)`` pairs
as tasks finish, so the caller can save each result at once (a killed sweep keeps what
it finished). A task's exception never escapes the executor: it comes back as an
:class:`Outcome` with ``error`` set, so one failing cell does not lose the others.

:class:`LocalExecutor`
    Runs the tasks one after the other in this process. No dependency. It runs what it
    is given: :class:`CellResources` are not checked against this machine (the encoders
    check free memory when they load a model).
:class:`RayExecutor`
    One Ray task per item. Without an address it starts a local Ray (``ray.init`` with
    ``num_cpus``, no dashboard) and shuts it down on exit; with an address it connects to
    that cluster (``"host:port"`` of the GCS, ``"ray://host:port"`` for Ray Client, or
    ``"auto"``).

Resources
---------
Each task may declare what it needs (:class:`CellResources`: CPUs, GPUs, and Ray's
logical ``memory`` resource in bytes); Ray places it on a node with that much free and
runs no more tasks on a node than its resources allow. A task without a declaration asks
for one CPU and ``num_gpus_per_task`` GPUs when the cluster has GPUs and the work wants
them. Before anything is submitted, every task's needs are compared with the nodes of
the cluster: a task that no node could ever run (more CPUs, GPUs or memory than the
largest node has) is refused with :class:`CellResourcesError`, naming the task, what it
needs and what the nodes have, instead of waiting forever. (An autoscaling cluster that
would add a larger node is not foreseen: declare what its current nodes can run.)

Lost workers
------------
A task whose worker process or node dies (a system failure: killed, out of memory, node
lost) is run again by Ray, up to ``max_retries`` times (default 1). A Python exception
is never retried: it comes back as a failed :class:`Outcome`, as does a task that lost
its worker more often than allowed. Each task gives exactly one outcome, so the caller
saves each result once. What a killed attempt left in the feature store is a temporary
directory named by its writer's pid and host; it is never read as an entry, and the next
writer of that entry (the retry) removes it when that pid is dead.

Shared features
---------------
While a :class:`RayExecutor` is entered, feature-store entries that the tasks load are
read from disk once and shared through Ray's object store
(:mod:`brainalign.encoders.store.shared`); :attr:`RayExecutor.shared_stats` says how
many were read and how many loads they served.

A Ray address that does not answer
----------------------------------
``ray.init(address=...)`` with a dead address retries for a minute or more before it
fails. Before calling it, :func:`probe_address` connects to the address's host and port
and checks that a gRPC server (the Ray GCS, or the Ray Client server) answers: it sends
the HTTP/2 client preface and requires the server's SETTINGS frame back, all within
``timeout_s`` (default :data:`DEFAULT_TIMEOUT_S` = 30 s). When nothing answers, or the
port belongs to something else (a web server, a port that accepts and stays silent),
:class:`RayConnectionError` is raised within that time. With ``RAY_USE_TLS=1`` only the
TCP connection is checked (the handshake would be TLS). (``ray.init`` is not run in a
helper thread with a timeout: Ray started off the main thread leaves the driver unable to
run tasks.)

Workers import :mod:`brainalign` from the same environment as the driver (a local Ray
inherits the driver's environment, ``PYTHONPATH`` included, plus the package's parent
folder); on a remote cluster brainalign must be installed on every node, and the
environment variables listed in :data:`FORWARDED_ENV` are passed to the workers.
"""

from __future__ import annotations

import dataclasses
import math
import os
import socket
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT_S",
    "FORWARDED_ENV",
    "CellResources",
    "CellResourcesError",
    "LocalExecutor",
    "Outcome",
    "RayConnectionError",
    "RayExecutor",
    "make_executor",
    "probe_address",
]

#: Seconds to wait for a Ray address to answer before giving up.
DEFAULT_TIMEOUT_S = 30.0

#: Times Ray runs a task again after its worker died (never after a Python exception).
DEFAULT_MAX_RETRIES = 1

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


class CellResourcesError(ValueError):
    """A task needs more CPUs, GPUs or memory than any node of the Ray cluster has."""


_GIB = 1 << 30


@dataclass(frozen=True)
class CellResources:
    """What one task (a sweep cell) needs on the node that runs it.

    Parameters
    ----------
    num_cpus : float, default 1
        CPUs (Ray's ``num_cpus``; fractions share a CPU).
    num_gpus : float or None, default 0
        GPUs (Ray's ``num_gpus``; fractions share a GPU). None: as the executor gives a
        cell that declares nothing (:meth:`RayExecutor.gpus_per_task`), e.g. for memory
        known from a cost plan on a cluster whose GPUs only the executor sees.
    memory_bytes : int, optional
        Bytes of Ray's logical ``memory`` resource: Ray runs tasks on a node only while
        their declared memory fits its total. Not a limit on what the task uses.

    Raises
    ------
    ValueError
        For a negative or non-finite count, or ``memory_bytes`` that is not a positive
        integer.

    Examples
    --------
    >>> CellResources(num_cpus=2, num_gpus=1, memory_bytes=8 << 30).describe()
    '2 CPUs, 1 GPU, 8 GiB memory'
    """

    num_cpus: float = 1
    num_gpus: float | None = 0
    memory_bytes: int | None = None

    def __post_init__(self) -> None:
        for name in ("num_cpus", "num_gpus"):
            value = getattr(self, name)
            if name == "num_gpus" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"CellResources {name}={value!r}: give a number >= 0")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"CellResources {name}={value!r}: give a finite number >= 0")
        memory = self.memory_bytes
        if memory is not None and (
            isinstance(memory, bool) or not isinstance(memory, int) or memory < 1
        ):
            raise ValueError(
                f"CellResources memory_bytes={memory!r}: give a positive number of bytes "
                "(an int), or None to declare no memory"
            )

    def ray_options(self) -> dict[str, float | int]:
        """The ``.options()`` of a Ray task: ``num_cpus``, ``num_gpus`` and ``memory``."""
        options: dict[str, float | int] = {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus}
        if self.memory_bytes is not None:
            options["memory"] = self.memory_bytes
        return options

    def describe(self) -> str:
        """``"2 CPUs, 1 GPU, 8 GiB memory"``."""
        return _describe(self.num_cpus, self.num_gpus, self.memory_bytes)

    def with_gpus(self, num_gpus: float) -> CellResources:
        """These resources with ``num_gpus`` where they leave GPUs to the executor (None)."""
        if self.num_gpus is not None:
            return self
        return dataclasses.replace(self, num_gpus=num_gpus)

    def fits(self, node: dict[str, float]) -> bool:
        """Whether a node with these total resources (Ray's ``CPU``, ``GPU``, ``memory``)
        could run the task."""
        return (
            self.num_cpus <= node.get("CPU", 0)
            and (self.num_gpus or 0) <= node.get("GPU", 0)
            and (self.memory_bytes or 0) <= node.get("memory", 0)
        )


def _describe(cpus: float, gpus: float | None, memory: float | None) -> str:
    def count(value: float, unit: str) -> str:
        return f"{value:g} {unit}{'' if value == 1 else 's'}"

    parts = [
        count(cpus, "CPU"),
        "GPUs as the executor gives" if gpus is None else count(gpus, "GPU"),
    ]
    if memory is not None:
        parts.append(f"{memory / _GIB:.3g} GiB memory")
    return ", ".join(parts)


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
        self,
        function: Callable[[Any], Any],
        tasks: Sequence[Any],
        *,
        wants_gpu: bool = False,
        resources: Sequence[CellResources | None] | None = None,
        labels: Sequence[str] | None = None,
    ) -> Iterator[tuple[int, Outcome]]:
        """Yield ``(index into tasks, Outcome)`` for each task, in order.

        Parameters
        ----------
        function : callable
            Called as ``function(task)``.
        tasks : sequence, length n_tasks
        wants_gpu : bool
            Ignored (the device is the caller's choice).
        resources, labels : sequence, length n_tasks, optional
            Ignored: this executor runs what it is given, one task at a time.
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


#: The HTTP/2 client connection preface and an empty SETTINGS frame (RFC 9113, 3.4).
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
_H2_FRAME_HEADER = 9
_H2_SETTINGS = 4


def probe_address(address: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
    """Check that a gRPC server (a Ray GCS or Ray Client server) answers at an address.

    Connects, sends the HTTP/2 client preface and waits for the server's first frame,
    which a gRPC server sends at once and which must be a SETTINGS frame. The whole
    check takes at most about ``timeout_s``. With ``RAY_USE_TLS`` set to ``1`` only the
    TCP connection is checked.

    Parameters
    ----------
    address : str
        ``"host:port"`` or ``"ray://host:port"``.
    timeout_s : float
        Seconds to wait for the connection and the answer together.

    Raises
    ------
    RayConnectionError
        Within about ``timeout_s`` when nothing answers (refused, unreachable, timed
        out), when what answers is not gRPC (silent, closed the connection, or another
        protocol), or when the address is not ``host:port``.
    """
    host, port = _parse_address(address)
    deadline = time.monotonic() + timeout_s
    try:
        connection = socket.create_connection((host, port), timeout=timeout_s)
    except OSError as error:
        raise RayConnectionError(
            f"Ray address {address!r} does not answer ({host}:{port}: {error}; waited up "
            f"to {timeout_s:g} s). Start the cluster (ray start --head --port={port}), fix "
            "the address, or leave it out to start a local Ray."
        ) from error
    with connection:
        if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
            return
        problem = _grpc_problem(connection, deadline)
    if problem is not None:
        raise RayConnectionError(
            f"Ray address {address!r} accepts connections but is not a Ray cluster: "
            f"{host}:{port} {problem} (a Ray GCS or Ray Client server answers in gRPC at "
            f"once; waited up to {timeout_s:g} s). Give the port of the head node's GCS "
            "(ray start --head prints it, default 6379) or of Ray Client (ray://, default "
            "10001)."
        )


def _grpc_problem(connection: socket.socket, deadline: float) -> str | None:
    """None when the peer answers the HTTP/2 preface with a SETTINGS frame before
    ``deadline`` (``time.monotonic()``), else what it did instead."""
    received = b""
    try:
        connection.settimeout(max(deadline - time.monotonic(), 1e-3))
        connection.sendall(_H2_PREFACE)
        while len(received) < _H2_FRAME_HEADER:
            connection.settimeout(max(deadline - time.monotonic(), 1e-3))
            chunk = connection.recv(64)
            if not chunk:
                return f"closed the connection after {len(received)} bytes"
            received += chunk
    except TimeoutError:
        return f"sent {len(received)} bytes and no HTTP/2 frame in time"
    except OSError as error:
        return f"failed during the HTTP/2 handshake ({error})"
    frame_type = received[3]
    stream = int.from_bytes(received[5:9], "big") & 0x7FFFFFFF
    if frame_type != _H2_SETTINGS or stream != 0:
        return f"answered {received[:40]!r}, not an HTTP/2 SETTINGS frame"
    return None


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
        GPUs per task without declared resources, when the cluster has GPUs and the work
        wants them (default 1).
    timeout_s : float
        Seconds to wait for ``address`` to answer (:func:`probe_address`).
    max_retries : int, default :data:`DEFAULT_MAX_RETRIES`
        Times a task whose worker died is run again (never after a Python exception).
    share_features : bool, default True
        Share the feature-store entries the tasks load through Ray's object store
        (:mod:`brainalign.encoders.store.shared`).

    Attributes
    ----------
    shared_stats : dict or None
        After exit, with ``share_features``: ``entries`` shared, ``reads`` (entries read
        from disk) and ``requests`` (loads served; ``requests - reads`` came from the
        object store).

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
        max_retries: int = DEFAULT_MAX_RETRIES,
        share_features: bool = True,
    ) -> None:
        if num_cpus is not None and (isinstance(num_cpus, bool) or num_cpus < 1):
            raise ValueError(f"num_cpus must be a positive integer; got {num_cpus!r}")
        if num_gpus_per_task is not None and num_gpus_per_task < 0:
            raise ValueError(f"num_gpus_per_task must be >= 0; got {num_gpus_per_task!r}")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be positive; got {timeout_s!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be an integer >= 0; got {max_retries!r}")
        self.address = address
        self.num_cpus = num_cpus
        self.num_gpus_per_task = num_gpus_per_task
        self.timeout_s = float(timeout_s)
        self.max_retries = max_retries
        self.share_features = share_features
        self.shared_stats: dict[str, int] | None = None
        self._started_here = False
        self._sharing: Any = None

    def __enter__(self) -> RayExecutor:
        ray = _import_ray()
        remote_address = self.address not in (None, "", "local")
        if remote_address and self.address != "auto":
            probe_address(self.address, self.timeout_s)
        if not ray.is_initialized():
            if not remote_address:
                self._start_local(ray)
            else:
                self._connect(ray)
        if self.share_features:
            from brainalign.encoders.store.shared import start_sharing

            self._sharing = start_sharing()
        return self

    def _connect(self, ray: Any) -> None:
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
        if self._sharing is not None:
            from brainalign.encoders.store.shared import stop_sharing

            self.shared_stats = stop_sharing(self._sharing)
            self._sharing = None
        if self._started_here:
            _import_ray().shutdown()
            self._started_here = False

    def gpus_per_task(self, wants_gpu: bool) -> float:
        """GPUs each task without declared resources asks for: ``num_gpus_per_task``
        (default 1) when the cluster has GPUs and ``wants_gpu``, else 0."""
        if not wants_gpu:
            return 0.0
        if self.num_gpus_per_task is not None:
            return float(self.num_gpus_per_task)
        has_gpus = _import_ray().cluster_resources().get("GPU", 0) > 0
        return 1.0 if has_gpus else 0.0

    def check_resources(
        self, needs: Sequence[CellResources], labels: Sequence[str] | None = None
    ) -> None:
        """Refuse tasks that no alive node of the cluster could run.

        Parameters
        ----------
        needs : sequence of CellResources, length n_tasks
        labels : sequence of str, length n_tasks, optional
            How to name each task in the message (default ``"task <index>"``).

        Raises
        ------
        CellResourcesError
            Naming every such task, what it needs and the most any node has.
        """
        nodes = [node.get("Resources", {}) for node in _import_ray().nodes() if node.get("Alive")]
        labels = list(labels) if labels is not None else [f"task {i}" for i in range(len(needs))]
        refused = [
            f"{label} needs {need.describe()}"
            for label, need in zip(labels, needs, strict=True)
            if not any(need.fits(node) for node in nodes)
        ]
        if refused:
            most = _describe(
                *(max((node.get(name, 0) for node in nodes), default=0) for name in ("CPU", "GPU")),
                max((node.get("memory", 0) for node in nodes), default=0),
            )
            raise CellResourcesError(
                f"{len(refused)} of {len(needs)} cells need more than any node of the Ray "
                f"cluster has ({len(nodes)} nodes; the largest have at most {most}); "
                "nothing was submitted:\n  "
                + "\n  ".join(refused)
                + "\nDeclare less for these cells, or add a node that large to the cluster."
            )

    def map_unordered(
        self,
        function: Callable[[Any], Any],
        tasks: Sequence[Any],
        *,
        wants_gpu: bool = False,
        resources: Sequence[CellResources | None] | None = None,
        labels: Sequence[str] | None = None,
    ) -> Iterator[tuple[int, Outcome]]:
        """Submit one task per item; yield ``(index into tasks, Outcome)`` as each finishes.

        Parameters
        ----------
        function : callable
            Picklable (a module-level function); called as ``function(task)`` on a worker.
        tasks : sequence, length n_tasks
        wants_gpu : bool
            Tasks without declared resources ask for GPUs (see :meth:`gpus_per_task`).
        resources : sequence of CellResources or None, length n_tasks, optional
            What each task needs (None: one CPU, GPUs as :meth:`gpus_per_task`).
        labels : sequence of str, length n_tasks, optional
            Names of the tasks in a :class:`CellResourcesError`.

        Raises
        ------
        CellResourcesError
            Before anything is submitted, when a task needs more than any node has.
        """
        ray = _import_ray()
        default = CellResources(num_cpus=1, num_gpus=self.gpus_per_task(wants_gpu))
        given = list(resources) if resources is not None else [None] * len(tasks)
        if len(given) != len(tasks):
            raise ValueError(f"{len(given)} resources for {len(tasks)} tasks; give one per task")
        needs = [default if need is None else need.with_gpus(default.num_gpus) for need in given]
        self.check_resources(needs, labels)
        remote = ray.remote(_guarded)
        pending = {
            remote.options(
                max_retries=self.max_retries, retry_exceptions=False, **need.ray_options()
            ).remote(function, task): i
            for i, (task, need) in enumerate(zip(tasks, needs, strict=True))
        }
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                index = pending.pop(ref)
                try:
                    outcome = ray.get(ref)
                except Exception as error:  # noqa: BLE001 - a worker that died too often
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
    max_retries: int = DEFAULT_MAX_RETRIES,
) -> LocalExecutor | RayExecutor:
    """The executor called ``engine`` (``"local"`` or ``"ray"``; the keywords are the
    :class:`RayExecutor`'s).

    Raises
    ------
    ValueError
        For another engine name.
    """
    if engine == "local":
        return LocalExecutor()
    if engine == "ray":
        return RayExecutor(
            address,
            num_cpus=num_cpus,
            num_gpus_per_task=num_gpus_per_task,
            timeout_s=timeout_s,
            max_retries=max_retries,
        )
    raise ValueError(f"engine={engine!r}; use 'local' or 'ray'")
