"""Run settings: everything a user chooses for one model's run, checked once.

A :class:`RunSettings` is built once, from the command line or from Python, and handed
to :meth:`brainalign.benchmarks.benchmark.Benchmark.run`; nothing downstream checks
its values again. :func:`check_settings` then holds it against one benchmark: a setting
the user chose that the benchmark would not use is an error naming the setting and the
benchmark (:class:`SettingsError`), never a silent drop.

Settings that change scores (``weights``, ``untrained_twin``, ``seed``, ``layers``,
``heads``, ``context_words``, ``dtype``, ``options``) make up
:meth:`RunSettings.fingerprint`, which a results folder records so that results of other
settings are never mixed in. ``device``, ``batch_size``, ``store`` and ``progress``
change how a run goes, not its numbers.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from brainalign.benchmarks.benchmark import Benchmark
    from brainalign.encoders.store import FeatureStore

__all__ = [
    "DTYPES",
    "FLAGS",
    "RunSettings",
    "SettingsError",
    "check_settings",
]

DTYPES = ("float32", "float16", "bfloat16")
"""Model dtypes."""

FLAGS = {
    "weights": "--untrained",
    "untrained_twin": "--no-untrained",
    "seed": "--seed",
    "layers": "--layers",
    "heads": "--heads",
    "context_words": "--context-words",
    "instruction": "--instruction",
    "instruction_format": "--instruction-format",
    "options": "--option",
    "units": "--units",
}
"""The command-line flag of each setting, named in errors next to the Python name."""

_DEVICE = re.compile(r"cpu|cuda(:\d+)?|mps|auto")


class SettingsError(ValueError):
    """A setting that is malformed, or that a benchmark would not use."""


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SettingsError(f"{name}={value!r}: it must be a positive integer")
    return int(value)


def _layers(value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    if isinstance(value, int | str) or not isinstance(value, Sequence):
        raise SettingsError(f"layers={value!r}: give a list of layer indices, e.g. [0, 6]")
    if not value or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in value):
        raise SettingsError(
            f"layers={value!r}: give non-negative hidden-state indices (0 = embeddings)"
        )
    return tuple(sorted(set(int(v) for v in value)))


@dataclass(frozen=True)
class RunSettings:
    """What one run of a model on benchmarks uses; checked when built.

    Parameters
    ----------
    model : str
        Hugging Face hub id or local model directory. ``"MODEL@untrained"`` is the same
        as ``model="MODEL", weights="untrained"`` (the suffix is split off here).
    weights : {"pretrained", "untrained"}
        Weights of the scored model; ``"untrained"``: its architecture with seeded
        random weights.
    untrained_twin : bool, default True
        With pretrained weights, also score the untrained twin (same architecture,
        seeded random weights) as a control.
    seed : int, optional
        Seeds everything random in a run: the untrained weights, and a benchmark's random
        controls and shuffled folds (its ``seeded`` field says which). Default 0; a
        benchmark with nothing random to seed refuses an explicit seed.
    layers : sequence of int, optional
        Hidden-state indices (0 = embeddings); default all.
    heads : bool, default False
        Also score each attention head (benchmarks with ``scores_heads``).
    context_words : int, optional
        Words in each word's window, for bidirectional models on benchmarks that read
        words in a window (``uses_context_words``).
    device : str, default "cpu"
        ``cpu``, ``cuda``, ``cuda:N``, ``mps``, or ``auto`` (a GPU where there is one):
        where the model runs, and, on a CUDA device, the benchmarks' ridge encoding fits
        too, in float64 (:meth:`alignment_device`).
    dtype : {"float32", "float16", "bfloat16"}, default "float32"
    batch_size : int, optional
        Items per forward pass; default the benchmark's.
    store : FeatureStore or path, optional
        Feature store: features are read from it when present, else written to it (kept
        as its folder, so settings stay plain and picklable).
    progress : bool, default False
        Progress bars (on a terminal).
    options : mapping, optional
        Benchmark-specific options (a benchmark's ``options`` lists the ones it takes).
    instruction : str, optional
        A task instruction the text encoder reads before every text or window
        (:class:`~brainalign.encoders.text.TextEncoder`'s ``instruction``), for the
        benchmarks that read text (``reads_instruction``); its tokens are never pooled.
        The rows of the run carry it in an ``instruction`` column.
    instruction_format : {"plain", "chat"}, default "plain"
        A plain prefix, or the model's chat template (only with an ``instruction``).
    units : str, optional
        Score only the model's localized units, e.g. ``"language:1%"``
        (:mod:`brainalign.benchmarks.units`), on the benchmarks whose features are a
        text model's hidden states (``selects_units``), next to the control
        ``random-units``. The rows carry it in a ``units`` column.
    unit_draw : {"localized", "random"}, default "localized"
        With ``units``: which units the run's features keep (``"random"`` is how the
        ``random-units`` control is scored; set by the benchmark, not by users).
    """

    model: str
    weights: str = "pretrained"
    untrained_twin: bool = True
    seed: int | None = None
    layers: tuple[int, ...] | None = None
    heads: bool = False
    context_words: int | None = None
    device: str = "cpu"
    dtype: str = "float32"
    batch_size: int | None = None
    store: str | None = None
    progress: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    instruction: str | None = None
    instruction_format: str = "plain"
    units: str | None = None
    unit_draw: str = "localized"

    def __post_init__(self) -> None:
        from brainalign.encoders.models import split_model_spec

        if not isinstance(self.model, str) or not self.model.strip():
            raise SettingsError(f"model={self.model!r}: give a hub id or a model directory")
        if self.weights not in ("pretrained", "untrained"):
            raise SettingsError(f"weights={self.weights!r}: use 'pretrained' or 'untrained'")
        try:
            model, weights = split_model_spec(self.model, self.weights)
        except ValueError as error:
            raise SettingsError(str(error)) from None
        for name in ("untrained_twin", "heads", "progress"):
            if not isinstance(getattr(self, name), bool):
                raise SettingsError(f"{name}={getattr(self, name)!r}: use True or False")
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int)
        ):
            raise SettingsError(f"seed={self.seed!r}: it must be an integer")
        if self.context_words is not None:
            _positive_int("context_words", self.context_words)
        if self.batch_size is not None:
            _positive_int("batch_size", self.batch_size)
        if self.dtype not in DTYPES:
            raise SettingsError(f"dtype={self.dtype!r}: use one of {', '.join(DTYPES)}")
        if not isinstance(self.device, str) or not _DEVICE.fullmatch(self.device):
            raise SettingsError(f"device={self.device!r}: use cpu, cuda, cuda:N, mps or auto")
        if self.instruction is not None and (
            not isinstance(self.instruction, str) or not self.instruction.strip()
        ):
            raise SettingsError(f"instruction={self.instruction!r}: give the instruction's text")
        if self.instruction_format not in ("plain", "chat"):
            raise SettingsError(
                f"instruction_format={self.instruction_format!r}: use 'plain' or 'chat'"
            )
        if self.instruction is None and self.instruction_format != "plain":
            raise SettingsError(
                "instruction_format (--instruction-format) applies with an instruction "
                "(--instruction): give both"
            )
        if self.units is not None:
            from brainalign.benchmarks.units import parse_units

            try:
                object.__setattr__(self, "units", parse_units(self.units).text)
            except ValueError as error:
                raise SettingsError(f"{error} (--units)") from None
        if self.unit_draw not in ("localized", "random"):
            raise SettingsError(f"unit_draw={self.unit_draw!r}: use 'localized' or 'random'")
        if not isinstance(self.options, Mapping) or not all(
            isinstance(k, str) for k in self.options
        ):
            raise SettingsError(f"options={self.options!r}: give a mapping of option names")
        store = self.store
        if store is not None:
            from brainalign.encoders.store import FeatureStore

            store = str(store.root if isinstance(store, FeatureStore) else os.fspath(store))
        object.__setattr__(self, "model", model)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "layers", _layers(self.layers))
        object.__setattr__(self, "store", store)
        object.__setattr__(self, "options", dict(self.options))

    @property
    def run_seed(self) -> int:
        """The seed in effect (0 when none was given)."""
        return 0 if self.seed is None else self.seed

    @property
    def variants(self) -> tuple[str, ...]:
        """Weights scored for the model: its own, then ``"untrained"`` for the twin."""
        if self.weights == "pretrained" and self.untrained_twin:
            return ("pretrained", "untrained")
        return (self.weights,)

    def fingerprint(self) -> dict[str, Any]:
        """The settings that change scores, as plain JSON-able values (model excluded)."""
        return {
            "weights": self.weights,
            "untrained_twin": self.untrained_twin,
            "seed": self.run_seed,
            "layers": "all" if self.layers is None else list(self.layers),
            "heads": self.heads,
            "context_words": self.context_words,
            "dtype": self.dtype,
            "options": {k: _plain(v) for k, v in sorted(self.options.items())},
            **self.text_instruction(),
            **({} if self.units is None else {"units": self.units}),
        }

    def text_instruction(self) -> dict[str, str]:
        """``instruction`` and ``instruction_format`` as text-encoder keywords; empty
        without an instruction (so runs without one keep their fingerprint)."""
        if self.instruction is None:
            return {}
        return {"instruction": self.instruction, "instruction_format": self.instruction_format}

    def feature_store(self) -> FeatureStore | None:
        """The feature store of the run (``store``), or None."""
        from brainalign.encoders.store import FeatureStore

        return None if self.store is None else FeatureStore(self.store)

    def progress_label(self, benchmark: Benchmark, weights: str) -> str | bool:
        """What a progress bar of one model variant is called; False without progress."""
        if not self.progress:
            return False
        return f"{benchmark.versioned_id} {self.model} ({weights})"

    def encoder_options(self, benchmark: Benchmark, weights: str) -> dict[str, Any]:
        """The keywords a benchmark's encoding call takes from the run, for ``weights``.

        Returns
        -------
        dict
            ``weights``, ``layers``, ``device``, ``dtype``, ``batch_size`` (the run's or
            the benchmark's), ``seed``, ``store`` (a FeatureStore or None) and
            ``progress`` (the bar's name or False).
        """
        return {
            **self.model_options(benchmark, weights),
            "layers": self.layers,
            "store": self.feature_store(),
        }

    def alignment_device(self) -> str | None:
        """Where the run's encoding fits compute: ``"cuda"``/``"cuda:N"`` as given,
        ``"auto"`` the GPU when torch sees one, else None (numpy on the CPU; ``"cpu"``
        and ``"mps"``, which the fits do not use). Fits on a device run in float64, so
        the device changes how fast a run goes, not its numbers
        (:func:`brainalign.alignment.backend.alignment_device`)."""
        if self.device.startswith("cuda"):
            return self.device
        if self.device == "auto":
            import importlib.util

            if importlib.util.find_spec("torch") is not None:
                import torch

                if torch.cuda.is_available():
                    return "cuda"
        return None

    def model_options(self, benchmark: Benchmark, weights: str) -> dict[str, Any]:
        """What every encoder class of a run is built with, for the variant ``weights``.

        Returns
        -------
        dict
            ``weights``, ``seed`` (:attr:`run_seed`), ``device``, ``dtype``,
            ``batch_size`` (:meth:`batch_size_for`) and ``progress``
            (:meth:`progress_label`): keyword arguments of every encoder class.
        """
        return {
            "weights": weights,
            "seed": self.run_seed,
            "device": self.device,
            "dtype": self.dtype,
            "batch_size": self.batch_size_for(benchmark),
            "progress": self.progress_label(benchmark, weights),
        }

    def batch_size_for(self, benchmark: Benchmark) -> int:
        """``batch_size``, or the benchmark's default."""
        return self.batch_size if self.batch_size is not None else benchmark.batch_size


def _plain(value: Any) -> Any:
    """JSON-able form of an option value (tuples as lists)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _refuse(benchmark: Benchmark, setting: str, value: Any, why: str) -> SettingsError:
    flag = FLAGS.get(setting, setting)
    return SettingsError(
        f"{benchmark.versioned_id} does not use {flag} ({setting}={value!r}): {why}; drop "
        f"it, or run {benchmark.id} on its own"
    )


def check_settings(benchmark: Benchmark, settings: RunSettings) -> None:
    """Refuse any setting the user chose that ``benchmark`` would not use.

    Parameters
    ----------
    benchmark : Benchmark
    settings : RunSettings

    Raises
    ------
    SettingsError
        Naming the setting (command-line flag and Python name), the benchmark and why:
        ``layers`` for a benchmark without layers, ``heads`` without per-head scoring,
        ``context_words`` for one that reads no word windows, ``instruction`` for one
        whose features are not read by the text encoder, ``units`` for one whose features
        are not a text model's hidden states (or with ``heads``), ``seed`` where nothing
        random is seeded, ``untrained_twin=False`` for an untrained model (it has no
        twin), or an option the benchmark does not take (its options are listed).
    """
    if settings.layers is not None and not benchmark.uses_layers:
        raise _refuse(benchmark, "layers", list(settings.layers), benchmark.layers_note)
    if settings.heads and not benchmark.scores_heads:
        raise _refuse(benchmark, "heads", True, "it scores whole layers only")
    if settings.context_words is not None and not benchmark.uses_context_words:
        raise _refuse(
            benchmark,
            "context_words",
            settings.context_words,
            f"its items are read {benchmark.context!r}, not in windows of preceding words",
        )
    if settings.instruction is not None and not benchmark.reads_instruction:
        raise _refuse(
            benchmark,
            "instruction",
            settings.instruction,
            "its features do not come from a text encoder reading a task instruction (a "
            "study of text takes the option 'instruction' in its study file)",
        )
    if settings.units is not None and not benchmark.selects_units:
        raise _refuse(
            benchmark,
            "units",
            settings.units,
            "its features are not a text model's hidden states",
        )
    if settings.units is not None and settings.heads:
        raise _refuse(
            benchmark,
            "units",
            settings.units,
            "localized units are hidden-state units; score heads in a run without --units",
        )
    if settings.weights == "untrained" and not settings.untrained_twin:
        raise _refuse(benchmark, "untrained_twin", False, "the scored model is itself untrained")
    random_weights = "untrained" in settings.variants
    if settings.seed is not None and not random_weights and not benchmark.seeded:
        raise _refuse(
            benchmark,
            "seed",
            settings.seed,
            "nothing in it is random without the untrained twin (--no-untrained)",
        )
    unknown = sorted(set(settings.options) - set(benchmark.options))
    if unknown:
        takes = ", ".join(sorted(benchmark.options)) or "none"
        raise SettingsError(
            f"{benchmark.versioned_id} does not take option(s) {', '.join(unknown)} "
            f"(--option); its options: {takes}"
        )
