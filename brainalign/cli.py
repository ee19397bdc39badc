"""Command line: ``brainalign score``, ``brainalign extract`` and ``brainalign datasets``.

Heavy libraries (torch, transformers, nilearn) are imported inside the commands, so
``brainalign --help`` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from brainalign.planning.cost import CellPlan
    from brainalign.sweeps import SweepConfig


class CommandError(Exception):
    """An error to report to the user in one line, without a traceback."""


def _integer(option: str, value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer; got {value!r}") from None


def positive_int(option: str) -> Callable[[str], int]:
    """An argparse ``type=`` for ``option``: an integer >= 1 (``--batch-size``,
    ``--context-words``), the same check for every command that takes it."""

    def parse(value: str) -> int:
        number = _integer(option, value)
        if number < 1:
            raise argparse.ArgumentTypeError(
                f"must be a positive integer (1 or more); got {value!r}"
            )
        return number

    parse.__name__ = option.lstrip("-").replace("-", "_")  # argparse names it in errors
    return parse


def non_negative_int(option: str) -> Callable[[str], int]:
    """An argparse ``type=`` for ``option``: an integer >= 0 (``--seed``)."""

    def parse(value: str) -> int:
        number = _integer(option, value)
        if number < 0:
            raise argparse.ArgumentTypeError(
                f"must be a non-negative integer (0 or more); got {value!r}"
            )
        return number

    parse.__name__ = option.lstrip("-").replace("-", "_")
    return parse


def positive_float(option: str) -> Callable[[str], float]:
    """An argparse ``type=`` for ``option``: a finite number > 0 (``--tr``, seconds)."""

    def parse(value: str) -> float:
        try:
            number = float(value.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number; got {value!r}") from None
        if not (number > 0 and number != float("inf")):
            raise argparse.ArgumentTypeError(f"must be a positive number; got {value!r}")
        return number

    parse.__name__ = option.lstrip("-").replace("-", "_")
    return parse


_DEVICE = re.compile(r"cpu|cuda(:\d+)?|mps|auto")


def parse_device(value: str) -> str:
    """``--device``: cpu, cuda, cuda:N, mps or auto (whether it exists is checked later)."""
    if not _DEVICE.fullmatch(value.strip()):
        raise argparse.ArgumentTypeError(f"must be cpu, cuda, cuda:N, mps or auto; got {value!r}")
    return value.strip()


def parse_layers(value: str) -> list[int] | None:
    """Parse ``--layers``: ``all`` (None) or comma-separated non-negative integers."""
    if value.strip().lower() == "all":
        return None
    try:
        layers = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--layers must be 'all' or comma-separated layer indices like 0,3,6; got {value!r}"
        ) from None
    if not layers or any(layer < 0 for layer in layers):
        raise argparse.ArgumentTypeError(
            f"--layers must list non-negative layer indices (0 = embeddings); got {value!r}"
        )
    return sorted(set(layers))


def _add_model_options(
    parser: argparse.ArgumentParser, *, layers_help: str, model_required: bool = True
) -> None:
    """Options every command that runs a model takes."""
    parser.add_argument(
        "--model",
        required=model_required,
        default=None,
        help="Hugging Face hub id or local model directory",
    )
    parser.add_argument(
        "--layers",
        type=parse_layers,
        default=None,
        metavar="all|0,3,6",
        help=f"{layers_help} (0 = embeddings; default all)",
    )
    parser.add_argument(
        "--device",
        type=parse_device,
        default="cpu",
        help="torch device of the model (cpu, cuda, cuda:1, mps); when scoring, a CUDA "
        "device also runs the ridge encoding fits, in float64 (the same numbers)",
    )
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    parser.add_argument(
        "--context-words",
        type=positive_int("--context-words"),
        default=None,
        help="bidirectional text models: words in each word's window",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="brainalign",
        description="Measure how closely neural networks align with brains and behaviour.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    _add_score_parser(commands)
    _add_extract_parser(commands)
    _add_store_parser(commands)

    _add_datasets_parser(commands)
    _add_sweep_parsers(commands)
    _add_report_parser(commands)
    _add_build_parser(commands)

    benchmarks = commands.add_parser(
        "benchmarks",
        help="list and describe the registered benchmarks",
        description="Named, versioned benchmarks: dataset, how stimuli reach the model, "
        "metric, cross-validation, ceiling, aggregation and controls.",
    )
    benchmark_actions = benchmarks.add_subparsers(dest="benchmarks_action", metavar="ACTION")
    benchmark_actions.add_parser("list", help="table of the benchmarks")
    benchmark_info = benchmark_actions.add_parser("info", help="everything about one benchmark")
    benchmark_info.add_argument("name", help="benchmark name (see: brainalign benchmarks list)")
    return parser


def _add_datasets_parser(commands: argparse._SubParsersAction) -> None:
    datasets = commands.add_parser(
        "datasets",
        help="list, describe and download the datasets brainalign can load",
        description="The dataset catalogue. Downloads go to $BRAINALIGN_DATA (default "
        "~/.cache/brainalign) and are checked against the published checksums; with "
        "BRAINALIGN_OFFLINE=1 nothing is downloaded.",
    )
    actions = datasets.add_subparsers(dest="datasets_action", metavar="ACTION")
    actions.add_parser("list", help="table of the datasets: name, modality, access, size")
    info = actions.add_parser("info", help="everything known about one dataset")
    info.add_argument("name", help="dataset name (see: brainalign datasets list)")
    fetch = actions.add_parser("fetch", help="download a dataset's files into the cache")
    fetch.add_argument("name", help="dataset name (see: brainalign datasets list)")
    fetch.add_argument(
        "--files", nargs="+", default=None, metavar="KEY", help="only these files (default: all)"
    )
    fetch.add_argument(
        "--cache-dir", type=Path, default=None, help="cache root (default: $BRAINALIGN_DATA)"
    )
    fetch.add_argument("--quiet", action="store_true", help="no progress bars")


def _add_instruction_options(parser: argparse.ArgumentParser, what: str) -> None:
    """``--instruction TEXT`` (described by ``what``) and ``--instruction-format``."""
    parser.add_argument("--instruction", default=None, metavar="TEXT", help=what)
    parser.add_argument(
        "--instruction-format",
        choices=("plain", "chat"),
        default="plain",
        help="with --instruction: a plain prefix (default) or the model's chat template",
    )


def _add_extract_parser(commands: argparse._SubParsersAction) -> None:
    extract = commands.add_parser(
        "extract",
        help="compute a model's features for a stimulus set into the feature store",
        description="Per-layer (and per-head) features of words, sentences, images, audio or "
        "video, kept in a feature store keyed by their full provenance: a second run with "
        "the same settings reuses the entry and runs no model. The model's config and the "
        "stimuli choose the encoder (text, vision, audio, video).",
        epilog="STIMULI: a .csv/.tsv with a 'text' column (or the one --text-column names: "
        "words of a continuous text in reading order, or sentences; optional stimulus_id, "
        "group, onset, space_before) or an 'image' column (paths relative to the table's "
        "folder; optional stimulus_id), a folder of images, or a .zip of images (read from "
        "the archive, never extracted), an audio file (.wav, .flac, .mp3, ...; one row per "
        "model frame, stamped with its time) or a folder of them, or a video file (.mp4, "
        ".mov, ...: one clip centred on every --tr seconds for a video model, the sound "
        "track for an audio model); tables may list files in an 'audio' or 'video' column. "
        "CONTEXT: window = each word after the words before "
        "it (one text per group); passage = each sentence after the earlier sentences of its "
        "group (needs a 'group' column); isolated = each item alone. Default: window when "
        "every row is one word; for sentences, passage when the table has a 'group' column, "
        "else isolated. The entry name printed opens the features in Python: "
        "FeatureStore(OUT).load(NAME); brainalign store list OUT lists every entry.",
    )
    _add_model_options(extract, layers_help="hidden-state indices")
    extract.add_argument(
        "--dataset", default=None, help="a dataset's words (see: brainalign datasets)"
    )
    extract.add_argument(
        "--stimuli",
        type=Path,
        default=None,
        metavar="FILE|DIR|ZIP",
        help="stimulus table, folder of images, audio or video files, .zip of images, or "
        "one audio or video file",
    )
    extract.add_argument(
        "--text-column",
        default=None,
        metavar="NAME",
        help="text tables: the column holding the texts (default: text)",
    )
    extract.add_argument(
        "--context",
        choices=("window", "passage", "isolated"),
        default=None,
        help="text: how items are read (default: window for one word per row; sentences: "
        "passage with a 'group' column, else isolated)",
    )
    extract.add_argument(
        "--heads",
        action="store_true",
        help="also each head's output per layer (L.heads): text, vision, audio and video "
        "transformers with a registered attention layout",
    )
    extract.add_argument(
        "--contributions",
        action="store_true",
        help="text: also each head's write to the residual stream (L.contributions)",
    )
    extract.add_argument(
        "--attention-summaries",
        action="store_true",
        help="text: also per-head attention entropy, distance, first- and previous-token "
        "attention (L.attention_*)",
    )
    extract.add_argument(
        "--blocks",
        action="store_true",
        help="also attention and MLP block outputs per layer (L.attention, L.mlp), as --heads",
    )
    extract.add_argument(
        "--pooling",
        default=None,
        help="words: last (default), mean or first token; images: cls (default), mean or "
        "spatial (2 x 2 grid); video: cls or mean (default: the model's); not for audio",
    )
    extract.add_argument(
        "--batch-size",
        type=positive_int("--batch-size"),
        default=None,
        help="windows or images per forward pass",
    )
    _add_instruction_options(
        extract,
        "text: a task instruction read before every window or passage (part of the entry's "
        "key; its tokens are never pooled into the features); images with a multimodal "
        "language model: the instruction read with each image",
    )
    extract.add_argument(
        "--span",
        choices=("visual", "instruction", "all"),
        default=None,
        help="images read by a multimodal language model: the tokens each row averages "
        "(default: visual)",
    )
    extract.add_argument(
        "--tr",
        type=positive_float("--tr"),
        default=None,
        metavar="SECONDS",
        help="video: one clip centred on every volume onset 0, TR, 2 TR, ... of the video",
    )
    extract.add_argument(
        "--frame-rate",
        type=positive_float("--frame-rate"),
        default=None,
        metavar="FPS",
        help="video: frames per second within a clip (default: the video's own)",
    )
    extract.add_argument(
        "--untrained", action="store_true", help="random weights of the same architecture"
    )
    extract.add_argument(
        "--seed", type=non_negative_int("--seed"), default=0, help="seed of the random weights"
    )
    extract.add_argument(
        "--out", type=Path, default=Path("features"), help="feature store directory"
    )


def _add_store_parser(commands: argparse._SubParsersAction) -> None:
    store = commands.add_parser(
        "store",
        help="list the entries of a feature store",
        description="The entries of a feature store (the --out folder of brainalign extract): "
        "name, model, weights, layers, items, size and creation time. A NAME opens the "
        "entry in Python: FeatureStore(DIR).load(NAME).",
    )
    actions = store.add_subparsers(dest="store_action", metavar="ACTION")
    listing = actions.add_parser("list", help="table of the entries, one row each")
    listing.add_argument("root", type=Path, metavar="DIR", help="feature store directory")


def run_store(args: argparse.Namespace) -> int:
    """Run ``brainalign store list DIR``; returns the exit code."""
    from brainalign.encoders.store import FeatureStore, FeatureStoreError

    if args.store_action != "list":
        raise CommandError("store needs an action: brainalign store list DIR")
    if not args.root.is_dir():
        raise CommandError(
            f"feature store {str(args.root)!r} does not exist or is not a directory; pass "
            "the --out folder of brainalign extract"
        )
    try:
        entries = FeatureStore(args.root).entries()
    except FeatureStoreError as error:
        raise CommandError(str(error)) from error
    if entries.empty:
        print(f"{args.root}: no entries")
        return 0
    print(_entries_table(entries))
    incomplete = int((~entries["complete"]).sum())
    total = _size(int(entries["bytes"].sum()))
    print(f"\n{len(entries)} entries ({incomplete} incomplete), {total} in {args.root}")
    return 0


def _entries_table(entries: pd.DataFrame) -> str:
    """``brainalign store list``: one line per entry."""
    import pandas as pd

    def created(value: object) -> str:
        return "-" if pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")

    table = pd.DataFrame(
        {
            "name": entries["name"],
            "model": entries["model"].fillna("?"),
            "weights": entries["weights"].fillna("?"),
            "layers": entries["n_layers"],
            "items": [str(n) if pd.notna(n) else "-" for n in entries["n_items"]],
            "size": [_size(int(n)) for n in entries["bytes"]],
            "created (UTC)": [created(value) for value in entries["created"]],
            "status": [
                "complete" if done else f"incomplete: {reason}"
                for done, reason in zip(entries["complete"], entries["reason"], strict=True)
            ],
        }
    )
    return table.to_string(index=False)


def _size(n_bytes: int) -> str:
    """Bytes in B, kB, MB, GB or TB (powers of 1000)."""
    if n_bytes < 1000:
        return f"{n_bytes} B"
    value = float(n_bytes)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            break
    return f"{value:.1f} {unit}"


def _silence_progress(quiet: bool) -> None:
    """With ``--quiet``, also turn off transformers' own loading bars."""
    if quiet:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()


def parse_units(value: str) -> str:
    """Parse ``--units``: ``LOCALIZER:PERCENT%[:layer]`` (:mod:`brainalign.benchmarks.units`)."""
    from brainalign.benchmarks.units import parse_units as parse

    try:
        return parse(value).text
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"--units: {error}") from None


def parse_option(value: str) -> tuple[str, object]:
    """Parse ``--option NAME=VALUE``; the value is read as YAML (``10``, ``[s18, s22]``)."""
    import yaml

    name, equals, text = value.partition("=")
    if not equals or not name.strip():
        raise argparse.ArgumentTypeError(
            f"--option takes NAME=VALUE (e.g. radius_mm=10 or subjects=[s18,s22]); got {value!r}"
        )
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        parsed = text
    return name.strip(), parsed


def _add_score_parser(commands: argparse._SubParsersAction) -> None:
    score = commands.add_parser(
        "score",
        help="score models on registered benchmarks",
        description="Every model on every benchmark: scores per layer (and head), next to "
        "each model's untrained twin, the benchmark's content-free controls and its noise "
        "ceiling. Each finished (model, benchmark) cell is saved in OUT at once; a rerun "
        "with the same settings skips finished cells.",
        epilog="A setting a selected benchmark would not use (e.g. --layers for "
        "futrell2018-surprisal, --heads for alice2016-encoding) is an error: run that "
        "benchmark on its own. See brainalign benchmarks info NAME for each benchmark's "
        "options.",
    )
    score.add_argument(
        "models", nargs="*", metavar="MODEL", help="models to score (or give one with --model)"
    )
    _add_model_options(score, layers_help="hidden-state indices to score", model_required=False)
    score.add_argument(
        "--benchmark",
        nargs="+",
        default=None,
        metavar="NAME",
        help="registered benchmarks to run (see: brainalign benchmarks list)",
    )
    score.add_argument(
        "--study",
        nargs="+",
        default=None,
        type=Path,
        metavar="FILE",
        help="your own studies (study YAML files), scored like the benchmarks",
    )
    score.add_argument("--out", type=Path, default=Path("results"), help="run folder")
    score.add_argument(
        "--overwrite",
        action="store_true",
        help="replace results of other settings in --out (else they are refused)",
    )
    score.add_argument(
        "--batch-size",
        type=positive_int("--batch-size"),
        default=None,
        help="items per forward pass",
    )
    _add_instruction_options(
        score,
        "a task instruction the text encoder reads before every text (benchmarks that read "
        "text; the rows carry it in an 'instruction' column)",
    )
    score.add_argument(
        "--untrained", action="store_true", help="score the architectures with random weights"
    )
    score.add_argument(
        "--no-untrained",
        action="store_true",
        help="skip the untrained twin of each pretrained model (not recommended)",
    )
    score.add_argument(
        "--seed",
        type=non_negative_int("--seed"),
        default=None,
        help="seed of random weights, random controls and shuffled folds (default 0)",
    )
    score.add_argument(
        "--option",
        type=parse_option,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a benchmark option, e.g. radius_mm=10 (repeatable)",
    )
    score.add_argument(
        "--store",
        type=Path,
        default=None,
        metavar="DIR",
        help="feature store to read features from (and write them to); see brainalign extract",
    )
    score.add_argument(
        "--heads",
        action="store_true",
        help="also score every attention head of each layer",
    )
    score.add_argument(
        "--units",
        type=parse_units,
        default=None,
        metavar="LOCALIZER:PERCENT%",
        help="score only the model's localized units, e.g. language:1%% (add :layer to "
        "select within each layer), next to as many random units (control 'random-units'); "
        "text benchmarks only",
    )
    _add_plan_options(score)


def _add_plan_options(parser: argparse.ArgumentParser) -> None:
    """``--dry-run`` and ``--recalibrate`` of ``score`` and ``sweep``."""
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print each cell's cost plan (forward passes, feature bytes, peak memory, time) "
        "and exit without loading a model or writing results; non-zero exit when a cell "
        "would not fit in memory",
    )
    parser.add_argument(
        "--recalibrate",
        action="store_true",
        help="with --dry-run: measure this machine again (memory baseline, GEMM and ridge "
        "speed) instead of using the cached calibration",
    )


def _print_plans(plans: Sequence[CellPlan]) -> int:
    """Print the plan table; refuse (CommandError) when a cell would not fit."""
    from brainalign.planning.cost import format_plans

    print(format_plans(plans))
    refused = [plan.refusal for plan in plans if plan.refusal]
    if refused:
        raise CommandError("\n".join(refused))
    return 0


def run_score(args: argparse.Namespace) -> int:
    """Run ``brainalign score``; returns the exit code."""
    import time

    from brainalign._io import OutputDirectoryError
    from brainalign.benchmarks.benchmark import MissingBenchmarkDataError
    from brainalign.benchmarks.registry import UnknownBenchmarkError
    from brainalign.benchmarks.settings import SettingsError
    from brainalign.encoders.models import ModelLoadError
    from brainalign.runs import RunFolderError
    from brainalign.scoring import BenchmarkRunError, score

    models = list(args.models) + ([args.model] if args.model else [])
    if not models:
        raise CommandError("score needs a model: brainalign score MODEL [MODEL ...] (or --model)")
    if args.benchmark is None and args.study is None:
        raise CommandError(
            "score needs --benchmark NAME [NAME ...], e.g. --benchmark alice2016-encoding "
            "(see: brainalign benchmarks list), or --study FILE [FILE ...]"
        )
    options = dict(args.option)
    if len(options) < len(args.option):
        raise CommandError("--option gives the same option twice")
    _silence_progress(args.quiet)
    start = time.perf_counter()
    if args.recalibrate and not args.dry_run:
        raise CommandError("--recalibrate goes with --dry-run")
    try:
        if args.dry_run:
            from brainalign.scoring import plan

            plans = plan(
                models, args.benchmark, study=args.study, recalibrate=args.recalibrate,
                weights="untrained" if args.untrained else "pretrained",
                untrained_twin=not args.no_untrained, seed=args.seed, layers=args.layers,
                heads=args.heads, context_words=args.context_words, device=args.device,
                dtype=args.dtype, batch_size=args.batch_size, store=args.store,
                options=options, instruction=args.instruction,
                instruction_format=args.instruction_format, units=args.units,
            )  # fmt: skip
            return _print_plans(plans)
        results = score(
            models,
            args.benchmark,
            study=args.study,
            weights="untrained" if args.untrained else "pretrained",
            untrained_twin=not args.no_untrained,
            seed=args.seed,
            layers=args.layers,
            heads=args.heads,
            context_words=args.context_words,
            device=args.device,
            dtype=args.dtype,
            batch_size=args.batch_size,
            store=args.store,
            options=options,
            out=args.out,
            overwrite=args.overwrite,
            progress=not args.quiet,
            instruction=args.instruction,
            instruction_format=args.instruction_format,
            units=args.units,
        )
    except (
        OutputDirectoryError,
        RunFolderError,
        BenchmarkRunError,
        UnknownBenchmarkError,
        SettingsError,
        ModelLoadError,
        MissingBenchmarkDataError,
        ValueError,
    ) as error:
        raise CommandError(str(error)) from error
    _print_summaries(results)
    out = Path(args.out)
    print(
        f"\nwrote {out / 'results.csv'} (and results.parquet), {out / 'run.json'}, "
        f"{out / 'figures'}\ntime: {time.perf_counter() - start:.1f} s"
    )
    return 0


def _print_summaries(results: pd.DataFrame) -> None:
    """Per benchmark and metric: median score per layer and unit, and the ceiling."""
    import pandas as pd

    from brainalign.alignment.ceiling import CEILING_FLOOR
    from brainalign.results import summary_table

    for (benchmark, metric), rows in results.groupby(["benchmark", "metric"], sort=False):
        table = summary_table(rows)
        ceilings = rows.drop_duplicates(["subject", "unit"])
        excluded = int(ceilings["ceiling_flag"].isin(["below_floor", "not_finite"]).sum())
        print(f"\n{benchmark}: {metric}, median over units per layer")
        if (ceilings["ceiling_flag"] == "none").all():
            why = rows["benchmark"].iloc[0].split("@")[0]
            print(
                f"(no noise ceiling: the ceiling column of {why} says why; see "
                "brainalign benchmarks info for a registered benchmark)"
            )
            table = table.iloc[:-1]
        else:
            print(
                f"noise ceiling: median over the units whose ceiling is usable (finite, >= "
                f"{CEILING_FLOOR}); {excluded} of {len(ceilings)} (subject, unit) ceilings "
                "unusable, left out of it and of normalized scores"
            )
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print(table.to_string(float_format=lambda v: f"{v:.3f}", na_rep="-"))
    if results["head"].notna().any():
        print("\n(per-head scores are in the results files and the heads heatmaps)")


def _add_sweep_parsers(commands: argparse._SubParsersAction) -> None:
    sweep = commands.add_parser(
        "sweep",
        help="score models x benchmarks from a YAML config, resumably, locally or on Ray",
        description="Every model on every benchmark of CONFIG.yaml; each finished (model, "
        "benchmark) cell is saved in OUT/cells, so a rerun skips it. All cells are gathered "
        "into OUT/results.csv and OUT/results.parquet. Keys: models, benchmarks, studies, "
        "layers, heads, weights, untrained_twin, seed, context_words, instruction, "
        "instruction_format, units, options, device, dtype, batch_size, store, out, engine, "
        "ray (address, num_cpus, num_gpus_per_task, timeout_s), properties (your own model "
        "properties, for compare --by) and pairs (model variants compared by compare "
        "--pairs); see the brainalign.sweeps module.",
    )
    sweep.add_argument("config", type=Path, metavar="CONFIG.yaml", help="sweep configuration")
    sweep.add_argument("--engine", choices=("local", "ray"), default=None, help="executor")
    sweep.add_argument(
        "--address", default=None, help="Ray cluster address (host:port, ray://host:port, auto)"
    )
    sweep.add_argument("--out", type=Path, default=None, help="output folder (overrides out:)")
    sweep.add_argument(
        "--overwrite",
        action="store_true",
        help="replace results of other settings in the output folder (else refused)",
    )
    sweep.add_argument("--quiet", action="store_true", help="no progress lines")
    _add_plan_options(sweep)
    compare = commands.add_parser(
        "compare",
        help="leaderboard of a results folder; scores against a model property; pairs",
        description="Per benchmark and model: the best layer by median score over units, its "
        "median score, median ceiling and normalized score (median score over the units "
        "with a usable ceiling / their median ceiling), and the untrained twin's and the "
        "strongest control's scores. With --by PROPERTY: per benchmark, metric and weights, "
        "Pearson and Spearman r across models between the property and each model's "
        "best-layer score (or its score at --depth), with bootstrap intervals over models "
        "and over units (brainalign.results.across_models). With --pairs: variant - base "
        "per unit at each model's best layer for the pairs of the sweep config, tested "
        "and FDR-adjusted over benchmarks.",
    )
    compare.add_argument("results_dir", type=Path, metavar="RESULTS_DIR")
    compare.add_argument(
        "--by", default=None, metavar="PROPERTY",
        help="a model property (n_parameters, d_model, ... or one of --properties) or a head "
        "property (induction_score, ...) to correlate scores with",
    )  # fmt: skip
    compare.add_argument(
        "--properties", type=Path, default=None, metavar="CSV",
        help="your own model properties: a CSV with model, [weights,] one column each "
        "(override card columns of the same name)",
    )  # fmt: skip
    compare.add_argument(
        "--depth", type=_depth, default="best", metavar="best|RELATIVE_DEPTH",
        help="with --by: each model's best layer (default) or the layer nearest this "
        "relative depth in [0, 1] (0 = embeddings, 1 = last block)",
    )  # fmt: skip
    compare.add_argument(
        "--score", choices=("median_score", "normalized_score"), default="median_score",
        help="with --by: the score correlated",
    )  # fmt: skip
    compare.add_argument(
        "--pairs", action="store_true",
        help="paired variants: the pairs: of the sweep config saved in RESULTS_DIR",
    )  # fmt: skip
    compare.add_argument(
        "--test", choices=("permutation", "bootstrap"), default="permutation",
        help="with --pairs: sign-flip permutation test (default) or paired bootstrap",
    )  # fmt: skip
    compare.add_argument(
        "--resamples", type=positive_int("--resamples"), default=None, metavar="N",
        help="bootstrap resamples (--by, default 1000) or sign flips (--pairs, default 9999)",
    )  # fmt: skip
    compare.add_argument(
        "--seed", type=non_negative_int("--seed"), default=0, help="seed of the resampling"
    )
    compare.add_argument(
        "--figures", type=Path, default=None, metavar="DIR",
        help="also draw the figures over models into DIR (scaling, depth, pairs)",
    )  # fmt: skip


def _depth(value: str) -> str | float:
    """``--depth``: ``best`` or a relative depth in [0, 1]."""
    if value == "best":
        return value
    try:
        depth = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--depth must be best or a relative depth in [0, 1]; got {value!r}"
        ) from None
    if not 0.0 <= depth <= 1.0:
        raise argparse.ArgumentTypeError(
            f"--depth must be best or a relative depth in [0, 1]; got {value!r}"
        )
    return depth


def _print_leaderboard(table: pd.DataFrame) -> None:
    import pandas as pd

    from brainalign.results import SUMMARY_NOTE

    with pd.option_context("display.width", 220, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}", na_rep="-"))
    print(f"\n{SUMMARY_NOTE}")


def run_sweep(args: argparse.Namespace) -> int:
    """Run ``brainalign sweep CONFIG.yaml``; returns the exit code."""
    import time

    from brainalign._io import OutputDirectoryError
    from brainalign.parallel import CellResourcesError, RayConnectionError
    from brainalign.runs import RunFolderError
    from brainalign.sweeps import SweepConfigError, SweepError, compare, load_config, sweep

    start = time.perf_counter()
    if args.recalibrate and not args.dry_run:
        raise CommandError("--recalibrate goes with --dry-run")
    try:
        config = load_config(args.config)
        if args.dry_run:
            return _dry_run_sweep(config, args)
        out = args.out.resolve() if args.out is not None else config.out
        results = sweep(
            config,
            engine=args.engine,
            address=args.address,
            out=out,
            overwrite=args.overwrite,
            log=None if args.quiet else lambda line: print(line, flush=True),
        )
    except (
        SweepConfigError,
        SweepError,
        RunFolderError,
        RayConnectionError,
        CellResourcesError,  # a cell no node of the cluster could run
        OutputDirectoryError,
        ImportError,  # engine: ray without ray installed
    ) as error:
        raise CommandError(str(error)) from error
    print(f"\nleaderboard ({len(results)} rows gathered)\n")
    _print_leaderboard(compare(out))
    print(f"\nwrote {out / 'results.csv'} (and results.parquet)")
    print(f"time: {time.perf_counter() - start:.1f} s")
    return 0


def _dry_run_sweep(config: SweepConfig, args: argparse.Namespace) -> int:
    """``sweep --dry-run``: the plan of every cell (:func:`brainalign.planning.cost.
    plan_sweep`), with ``--out`` (its store holds the passes already made); a cell that
    cannot be prepared is reported as the run would. Options that change nothing a plan
    shows are refused."""
    import dataclasses

    from brainalign.planning.calibration import machine_calibration
    from brainalign.planning.cost import plan_sweep

    unused = [
        flag
        for flag, given in (
            ("--engine", args.engine is not None),
            ("--address", args.address is not None),
            ("--overwrite", args.overwrite),
        )
        if given
    ]
    if unused:
        raise CommandError(
            f"{', '.join(unused)} with --dry-run: a plan is the same on every engine and "
            "writes nothing; drop them, or drop --dry-run to run the sweep"
        )
    if args.out is not None:
        config = dataclasses.replace(config, out=args.out.resolve())
    try:
        plans = plan_sweep(config, calibration=machine_calibration(refresh=args.recalibrate))
    except (ValueError, OSError) as error:  # settings, studies, data: named by their errors
        raise CommandError(str(error)) from error
    return _print_plans(plans)


def run_compare(args: argparse.Namespace) -> int:
    """Run ``brainalign compare RESULTS_DIR [--by PROPERTY | --pairs]``; returns the exit
    code."""
    import pandas as pd

    from brainalign.sweeps import compare

    try:
        table = compare(
            args.results_dir, args.by, properties=args.properties, depth=args.depth,
            score=args.score, pairs=args.pairs or None, test=args.test,
            n_resamples=args.resamples, seed=args.seed, figures=args.figures,
        )  # fmt: skip
    except (FileNotFoundError, ValueError) as error:
        raise CommandError(str(error)) from error
    if table.empty:
        raise CommandError(f"no scored models in {args.results_dir} (only controls?)")
    if args.by is None and not args.pairs:
        _print_leaderboard(table)
    else:
        with pd.option_context("display.width", 220, "display.max_columns", 30):
            print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}", na_rep="-"))
        from brainalign.results import CORRELATION_NOTE, PAIRS_NOTE

        print(f"\n{CORRELATION_NOTE if args.by else PAIRS_NOTE}")
    drawn = table.attrs.get("figures")
    if drawn is not None:
        for path in [*drawn.scaling, *drawn.depth, *drawn.pairs]:
            print(f"wrote {path}")
        for kind, reason in drawn.absent.items():
            print(f"no {kind} figure: {reason}")
    return 0


def run_benchmarks(args: argparse.Namespace) -> int:
    """Run ``brainalign benchmarks [list|info NAME]``; returns the exit code."""
    from dataclasses import fields

    from brainalign.benchmarks.registry import UnknownBenchmarkError, available, get

    if (args.benchmarks_action or "list") == "list":
        rows = [get(name) for name in available()]
        width = max(len(b.versioned_id) for b in rows)
        for benchmark in rows:
            scores = "layers, heads" if benchmark.scores_heads else "layers"
            if not benchmark.uses_layers:
                scores = "no layers"
            options = ", ".join(benchmark.options)
            line = (
                f"{benchmark.versioned_id:<{width}}  {benchmark.dataset:<20} "
                f"{benchmark.metric:<11} {scores:<14}{f'options: {options}' if options else ''}"
            )
            print(line.rstrip())
        return 0
    try:
        benchmark = get(args.name)
    except UnknownBenchmarkError as error:
        raise CommandError(str(error)) from error
    for field in fields(benchmark):
        value = getattr(benchmark, field.name)
        if field.name == "options":
            print("options (--option NAME=VALUE):" + ("" if value else " none"))
            for name, meaning in value.items():
                print(f"  {name}: {meaning}")
        elif field.name != "runner":
            print(f"{field.name}: {value}")
    return 0


def run_extract(args: argparse.Namespace) -> int:
    """Run ``brainalign extract``; returns the exit code."""
    import time

    if (args.dataset is None) == (args.stimuli is None):
        given = "both" if args.dataset is not None else "neither"
        raise CommandError(
            f"extract needs exactly one of --dataset NAME or --stimuli FILE; {given} given"
        )

    from brainalign.datasets.catalogue import CatalogueError, UnknownDatasetError, load_stimuli
    from brainalign.encoders.extract import (
        StimulusInputError,
        extract_features,
        read_stimuli,
        text_stimuli,
    )
    from brainalign.encoders.models import ModelLoadError
    from brainalign.encoders.store import FeatureStore, FeatureStoreError

    start = time.perf_counter()
    try:
        if args.dataset is not None:
            if args.text_column is not None:
                raise StimulusInputError(
                    "--text-column applies to --stimuli tables; a dataset's words are read "
                    "from its own text column: drop it"
                )
            stimuli = text_stimuli(load_stimuli(args.dataset), f"dataset {args.dataset}")
        else:
            stimuli = read_stimuli(args.stimuli, text_column=args.text_column)
        store = FeatureStore(args.out)
        _silence_progress(args.quiet)
        result = extract_features(
            args.model,
            stimuli,
            store,
            layers=args.layers,
            heads=args.heads,
            blocks=args.blocks,
            contributions=args.contributions,
            attention_summaries=args.attention_summaries,
            context=args.context,
            pooling=args.pooling,
            context_words=args.context_words,
            device=args.device,
            dtype=args.dtype,
            batch_size=args.batch_size,
            weights="untrained" if args.untrained else "pretrained",
            seed=args.seed,
            progress=not args.quiet,
            tr=args.tr,
            frame_rate=args.frame_rate,
            instruction=args.instruction,
            instruction_format=args.instruction_format,
            span=args.span,
        )
    except (
        StimulusInputError,
        ModelLoadError,
        FeatureStoreError,
        UnknownDatasetError,
        CatalogueError,
    ) as error:
        raise CommandError(str(error)) from error
    elapsed = time.perf_counter() - start

    features = result.features
    action = "reused existing entry (no forward pass)" if result.reused else "computed and stored"
    if result.kind in ("audio", "video"):
        unit = "audio file" if result.kind == "audio" else "video"
        unit += "s" * (len(stimuli) != 1)
        rows = "frames" if result.kind == "audio" else "clips"
        times = features.onsets
        print(
            f"{args.model} on {stimuli.source}: {len(stimuli)} {unit}, {features.n_items} "
            f"{rows} from {times.min():.2f} s to {times.max():.2f} s, {action}"
        )
    else:
        unit = "images" if result.kind in ("image", "multimodal") else _text_unit(result.key)
        print(f"{args.model} on {stimuli.source}: {len(stimuli)} {unit}, {action}")
    print(f"entry: {result.name}")
    print(f"store: {store.root}")
    print(f"open it: FeatureStore({str(store.root)!r}).load({result.name!r})")
    if result.kind == "text":
        print(f"context: {result.key['context']['mode']}")
    hidden = [name for name in features.layers if "." not in name]
    print(f"layers: {', '.join(hidden)}")
    width = max(len(name) for name in features.layers)
    for name, array in features.layers.items():
        print(f"  {name:<{width}}  {tuple(array.shape)}  {array.dtype}")
    print(f"time: {elapsed:.1f} s")
    return 0


def _datasets_table() -> str:
    """``brainalign datasets list``: one row per dataset."""
    from brainalign.datasets.catalogue import available, info

    header = ("name", "modality", "access", "size")
    rows = [header] + [
        (name, info(name).modality, info(name).access, info(name).size) for name in available()
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = [
        "  ".join(value.ljust(width) for value, width in zip(row[:-1], widths, strict=True))
        + "  "
        + row[-1]
        for row in rows
    ]
    return "\n".join(lines)


def _datasets_info(name: str) -> str:
    """``brainalign datasets info NAME``: every field, then the files and their cache paths."""
    from brainalign.datasets.catalogue import INFO_FIELDS, file_status, info

    entry = info(name)
    lines = [f"name: {entry.name}"]
    lines += [f"{field.replace('_', ' ')}: {getattr(entry, field)}" for field in INFO_FIELDS]
    if entry.bundled:
        lines.append(f"bundled files: {', '.join(entry.bundled)} (in the brainalign package)")
    if entry.files:
        lines.append(f"checksum source: {entry.checksum_source}")
        lines.append("files:")
        for row in file_status(name):
            size = f", {row['size']:,} bytes" if row["size"] is not None else ""
            state = "cached" if row["cached"] else "not cached"
            lines.append(f"  {row['key']}: {row['url']}")
            lines.append(f"    {row['checksum']}{size}; {state} at {row['path']}")
    return "\n".join(lines)


def _datasets_fetch(args: argparse.Namespace) -> str:
    from brainalign.datasets.catalogue import fetch
    from brainalign.datasets.download import DownloadError

    try:
        paths = fetch(
            args.name, files=args.files, cache_dir=args.cache_dir, progress=not args.quiet
        )
    except (DownloadError, ValueError) as error:
        raise CommandError(str(error)) from error
    return "\n".join(f"{key}: {path}" for key, path in paths.items())


def run_datasets(args: argparse.Namespace) -> int:
    """Run ``brainalign datasets [list|info NAME|fetch NAME]``; returns the exit code."""
    from brainalign.datasets.catalogue import UnknownDatasetError

    action = args.datasets_action or "list"
    try:
        if action == "list":
            print(_datasets_table())
        elif action == "info":
            print(_datasets_info(args.name))
        else:
            print(_datasets_fetch(args))
    except UnknownDatasetError as error:
        raise CommandError(str(error)) from error
    return 0


def _add_report_parser(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser(
        "report",
        help="build one self-contained HTML report of a results folder",
        description="Tables and figures of a run (the --out folder of brainalign score) in "
        "one HTML file with the figures embedded: no network and no JavaScript needed.",
    )
    report.add_argument("results_dir", type=Path, metavar="RESULTS_DIR", help="results folder")
    report.add_argument(
        "--out", type=Path, default=None, metavar="FILE", help="default: RESULTS_DIR/report.html"
    )


def run_report(args: argparse.Namespace) -> int:
    """Run ``brainalign report RESULTS_DIR``; returns the exit code."""
    from brainalign.report.html import build_report

    try:
        path = build_report(args.results_dir, args.out)
    except (OSError, ValueError) as error:
        raise CommandError(str(error)) from error
    print(f"wrote {path}")
    return 0


def _add_build_parser(commands: argparse._SubParsersAction) -> None:
    from brainalign.encoders.builders import UNTRAINED_FAMILIES

    build = commands.add_parser(
        "build",
        help="build and save a random-weight language model of a chosen size",
        description="A model folder (config, safetensors weights, tokenizer, "
        "brainalign_build.json) of a Transformer with seeded random weights, read by every "
        "command like a downloaded model: for layers x heads x tokenizer grids through "
        "brainalign sweep (brainalign.encoders.build_untrained).",
    )
    build.add_argument("directory", type=Path, metavar="DIR", help="where to save the model")
    build.add_argument("--family", required=True, choices=sorted(UNTRAINED_FAMILIES))
    build.add_argument("--n-layers", type=positive_int("--n-layers"), required=True,
                       help="Transformer blocks")  # fmt: skip
    build.add_argument("--n-heads", type=positive_int("--n-heads"), required=True,
                       help="attention heads per block (must divide --d-model)")  # fmt: skip
    build.add_argument("--d-model", type=positive_int("--d-model"), required=True,
                       help="width of the residual stream")  # fmt: skip
    build.add_argument("--tokenizer", required=True, metavar="NAME_OR_DIR",
                       help="a fast tokenizer (hub id or folder)")  # fmt: skip
    build.add_argument("--d-ff", type=positive_int("--d-ff"), default=None,
                       help="MLP width (default 4 x --d-model)")  # fmt: skip
    build.add_argument("--max-positions", type=positive_int("--max-positions"), default=512,
                       help="longest input in tokens (default 512)")  # fmt: skip
    build.add_argument("--seed", type=non_negative_int("--seed"), default=0,
                       help="seed of the weights (default 0)")  # fmt: skip
    build.add_argument("--overwrite", action="store_true", help="replace a model in DIR")


def run_build(args: argparse.Namespace) -> int:
    """Run ``brainalign build DIR ...``; returns the exit code."""
    from brainalign.encoders.builders import build_untrained

    try:
        directory = build_untrained(
            args.directory,
            family=args.family,
            n_layers=args.n_layers,
            n_heads=args.n_heads,
            d_model=args.d_model,
            tokenizer=args.tokenizer,
            d_ff=args.d_ff,
            max_positions=args.max_positions,
            seed=args.seed,
            overwrite=args.overwrite,
        )
    except (OSError, ValueError) as error:
        raise CommandError(str(error)) from error
    print(f"wrote {directory}")
    return 0


def _text_unit(key: dict) -> str:
    """ "words" or "sentences", from a text entry's key."""
    context = key.get("context", {})
    return "sentences" if context.get("level") == "sentence" else "words"


class _ElapsedFormatter(logging.Formatter):
    """``[  12.3 s] message``: seconds since the command started."""

    def __init__(self) -> None:
        super().__init__()
        self.start = time.time()

    def format(self, record: logging.LogRecord) -> str:
        return f"[{record.created - self.start:7.1f} s] {record.getMessage()}"


@contextlib.contextmanager
def _progress_log(enabled: bool) -> Iterator[None]:
    """Log the stages of a run (logger ``brainalign.progress``) to stderr, one line each.

    Works without a terminal (a batch job's log shows every stage with its elapsed time);
    ``--quiet`` turns it off. The logger's level, handlers and propagation are restored
    when the command ends, so calling :func:`main` leaves the process's logging as it was.
    """
    logger = logging.getLogger("brainalign.progress")
    saved = (logger.level, logger.propagate)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_ElapsedFormatter())
    logger.setLevel(logging.INFO if enabled else logging.WARNING)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``brainalign`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.version:
        from brainalign import __version__

        print(__version__)
        return 0
    commands = {
        "score": run_score,
        "extract": run_extract,
        "store": run_store,
        "datasets": run_datasets,
        "benchmarks": run_benchmarks,
        "sweep": run_sweep,
        "compare": run_compare,
        "report": run_report,
        "build": run_build,
    }
    if args.command not in commands:
        parser.print_help()
        return 0
    try:
        with _progress_log(not getattr(args, "quiet", False)):
            return commands[args.command](args)
    except CommandError as error:
        print(f"brainalign: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
