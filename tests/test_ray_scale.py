"""Ray at scale: declared resources, features shared through the object store, a worker
lost mid-cell, and addresses that are not a Ray cluster.

One local Ray (2 CPUs, loopback only) is started by this module and shared by its tests.
The cells are real: the tiny random-weight BERT of tests/conftest.py scored on simlex999,
wordsim353 and a copy of simlex999 under another id (``simlex999-copy``: the same words,
so the same feature-store entry as simlex999), on the published word-pair files in an
offline cache. The reference table is the local engine's sweep of the same cells.

One Ray sweep of these cells (:func:`ray_run`) serves two tests: its store holds the
entry of simlex999 (read by two cells) but not wordsim353's, and the wordsim353 cell's
worker kills itself on its first attempt, in the middle of writing that entry.

Reads of a store entry are counted by the kernel (Linux inotify: every open of the
entry's ``stimulus_ids.npy``, by any process), not by the code under test.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import json
import os
import re
import shutil
import signal
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pytest

from brainalign.parallel import (
    CellResources,
    CellResourcesError,
    RayConnectionError,
    RayExecutor,
    probe_address,
)

ROOT = Path(__file__).resolve().parents[1]
COPY = "simlex999-copy"
BENCHMARKS = ("simlex999", COPY, "wordsim353")
SORT_BY = ["benchmark", "model", "weights", "control", "layer", "subject", "unit"]


# ----------------------------------------------------------------------- helpers


class FileOpens:
    """Count opens of the files in some directories, by any process (Linux inotify).

    Parameters
    ----------
    directories : iterable of path
        Watched directories (not recursive).
    """

    IN_OPEN = 0x20

    def __init__(self, directories: Iterable[Path]) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self._fd = libc.inotify_init1(os.O_NONBLOCK) if hasattr(libc, "inotify_init1") else -1
        if self._fd < 0:
            raise OSError("inotify is not available here")
        self._dirs = {}
        for directory in directories:
            wd = libc.inotify_add_watch(self._fd, os.fsencode(directory), self.IN_OPEN)
            if wd < 0:
                raise OSError(ctypes.get_errno(), f"cannot watch {directory}")
            self._dirs[wd] = Path(directory)
        self.counts: Counter[Path] = Counter()

    def read(self) -> Counter[Path]:
        """Opens so far, per file path."""
        while True:
            try:
                data = os.read(self._fd, 1 << 16)
            except BlockingIOError:
                return self.counts
            offset = 0
            while offset < len(data):
                wd, _mask, _cookie, length = struct.unpack_from("iIII", data, offset)
                name = data[offset + 16 : offset + 16 + length].rstrip(b"\0").decode()
                self.counts[self._dirs[wd] / name] += 1
                offset += 16 + length

    def close(self) -> None:
        os.close(self._fd)


def entry_reads(store: Path, run) -> dict[str, int]:
    """Times each complete entry of ``store`` was read (its ids file opened) during
    ``run()``, by entry name."""
    entries = sorted(p for p in store.iterdir() if p.is_dir() and not p.name.startswith("."))
    try:
        opens = FileOpens(entries)
    except OSError as error:
        pytest.skip(f"no inotify to count file reads: {error}")
    try:
        run()
        time.sleep(0.2)  # the kernel's queue is read after the last close
        counts = opens.read()
    finally:
        opens.close()
    return {entry.name: counts[entry / "stimulus_ids.npy"] for entry in entries}


def sorted_table(table: pd.DataFrame) -> pd.DataFrame:
    return table.sort_values(SORT_BY, kind="stable").reset_index(drop=True)


def done_markers(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((out / "cells").glob("*.done.json"))]


def _dies_on_first_attempt(original: str, attempts: str, driver: int, benchmark, settings):
    """A runner that, on its first attempt in a worker only, kills that worker mid-way
    through writing the first feature-store entry (SIGKILL at the first row write), else
    runs ``original``. In the driver (``driver``'s pid: the sweep's cost plan prepares
    each cell there) it only runs ``original``."""
    if os.getpid() == driver:
        return dataclasses.replace(benchmark, runner=original).resolve_runner()(benchmark, settings)
    first = not Path(attempts).exists()
    with open(attempts, "a", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()}\n")
    if first:
        from brainalign.encoders.store import files

        def die(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)

        files._RowFile.write_rows = die  # only in this worker, which dies
    real = dataclasses.replace(benchmark, runner=original)
    return real.resolve_runner()(benchmark, settings)


def _assigned_resources(_: int) -> dict[str, float]:
    import ray

    return ray.get_runtime_context().get_assigned_resources()


def _count_and_raise(path: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("attempt\n")
    raise ValueError("a bad option")


def _count_and_die(path: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("attempt\n")
    os.kill(os.getpid(), signal.SIGKILL)


def _touch(path: str) -> None:
    Path(path).touch()


def _load_then_die(entry: tuple[str, str]) -> None:
    """Load an entry (store root, name): the sweep's first load of it, into the object
    store; then die."""
    from brainalign.encoders.store import FeatureStore

    FeatureStore(entry[0]).load(entry[1])
    os.kill(os.getpid(), signal.SIGKILL)


def _load(entry: tuple[str, str]) -> tuple[str, bool, float]:
    """(array type, writable, sum) of an entry's layer "0", loaded on a worker."""
    from brainalign.encoders.store import FeatureStore

    layer = FeatureStore(entry[0]).load(entry[1])["0"]
    return type(layer).__name__, bool(layer.flags.writeable), float(layer.sum(dtype="float64"))


def _warm_up() -> None:
    """Import what a word-similarity cell imports (a worker's first cell is faster)."""
    import brainalign.benchmarks.word_similarity  # noqa: F401
    import brainalign.encoders.text  # noqa: F401
    import brainalign.runs  # noqa: F401


# ----------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """A local Ray with 2 CPUs on 127.0.0.1, its workers in an offline data cache."""
    ray = pytest.importorskip("ray")
    from ray._private import ray_constants

    from tests.test_scoring import place_word_pairs

    if ray.is_initialized():
        ray.shutdown()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BRAINALIGN_DATA", str(tmp_path_factory.mktemp("ray-cache")))
        patch.setenv("BRAINALIGN_OFFLINE", "1")
        path = os.environ.get("PYTHONPATH")
        patch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(ROOT), path) if p))
        for name in ("NO_PROXY", "no_proxy"):
            patch.setenv(name, "127.0.0.1,localhost")
        patch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # loopback, not the LAN
        patch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", False)
        place_word_pairs()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        warm = [ray.remote(_warm_up).remote() for _ in range(2)]  # meanwhile: local run
        try:
            yield ray
            del warm
        finally:
            ray.shutdown()


@pytest.fixture(scope="module")
def benchmarks(ray_cluster):
    from brainalign.benchmarks.registry import get

    simlex = get("simlex999")
    return {"simlex999": simlex, COPY: dataclasses.replace(simlex, id=COPY),
            "wordsim353": get("wordsim353")}  # fmt: skip


def sweep_config(model: str, out: Path, store: Path, engine: str, **ray):
    from brainalign.sweeps import RayOptions, SweepConfig

    return SweepConfig(models=(model,), benchmarks=BENCHMARKS, layers=(0, 2),
                       untrained_twin=False, device="cpu", batch_size=64, out=out, store=store,
                       engine=engine, ray=RayOptions(**ray))  # fmt: skip


def run_sweep(config, benchmarks, **kwargs) -> pd.DataFrame:
    """brainalign.sweep over ``benchmarks`` (name -> Benchmark), copies included."""
    import brainalign.scoring
    from brainalign.sweeps import sweep

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            brainalign.scoring, "resolve_benchmarks", lambda names: [benchmarks[n] for n in names]
        )
        return sweep(config, **kwargs)


@pytest.fixture(scope="module")
def local_run(benchmarks, tiny_bert_dir, tmp_path_factory):
    """The local engine's sweep (the reference table), then the same sweep again over its
    filled store, each entry's reads counted: (table, store, table again, reads)."""
    work = tmp_path_factory.mktemp("local")
    model, store = str(tiny_bert_dir), work / "store"
    reference = run_sweep(sweep_config(model, work / "out", store, "local"), benchmarks)
    again = []
    reads = entry_reads(
        store,
        lambda: again.append(
            run_sweep(sweep_config(model, work / "again", store, "local"), benchmarks)
        ),
    )
    return reference, store, again[0], reads


@pytest.fixture(scope="module")
def ray_run(benchmarks, local_run, tiny_bert_dir, tmp_path_factory):
    """The Ray sweep: simlex999's entry in its store (from the local run), wordsim353's
    computed by a cell whose worker dies mid-write on its first attempt.

    Returns (table, out, store, reads of simlex999's entry, attempts file, log lines).
    """
    _, filled, _, local_reads = local_run
    (shared,) = [name for name, count in local_reads.items() if count == 2]
    work = tmp_path_factory.mktemp("ray")
    store, out, attempts = work / "store", work / "out", work / "attempts.txt"
    shutil.copytree(filled / shared, store / shared)
    wordsim = benchmarks["wordsim353"]
    killer = functools.partial(_dies_on_first_attempt, wordsim.runner, str(attempts), os.getpid())
    flaky = {**benchmarks, "wordsim353": dataclasses.replace(wordsim, runner=killer)}
    logged, tables = [], []
    config = sweep_config(str(tiny_bert_dir), out, store, "ray")
    reads = entry_reads(store, lambda: tables.append(run_sweep(config, flaky, log=logged.append)))
    assert list(reads) == [shared]
    return tables[0], out, store, reads[shared], attempts, logged


# ----------------------------------------------------------------------- not a Ray cluster


class _Server:
    """A loopback TCP server that accepts and either stays silent or answers ``reply``."""

    def __init__(self, reply: bytes | None) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.reply = reply
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(connection)
            if self.reply is not None:
                connection.recv(1024)
                connection.sendall(self.reply)
                connection.close()

    def close(self) -> None:
        for connection in self.held:
            connection.close()
        self.sock.close()


@pytest.mark.parametrize(
    "reply, problem",
    [(None, "no HTTP/2 frame in time"),
     (b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", "answered b'HTTP/1.1 400")],
)  # fmt: skip
def test_a_port_that_is_not_a_ray_cluster_fails_within_the_timeout(reply, problem):
    server = _Server(reply)
    try:
        start = time.monotonic()
        with pytest.raises(RayConnectionError, match="is not a Ray cluster") as error:
            probe_address(f"127.0.0.1:{server.port}", timeout_s=1.0)
        elapsed = time.monotonic() - start
    finally:
        server.close()
    assert elapsed < 1.0 + 2.0  # the configured bound, not Ray's own minute
    assert problem in str(error.value) and "waited up to 1 s" in str(error.value)


def test_a_sweep_to_a_silent_port_fails_within_its_timeout(tiny_bert_dir, tmp_path):
    from brainalign.sweeps import sweep

    server = _Server(None)
    config = {"models": [str(tiny_bert_dir)], "benchmarks": ["simlex999"], "layers": [1],
              "device": "cpu", "engine": "ray",
              "ray": {"address": f"127.0.0.1:{server.port}", "timeout_s": 1}}  # fmt: skip
    try:
        start = time.monotonic()
        with pytest.raises(RayConnectionError, match="is not a Ray cluster"):
            sweep(config, out=tmp_path / "out")
        elapsed = time.monotonic() - start
    finally:
        server.close()
    assert elapsed < 1.0 + 2.0
    assert not list((tmp_path / "out" / "cells").glob("*.done.json"))


def test_a_real_ray_gcs_passes_the_probe(ray_cluster):
    address = ray_cluster.get_runtime_context().gcs_address
    assert address.startswith("127.0.0.1:")  # the test's cluster is on loopback only
    probe_address(address, timeout_s=5.0)  # raises when it is not answered in gRPC


# ----------------------------------------------------------------------- config


def test_ray_max_retries_is_read_and_checked(tmp_path):
    from brainalign.sweeps import SweepConfigError, load_config

    path = tmp_path / "sweep.yaml"
    head = "models: [a]\nbenchmarks: [simlex999]\nengine: ray\n"
    path.write_text(head)
    assert load_config(path).ray.max_retries == 1
    path.write_text(head + "ray:\n  max_retries: 3\n")
    assert load_config(path).ray.max_retries == 3
    for bad in ("-1", "1.5", "true"):
        path.write_text(head + f"ray:\n  max_retries: {bad}\n")
        with pytest.raises(SweepConfigError) as error:
            load_config(path)
        message = str(error.value)
        assert "line 5" in message and "'ray.max_retries'" in message and "integer >= 0" in message


# ----------------------------------------------------------------------- resources


def test_cell_resources_are_checked():
    assert CellResources().ray_options() == {"num_cpus": 1, "num_gpus": 0}
    assert CellResources(0.5, 1, 2 << 30).ray_options() == {
        "num_cpus": 0.5,
        "num_gpus": 1,
        "memory": 2 << 30,
    }
    for bad in ({"num_cpus": -1}, {"num_gpus": float("nan")}, {"num_cpus": True},
                {"memory_bytes": 0}, {"memory_bytes": 1.5}):  # fmt: skip
        with pytest.raises(ValueError, match=next(iter(bad))):
            CellResources(**bad)


def test_each_task_runs_with_what_it_declares(ray_cluster):
    needs = [CellResources(num_cpus=2), CellResources(0.5, 0, 64 << 20), None]
    with RayExecutor(num_gpus_per_task=0) as executor:
        outcomes = dict(executor.map_unordered(_assigned_resources, [0, 1, 2], resources=needs))
    assert outcomes[0].value == {"CPU": 2.0}
    assert outcomes[1].value == {"CPU": 0.5, "memory": float(64 << 20)}
    assert outcomes[2].value == {"CPU": 1.0}  # undeclared: today's default, one CPU


def test_cells_no_node_can_run_are_refused_before_anything_runs(ray_cluster, tmp_path):
    ran = tmp_path / "ran"
    needs = [CellResources(), CellResources(num_gpus=1), CellResources(num_cpus=64)]
    labels = ["small", "gpu cell", "wide cell"]
    with RayExecutor() as executor:
        with pytest.raises(CellResourcesError) as error:
            list(executor.map_unordered(_touch, [str(ran)] * 3, resources=needs, labels=labels))
    message = str(error.value)
    assert "2 of 3 cells" in message and "small" not in message
    assert "gpu cell needs 1 CPU, 1 GPU" in message and "wide cell needs 64 CPUs, 0 GPUs" in message
    assert "at most 2 CPUs, 0 GPUs" in message and "nothing was submitted" in message
    time.sleep(0.5)
    assert not ran.exists()  # not even the cell that fits was submitted


def test_a_sweep_refuses_what_resources_of_declares_too_big(benchmarks, tiny_bert_dir, tmp_path):
    config = sweep_config(str(tiny_bert_dir), tmp_path / "out", tmp_path / "store", "ray")
    asked = []

    def resources_of(task):
        asked.append(task.label)
        return CellResources(memory_bytes=1 << 60)

    with pytest.raises(CellResourcesError, match="3 of 3 cells need more") as error:
        run_sweep(config, benchmarks, resources_of=resources_of)
    assert len(asked) == 3
    assert f"{tiny_bert_dir} on wordsim353@1 needs 1 CPU, 0 GPUs, 1.07e+09 GiB memory" in str(
        error.value
    )
    assert not done_markers(tmp_path / "out")


# ----------------------------------------------------------------------- shared features


def test_cells_sharing_an_entry_read_it_once_on_ray(local_run, ray_run):
    reference, _, local_again, local_reads = local_run
    table, out, _, ray_reads, _, _ = ray_run
    # Two entries: simlex999's words (shared with the copy) and wordsim353's. Locally
    # each cell reads its entry; on Ray the shared one is read once for both cells.
    assert sorted(local_reads.values()) == [1, 2]
    assert ray_reads == 1
    pd.testing.assert_frame_equal(sorted_table(local_again), sorted_table(reference))
    pd.testing.assert_frame_equal(sorted_table(table), sorted_table(reference))
    passes = {m["benchmark"]: m["forward_passes"] for m in done_markers(out)}
    assert passes["simlex999@1"] == passes[f"{COPY}@1"] == 0 < passes["wordsim353@1"]
    record = json.loads((out / "run.json").read_text())
    # Loads: simlex999's entry by two cells, wordsim353's (once written) by its cell.
    assert record["invocations"][-1]["shared_feature_entries"] == {
        "entries": 2,
        "reads": 2,
        "requests": 3,
    }


def test_a_shared_entry_outlives_the_worker_that_asked_first(ray_cluster, tmp_path):
    import numpy as np

    from brainalign.encoders.features import Features
    from brainalign.encoders.store import FeatureStore, feature_key, stimulus_hash

    ids = ["a", "b", "c", "d", "e"]
    key = feature_key(model="org/tiny", weights={"kind": "untrained", "seed": 0},
                      tokenizer=None, layers=["0"], pooling="mean", context={"mode": "isolated"},
                      dtype="float32", stimuli=stimulus_hash(ids))  # fmt: skip
    layer = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    store = FeatureStore(tmp_path / "store")
    name = store.put(key, Features(layers={"0": layer}, stimulus_ids=np.array(ids))).name
    entry = (str(store.root), name)
    with RayExecutor(max_retries=0) as executor:
        [(_, killed)] = executor.map_unordered(_load_then_die, [entry])
        [(_, loaded)] = executor.map_unordered(_load, [entry])
    # Its worker died after the entry went into the object store.
    assert killed.kind == "WorkerCrashedError", killed.error
    # The second load came from the object store (a plain read-only array, not a memory
    # map of the file), with the same numbers, though the worker that asked first is gone.
    assert loaded.ok, loaded.details
    kind, writable, total = loaded.value
    assert (kind, writable) == ("ndarray", False)
    assert total == float(layer.sum(dtype="float64"))
    assert executor.shared_stats == {"entries": 1, "reads": 1, "requests": 2}


# ----------------------------------------------------------------------- lost workers


def test_a_cell_whose_worker_dies_is_retried_and_saved_once(local_run, ray_run):
    from brainalign.encoders.store import FeatureStore

    reference = local_run[0]
    results, out, store, _, attempts, logged = ray_run
    pids = attempts.read_text().split()
    assert len(pids) == 2 and pids[0] != pids[1]  # killed once, run again elsewhere
    pd.testing.assert_frame_equal(sorted_table(results), sorted_table(reference))
    markers = done_markers(out)
    assert sorted(m["benchmark"] for m in markers) == sorted(f"{b}@1" for b in BENCHMARKS)
    assert sum(m["n_rows"] for m in markers) == len(results) == len(reference)
    assert sum(line.startswith("done ") for line in logged) == 3
    assert not [line for line in logged if line.startswith("FAILED")]
    record = json.loads((out / "run.json").read_text())
    assert record["invocations"][-1]["cells_computed"] == 3
    # The killed writer's half-written entry (a temporary directory named by its pid) was
    # removed by the retry's writer; every entry is complete and matches its manifest.
    leftovers = [p.name for p in store.iterdir() if re.search(r"\.tmp-\d+-", p.name)]
    assert not leftovers
    entries = FeatureStore(store).entries()
    assert len(entries) == 2 and entries["complete"].all()
    assert all(FeatureStore(store).verify(name) for name in entries["name"])


def test_python_errors_are_not_retried_lost_workers_are(ray_cluster, tmp_path):
    raised, died = tmp_path / "raised", tmp_path / "died"
    with RayExecutor(max_retries=1) as executor:
        outcomes = dict(executor.map_unordered(_count_and_raise, [str(raised)]))
        outcomes.update({i + 1: o for i, o in executor.map_unordered(_count_and_die, [str(died)])})
    assert outcomes[0].error == "ValueError: a bad option" and "Traceback" in outcomes[0].details
    assert raised.read_text().count("attempt") == 1
    assert not outcomes[1].ok and died.read_text().count("attempt") == 2  # 1 + 1 retry
