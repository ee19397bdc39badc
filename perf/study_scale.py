"""A user's study at scale: extraction, scoring and the ceiling, timed apart, one run.

Problem: 1,000 images x 100 units x 10 repeats (NaN-padded: some (image, unit) entries
miss their last presentations), scored with a ViT-base-sized model with random weights
(``transformers.ViTConfig()``: 768 dims, 12 blocks, 12 heads, 224 px, 16 px patches,
seeded), on a few layers. The images are a folder of 1,000 distinct JPEG files made
from the 78 Algonauts 2019 images in ``tests/data/algonauts2019_78`` (random crops of
288 to 400 px, some mirrored). The responses carry a planted signal: a few principal
components of one layer's features (``--plant-layer``, default the embedding output,
read with a copy of the model cut after that block, or after the first block for layer 0,
so planting costs a fraction of a forward pass) times random weights, plus noise per
repeat.

It times

* building the :class:`~brainalign.benchmarks.study.Study` (folder read, data digest);
* ``study.benchmark().run(model, untrained_twin=False, store=...)`` twice: with an empty
  feature store (extraction + scoring + control + ceiling), then with the filled one
  (a store read instead of the forward passes); the run's own stage times are printed
  as it logs them;
* the store read alone (:func:`brainalign.benchmarks.study.tasks.stimulus_features`
  with the filled store: every image is decoded and hashed for the store key);
* scoring alone, brainalign against a plain scikit-learn pipeline on the same features
  and layers: :func:`~brainalign.alignment.encoding.cross_validated_encoding` (what the
  study calls: z-scoring in each training fold, ``RidgeCV`` with 5 inner folds and each
  unit's penalty) against ``make_pipeline(StandardScaler(), RidgeCV(alphas,
  alpha_per_target=True))`` (efficient leave-one-out penalty per unit) inside
  ``KFold(5, shuffle=True)``, held-out Pearson r per unit averaged over folds;
* the split-half ceiling over ``--splits`` random splits:
  :func:`~brainalign.alignment.ceiling.split_half_ceiling` against the loop over splits
  of ``perf/split_half_ceiling.py`` (checked to agree); goal under 2 s on 2 cores;
* peak resident memory (``resource.getrusage``) after each stage.

Run: ``python perf/study_scale.py [--threads 2] [--layers 0,6,12]`` (about 10 to 15
minutes on 2 cores, nearly all of it the ViT-base forward passes) or ``python
perf/study_scale.py --small`` (120 images and a tiny ViT, about 20 s).
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

GOAL_S = 2.0
ALGONAUTS = Path(__file__).resolve().parents[1] / "tests" / "data" / "algonauts2019_78"
TINY = {
    "hidden_size": 32,
    "num_hidden_layers": 4,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "image_size": 32,
    "patch_size": 8,
}


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(function):
    """Wall time of one call, and the result."""
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def make_images(folder: Path, n_images: int, seed: int = 0) -> Path:
    """``n_images`` distinct JPEGs from the 78 Algonauts images: random crops, some mirrored."""
    from PIL import Image, ImageOps

    sources = sorted(ALGONAUTS.glob("*.jpg"))
    originals = [Image.open(p).convert("RGB") for p in sources]
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n_images):
        image = originals[i % len(originals)]
        if i >= len(originals):  # the first pass keeps the originals as they are
            width, height = image.size
            size = int(rng.integers(288, min(width, height) + 1))
            left = int(rng.integers(0, width - size + 1))
            top = int(rng.integers(0, height - size + 1))
            image = image.crop((left, top, left + size, top + size))
            if rng.random() < 0.5:
                image = ImageOps.mirror(image)
        image.save(folder / f"img{i:05d}.jpg", quality=90)
    return folder


def make_model(directory: Path, small: bool, seed: int = 0) -> tuple[Path, int]:
    """A random-weight ViT (ViT-base, or tiny with ``small``) and its image processor."""
    import torch
    import transformers as tf

    config = tf.ViTConfig(**TINY) if small else tf.ViTConfig()
    torch.manual_seed(seed)
    tf.ViTModel(config).save_pretrained(directory)
    side = config.image_size
    tf.ViTImageProcessorPil(size={"height": side, "width": side}).save_pretrained(directory)
    return directory, config.num_hidden_layers


def cut_model(model_dir: Path, directory: Path, n_blocks: int) -> Path:
    """The same weights, cut after ``n_blocks`` blocks (its last hidden state is layer n_blocks)."""
    import transformers as tf

    verbosity = tf.logging.get_verbosity()
    tf.logging.set_verbosity_error()  # the unused blocks' weights are expected
    try:
        tf.ViTModel.from_pretrained(model_dir, num_hidden_layers=n_blocks).save_pretrained(
            directory
        )
    finally:
        tf.logging.set_verbosity(verbosity)
    tf.ViTImageProcessorPil.from_pretrained(model_dir).save_pretrained(directory)
    return directory


def planted_responses(
    features: np.ndarray, n_units: int, n_repeats: int, seed: int = 0
) -> np.ndarray:
    """(n_images, n_units, n_repeats): 10 principal components of ``features`` + noise.

    About a fifth of the (image, unit) entries lose their last 1 to 3 repeats (NaN).
    """
    rng = np.random.default_rng(seed)
    X = np.asarray(features, dtype=np.float64)
    X = (X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1.0)
    components = np.linalg.svd(X, full_matrices=False)[2][:10].T  # (n_dims, 10)
    signal = X @ components @ rng.normal(size=(components.shape[1], n_units))
    signal /= signal.std(0)
    signal *= rng.uniform(0.3, 1.0, n_units)
    n_images = len(X)
    repeats = signal[:, :, None] + rng.normal(size=(n_images, n_units, n_repeats))
    if n_repeats > 3:
        missing = rng.integers(1, 4, size=(n_images, n_units))
        missing[rng.random((n_images, n_units)) > 0.2] = 0
        repeats[np.arange(n_repeats) >= n_repeats - missing[..., None]] = np.nan
    return repeats


def sklearn_scores(X: np.ndarray, Y: np.ndarray, alphas, seed: int) -> np.ndarray:
    """Held-out Pearson r per unit, mean over KFold(5, shuffle=True) folds."""
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    folds = []
    for train, test in KFold(5, shuffle=True, random_state=seed).split(X):
        model = make_pipeline(StandardScaler(), RidgeCV(alphas=alphas, alpha_per_target=True))
        predicted = model.fit(X[train], Y[train]).predict(X[test])
        a = predicted - predicted.mean(0)
        b = Y[test] - Y[test].mean(0)
        folds.append((a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0)))
    return np.mean(folds, axis=0)


class StageLog(logging.Handler):
    """Prints the run's progress lines (stage seconds) indented, and keeps them."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = record.getMessage()
        self.lines.append(line)
        print(f"      {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-images", type=int, default=None, help="default 1000 (120 --small)")
    parser.add_argument("--n-units", type=int, default=100)
    parser.add_argument("--n-repeats", type=int, default=10)
    parser.add_argument(
        "--layers", default=None, help="hidden states scored, comma-separated (default 0,6,12)"
    )
    parser.add_argument(
        "--plant-layer",
        type=int,
        default=0,
        help="layer whose features drive the units (default 0: planting needs no block)",
    )
    parser.add_argument("--splits", type=int, default=1000, help="split-halves of the ceiling")
    parser.add_argument("--threads", type=int, default=2, help="BLAS and torch threads")
    parser.add_argument("--batch-size", type=int, default=None, help="images per forward pass")
    parser.add_argument(
        "--small", action="store_true", help="120 images and a tiny ViT (4 blocks, 32 px)"
    )
    parser.add_argument("--keep", default=None, help="folder for the images, model and store")
    args = parser.parse_args()
    n_images = args.n_images or (120 if args.small else 1000)
    layers = [int(v) for v in (args.layers or ("0,2,4" if args.small else "0,6,12")).split(",")]

    import torch
    import transformers
    from threadpoolctl import threadpool_limits

    transformers.utils.logging.disable_progress_bar()  # weight loading and saving bars
    torch.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads), tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep or tmp)
        root.mkdir(parents=True, exist_ok=True)
        _run(args, root, n_images, layers)


def _run(args, root: Path, n_images: int, layers: list[int]) -> None:
    from brainalign.alignment.ceiling import split_half_ceiling
    from brainalign.alignment.encoding import cross_validated_encoding
    from brainalign.alignment.ridge import DEFAULT_ALPHAS
    from brainalign.benchmarks.settings import RunSettings
    from brainalign.benchmarks.study import Study
    from brainalign.benchmarks.study.tasks import stimulus_features
    from brainalign.encoders.vision import VisionEncoder

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from split_half_ceiling import loop_over_splits

    seed = 0
    print(
        f"{n_images} images x {args.n_units} units x {args.n_repeats} repeats; "
        f"{'tiny ViT (4 blocks, 32 px)' if args.small else 'ViT-base (12 blocks, 224 px)'}, "
        f"random weights; layers {layers}; {args.threads} threads, {os.cpu_count()} CPUs"
    )
    print("load average before: " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))

    # ------------------------------------------------------------------ inputs
    setup_s, (folder, (model_dir, n_blocks)) = timed(
        lambda: (
            make_images(root / "images", n_images),
            make_model(root / "model", args.small),
        )
    )
    if not 0 <= args.plant_layer <= n_blocks or any(not 0 <= v <= n_blocks for v in layers):
        raise SystemExit(f"layers must lie in 0..{n_blocks}")
    n_cut = max(1, args.plant_layer)  # a ViT cut to 0 blocks returns no hidden states
    cut = cut_model(model_dir, root / f"model-cut{n_cut}", n_cut)
    plant_s, planted = timed(
        lambda: VisionEncoder(str(cut), pooling="mean").encode_images(
            str(folder), layers=[args.plant_layer]
        )[str(args.plant_layer)]
    )
    repeats = planted_responses(planted, args.n_units, args.n_repeats, seed)
    print(
        f"setup: images + model {setup_s:.1f} s; planting features (layer {args.plant_layer}, "
        f"model cut after block {n_cut}) {plant_s:.1f} s; "
        f"{np.isnan(repeats).mean():.1%} of repeats NaN"
    )

    # ------------------------------------------------------------------ the study
    build_s, study = timed(
        lambda: Study(
            "study-scale",
            stimuli=str(folder),
            responses=repeats,
            sampling="event",
            options={"ceiling_splits": args.splits},
        )
    )
    print(f"Study(...) built in {build_s:.2f} s   peak RSS {peak_rss_mib():,.0f} MiB")
    benchmark = study.benchmark()
    store = root / "store"
    run_options = {
        "untrained_twin": False,
        "layers": layers,
        "store": str(store),
        "batch_size": args.batch_size,
    }
    stages = logging.getLogger("brainalign.progress")
    stages.setLevel(logging.INFO)
    handler = StageLog()
    stages.addHandler(handler)
    try:
        print("run 1, empty store (extraction + scoring + control + ceiling):")
        cold_s, rows = timed(lambda: benchmark.run(str(model_dir), **run_options))
        print(f"    total {cold_s:.1f} s   peak RSS {peak_rss_mib():,.0f} MiB")
        print("run 2, filled store (store read + scoring + control + ceiling):")
        warm_s, rows_again = timed(lambda: benchmark.run(str(model_dir), **run_options))
        print(f"    total {warm_s:.1f} s   peak RSS {peak_rss_mib():,.0f} MiB")
    finally:
        stages.removeHandler(handler)
    assert rows["score"].equals(rows_again["score"]), "the store read changed the scores"

    settings = RunSettings(str(model_dir), **run_options)
    read_s, features = timed(lambda: stimulus_features(study, benchmark, settings, "pretrained"))
    extraction_s = cold_s - (warm_s - read_s)
    print(
        f"store read alone (stimulus_features): {read_s:.2f} s; so extraction in run 1 "
        f"~ {extraction_s:.1f} s ({n_images / extraction_s:.1f} images/s), everything "
        f"else {warm_s - read_s:.1f} s"
    )
    model = rows[rows["control"] == ""]
    by_layer = model.groupby("layer")["score"].median()
    control = rows[rows["control"] != ""]["score"].median()
    print(
        "median held-out r by layer: "
        + ", ".join(f"{layer}: {r:.3f}" for layer, r in by_layer.items())
        + f"; random control {control:.3f}; median ceiling {model['ceiling'].median():.3f}"
    )

    # ------------------------------------------------------------------ scoring alone
    Y = np.nanmean(repeats, axis=2)
    alphas = np.asarray(DEFAULT_ALPHAS)
    ours_s = theirs_s = 0.0
    print(f"{'scoring, layer':<18}{'brainalign s':>14}{'sklearn s':>11}{'ratio':>8}   median r")
    for layer in layers:
        X = np.asarray(features[str(layer)], dtype=np.float64)
        t_ours, ours = timed(
            lambda X=X: cross_validated_encoding(X, Y, sampling="event", seed=seed).scores
        )
        t_theirs, theirs = timed(lambda X=X: sklearn_scores(X, Y, alphas, seed))
        ours_s, theirs_s = ours_s + t_ours, theirs_s + t_theirs
        print(
            f"{layer:<18}{t_ours:>14.2f}{t_theirs:>11.2f}{t_theirs / t_ours:>7.1f}x   "
            f"{np.median(ours):.3f} vs {np.median(theirs):.3f}"
        )
    print(f"{'all layers':<18}{ours_s:>14.2f}{theirs_s:>11.2f}{theirs_s / ours_s:>7.1f}x")

    # ------------------------------------------------------------------ ceiling
    ceiling_s, ceiling = timed(lambda: split_half_ceiling(repeats, n_splits=args.splits, seed=0))
    loop_s, expected = timed(lambda: loop_over_splits(repeats, args.splits, 0))
    difference = np.nanmax(np.abs(ceiling - expected))
    assert np.array_equal(np.isnan(ceiling), np.isnan(expected)) and difference < 1e-10
    met = "met" if ceiling_s < GOAL_S else "NOT met"
    print(
        f"split-half ceiling, {args.splits} splits: brainalign {ceiling_s:.3f} s, loop over "
        f"splits {loop_s:.2f} s -> {loop_s / ceiling_s:.1f}x (agree to {difference:.1e}); "
        f"goal < {GOAL_S} s on 2 cores: {met}"
    )
    print(f"peak RSS {peak_rss_mib():,.0f} MiB")
    print("load average after: " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))


if __name__ == "__main__":
    warnings.filterwarnings("ignore", message=".*TypedStorage.*")
    main()
