"""A cost plan of each (model, benchmark) cell before it runs.

:func:`plan_cell` prepares the benchmark's task (its data is loaded, no model is) and
asks it for its :class:`~brainalign.planning.workload.Workload`, reads the model's card
(:func:`brainalign.encoders.cards.model_card`: parameters, depth, width, heads, from the
model's files, weights never loaded) and its tokenizer, and predicts:

forward passes
    ``ceil(n_inputs / batch_size)`` per stimulus set per weights variant (pretrained,
    and the untrained twin when it is scored); a causal model reading a whole text reads
    windows of its ``max_length`` tokens every half window, so its inputs are those
    windows. With a store, the weights variants that an earlier run of the same cell
    recorded and whose entries are all complete read the store instead
    (:mod:`brainalign.planning.store_hits`): their passes are ``forward_passes_stored``
    and not needed. Without a store, ``forward_passes_stored`` is None (``no store``).
feature bytes
    float32 features of every scored layer (``n_items x d_model``) and head
    (``n_items x n_heads x head_dim``), per variant, summed over variants (what the
    store gains).
peak host memory
    ``baseline + data + max(weights + activations + features, features + alignment)``:
    the calibrated baseline of a process that imported torch and brainalign
    (:mod:`brainalign.planning.calibration`), the data the task holds, then the larger
    of the encoding stage (weights: ``n_parameters`` x the dtype's size; activations of
    one batch: every hidden state and one layer's attention probabilities) and the
    scoring stage (the features of one variant and the largest alignment step: ridge by
    :func:`brainalign.alignment.memory.encoding_peak_bytes`, the one definition of an
    encoding fit's memory; RSA, similarity, triplets and linear fits by
    :func:`alignment_bytes`).
peak device memory
    On a CUDA device: weights and activations, plus the ridge fits when they run there
    (:meth:`~brainalign.benchmarks.settings.RunSettings.alignment_device`); 0 on the CPU.
seconds
    The measured time to prepare the task, plus forward passes at the calibrated float32
    GEMM rate (``2 x n_parameters`` FLOPs per token) and the fits from the calibrated
    ridge fit and float64 rate (:func:`fit_seconds`).

Tolerance: against the measured peak RSS of real cells (``tests/planning``,
``perf/plan_accuracy.py``) the peak host memory is within +-30 %; seconds are an order
of magnitude (per-batch overheads of small models are not modelled).

What cannot be predicted is None and said in the plan's ``notes`` (a benchmark whose
task has no ``workload()``, a model whose card lacks its size, audio without its
window count), never a made-up number. A cell whose peak exceeds the memory available
is refused (:class:`~brainalign.planning.errors.DoesNotFitError`) with the options of
the run that make it fit, each checked by planning again.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from brainalign.planning.errors import DoesNotFitError
from brainalign.planning.store_hits import stored_variants
from brainalign.planning.workload import Fit, StimulusSet, Workload

if TYPE_CHECKING:
    from brainalign.benchmarks.benchmark import Benchmark
    from brainalign.benchmarks.settings import RunSettings
    from brainalign.parallel import CellResources
    from brainalign.planning.calibration import Calibration
    from brainalign.runs import CellTask

__all__ = [
    "CellPlan",
    "ModelFacts",
    "alignment_bytes",
    "check_cell_fits",
    "cost_workload",
    "fit_seconds",
    "format_plans",
    "model_facts",
    "plan_cell",
    "plan_cells",
    "plan_sweep",
    "planned_resources",
]

#: Bytes per element of each model dtype.
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
#: Bytes per feature element (features are float32) and per fitted element (float64).
FEATURE_BYTES, FIT_BYTES = 4, 8


@dataclass(frozen=True)
class ModelFacts:
    """What a plan needs of a model, read without loading its weights.

    Attributes
    ----------
    card : dict
        :func:`brainalign.encoders.cards.model_card` (``n_parameters``, ``n_layers``,
        ``n_heads``, ``head_dim``, ``d_model``).
    is_causal : bool or None
    max_positions : int or None
        The longest input in tokens.
    positions : int or None
        Positions of one image or video input (patches, tubelets and a class token), from
        the config; None for text or when the config does not say.
    tokenizer : object or None
        The model's tokenizer (text models), for counting tokens.
    frame_rate : float or None
        Feature frames per second of audio (convolutional audio models: the 16 kHz
        input over the product of the ``conv_stride``); None otherwise.
    window_s, hop_s : float or None
        The audio windows the encoder reads (:func:`_audio_clock`); None when not
        known.
    """

    card: Mapping[str, Any]
    is_causal: bool | None = None
    max_positions: int | None = None
    positions: int | None = None
    tokenizer: Any = None
    frame_rate: float | None = None
    window_s: float | None = None
    hop_s: float | None = None


def _audio_clock(config: Mapping[str, Any]) -> dict[str, float]:
    """``frame_rate``, ``window_s`` and ``hop_s`` of a convolutional audio model: the
    windows :class:`~brainalign.encoders.audio.AudioEncoder` reads by default
    (:data:`~brainalign.encoders.audio.CONV_WINDOW_S`, overlapping by
    :data:`~brainalign.encoders.audio.WINDOW_OVERLAP_S`, at most half a window)."""
    from brainalign.encoders.audio import AUDIO_FAMILIES, CONV_WINDOW_S, WINDOW_OVERLAP_S

    strides = config.get("conv_stride")
    if AUDIO_FAMILIES.get(config.get("model_type")) != "conv" or not isinstance(strides, list):
        return {}
    hop_s = CONV_WINDOW_S - min(WINDOW_OVERLAP_S, CONV_WINDOW_S / 2)
    frame_rate = 16000.0 / math.prod(strides)  # the family's feature extractors: 16 kHz
    return {"frame_rate": frame_rate, "window_s": CONV_WINDOW_S, "hop_s": hop_s}


def model_facts(model: str, stimuli_kind: str = "text") -> ModelFacts:
    """:class:`ModelFacts` of a model (card, config, tokenizer; no weights).

    Parameters
    ----------
    model : str
        Hub id or model directory.
    stimuli_kind : {"text", "image", "audio", "video"}
        What the benchmark reads (picks the tower of a multi-tower model).
    """
    from brainalign.encoders.cards import model_card
    from brainalign.encoders.models import inspect_model, max_positions

    card = model_card(model, stimuli=stimuli_kind)
    info = inspect_model(model)
    config = dict(info.config or {})
    part = config.get(f"{stimuli_kind}_config") or config.get("vision_config") or config
    if stimuli_kind == "text":
        part = config.get("text_config") or config
    tokenizer = _tokenizer(info.directory) if stimuli_kind == "text" else None
    return ModelFacts(
        card=card,
        is_causal=info.is_causal,
        max_positions=max_positions(SimpleNamespace(**part), tokenizer),
        positions=_patch_positions(part),
        tokenizer=tokenizer,
        **(_audio_clock(config) if stimuli_kind == "audio" else {}),
    )


def _tokenizer(directory: Any) -> Any:
    """The model's fast tokenizer, or None when it cannot be read from its folder."""
    if directory is None:
        return None
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(directory))
    except Exception:  # noqa: BLE001 - no tokenizer: tokens are then not counted
        return None


def _patch_positions(config: Mapping[str, Any]) -> int | None:
    """Patches (and tubelets) plus the class token of a vision or video transformer."""
    size, patch = config.get("image_size"), config.get("patch_size")
    if isinstance(size, list | tuple):
        size = size[0]
    if isinstance(patch, list | tuple):
        patch = patch[-1]
    if not (isinstance(size, int) and isinstance(patch, int) and patch > 0):
        return None
    positions = (size // patch) ** 2
    frames, tubelet = config.get("num_frames"), config.get("tubelet_size")
    if isinstance(frames, int) and frames > 0:
        positions *= frames // tubelet if isinstance(tubelet, int) and tubelet > 0 else frames
    return positions + 1


# ----------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class CellPlan:
    """The predicted cost of one (model, benchmark) cell.

    Attributes
    ----------
    model, benchmark : str
        The model id and the benchmark's versioned id.
    forward_passes_needed : int or None
        Forward passes (batches) the cell still needs; None when unknown.
    forward_passes_stored : int or None
        Forward passes the feature store saves (:mod:`brainalign.planning.store_hits`);
        None when the run has no store.
    feature_bytes : int or None
        Bytes of float32 features of every variant.
    peak_host_bytes, peak_device_bytes : int or None
        Predicted peak resident memory of the process, and of the accelerator (0 on
        the CPU).
    seconds : float or None
        Predicted wall time.
    refusal : str or None
        Why the cell would not fit (the :class:`DoesNotFitError` message), else None.
    parts : dict of str to int
        The terms of the peak (``baseline``, ``data``, ``weights``, ``activations``,
        ``features``, ``alignment``; bytes).
    notes : tuple of str
        What the plan could not predict, and why.
    """

    model: str
    benchmark: str
    forward_passes_needed: int | None
    forward_passes_stored: int | None
    feature_bytes: int | None
    peak_host_bytes: int | None
    peak_device_bytes: int | None
    seconds: float | None
    refusal: str | None = None
    parts: Mapping[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def resources(self, num_cpus: float = 1, num_gpus: float | None = 0) -> CellResources:
        """What the cell asks of a scheduler: ``brainalign.parallel.CellResources``, with
        the planned peak host memory.

        Parameters
        ----------
        num_cpus : float
            CPUs per cell.
        num_gpus : float or None
            GPUs per cell; None leaves them to the executor's rule.

        Raises
        ------
        ValueError
            When the peak host memory is unknown.
        """
        from brainalign.parallel import CellResources

        if self.peak_host_bytes is None:
            raise ValueError(
                f"the peak memory of {self.model} on {self.benchmark} is unknown "
                f"({'; '.join(self.notes) or 'no workload'}); give the resources yourself"
            )
        return CellResources(
            num_cpus=num_cpus, num_gpus=num_gpus, memory_bytes=int(self.peak_host_bytes)
        )


def _layer_counts(settings: RunSettings, card: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """Scored hidden states and the layers (>= 1) among them whose heads are captured."""
    if settings.layers is not None:
        return len(settings.layers), sum(1 for layer in settings.layers if layer >= 1)
    n_layers = card.get("n_layers")
    return (None, None) if n_layers is None else (int(n_layers) + 1, int(n_layers))


@dataclass
class _Cost:
    """Costs accumulated over a workload (internal)."""

    passes: int | None = 0
    feature_bytes: int | None = 0
    activations: int | None = 0
    forward_flops: float | None = 0.0
    notes: list[str] = field(default_factory=list)


def _add(total: Any, value: Any) -> Any:
    return None if total is None or value is None else total + value


def _tokens(texts: Sequence[str], tokenizer: Any) -> list[int] | None:
    """Tokens of each text (without special tokens); None without a tokenizer."""
    if tokenizer is None or not texts:
        return None
    encoded = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    return [len(ids) for ids in encoded]


def _text_inputs(
    item: StimulusSet, facts: ModelFacts, settings: RunSettings
) -> tuple[int, int, int] | None:
    """(model inputs, positions per input, token positions read in all) of a text set."""
    counts = _tokens(item.texts, facts.tokenizer)
    if counts is None:
        return None
    limit = facts.max_positions or 512
    total = sum(counts)
    if facts.is_causal and item.reading in ("story", "window", "passage"):
        return _causal_windows(counts, item.groups, limit)
    if item.reading == "window":
        words = settings.context_words or 16
        per_item = min(limit, max(counts) * words + 2)
        mean = min(limit, int(round(total / max(len(counts), 1))) * words + 2)
        return len(counts), per_item, mean * len(counts)
    if item.reading == "passage":  # bidirectional: sentence k read with sentences 1..k
        return len(counts), min(limit, total + 2), min(limit, total + 2) * len(counts)
    return len(counts), min(limit, max(counts) + 2), total + 2 * len(counts)


def _causal_windows(
    counts: Sequence[int], groups: Sequence[Any], limit: int
) -> tuple[int, int, int]:
    """(windows, positions per window, positions read) of a causal model reading each
    group's tokens in windows of ``limit`` positions every ``limit // 2``."""
    per_group: dict[Any, int] = {}
    for count, group in zip(counts, groups or [None] * len(counts), strict=True):
        per_group[group] = per_group.get(group, 0) + count
    stride = max(1, limit // 2)
    windows = [max(0, math.ceil((tokens - limit) / stride)) + 1 for tokens in per_group.values()]
    longest = min(limit, max(per_group.values()) + 1)
    read = sum(n * min(limit, tokens + 1) for n, tokens in zip(windows, per_group.values(),
                                                              strict=True))  # fmt: skip
    return sum(windows), longest, read


def _set_cost(
    item: StimulusSet, facts: ModelFacts, settings: RunSettings, batch: int, n_variants: int
) -> _Cost:
    """Forward passes, features, activations and FLOPs of one stimulus set."""
    card = facts.card
    cost = _Cost()
    n_states, n_head_layers = _layer_counts(settings, card)
    d_model, n_heads, head_dim = card.get("d_model"), card.get("n_heads"), card.get("head_dim")
    if item.kind == "surprisal":
        per_item = FIT_BYTES
    elif n_states is None or d_model is None:
        per_item = None
        cost.notes.append("the model's card gives no depth or width: feature bytes unknown")
    else:
        per_item = n_states * d_model * FEATURE_BYTES
        if item.heads and n_heads and head_dim:
            per_item += n_head_layers * n_heads * head_dim * FEATURE_BYTES
    n_items = item.n_items
    if item.kind == "audio" and item.seconds is not None and facts.frame_rate:
        n_items = int(item.seconds * facts.frame_rate)
    cost.feature_bytes = None if per_item is None else per_item * n_items * n_variants

    inputs, positions, token_positions = item.n_items, item.positions_per_item, None
    if item.kind in ("text", "surprisal"):
        read = _text_inputs(item, facts, settings)
        if read is None:  # activations bounded by the longest input; time unknown
            cost.notes.append("tokens not counted (no tokenizer or texts): time unknown")
            inputs, positions = item.n_inputs or item.n_items, facts.max_positions
            cost.forward_flops = None
        else:
            inputs, positions, token_positions = read
    elif item.kind in ("image", "video"):
        positions = positions or facts.positions
        inputs = item.n_inputs or item.n_items
    elif item.kind == "audio":
        inputs, positions = _audio_inputs(item, facts, cost)
    cost.passes = None if inputs is None else math.ceil(inputs / batch) * n_variants
    if token_positions is None and positions is not None and inputs is not None:
        token_positions = positions * inputs
    n_parameters = card.get("n_parameters")
    if n_parameters is None or cost.forward_flops is None or token_positions is None:
        cost.forward_flops = None
    else:
        cost.forward_flops = 2.0 * n_parameters * token_positions * n_variants
    if positions is None or d_model is None or card.get("n_layers") is None:
        cost.activations = None
    else:
        rows = min(batch, inputs or batch) * positions
        states = (int(card["n_layers"]) + 1) * rows * d_model * DTYPE_BYTES[settings.dtype]
        attention = min(batch, inputs or batch) * (n_heads or 1) * positions**2 * 4
        cost.activations = states + 2 * attention + rows * 4 * d_model * 4
    return cost


def _audio_inputs(
    item: StimulusSet, facts: ModelFacts, cost: _Cost
) -> tuple[int | None, int | None]:
    """(windows, frames per window) of an audio set; None with a note when unknown."""
    if item.seconds is None or not (facts.frame_rate and facts.window_s and facts.hop_s):
        cost.notes.append("audio windows unknown for this model or file: passes unknown")
        return item.n_inputs, None
    window = min(facts.window_s, item.seconds)
    windows = math.ceil(max(item.seconds - facts.window_s, 0.0) / facts.hop_s) + 1
    return item.n_inputs or windows, int(window * facts.frame_rate)


def alignment_bytes(fit: Fit, width: int, n_fits: int) -> int | None:
    """Peak bytes of one alignment step of ``fit`` on ``width`` feature columns.

    Ridge and TRF fits: :func:`brainalign.alignment.memory.encoding_peak_bytes` (float64)
    plus the task's float64 copy of the features. RSA: the float64 features, the square
    distance matrix and, when every layer's RDM is held at once (``stacked``), the
    ``n_fits`` condensed RDMs and their ranks. Similarity: both paired feature rows in
    float64. Triplets: the features and per-triplet similarities. Linear: a few columns.

    Returns
    -------
    int or None
        None for a ridge or TRF fit the memory model does not size (fewer than 2 folds).
    """
    n, targets = fit.n_samples, fit.n_targets
    copy = n * width * FIT_BYTES
    if fit.kind in ("ridge", "trf"):
        from brainalign.alignment.memory import encoding_peak_bytes

        options: dict[str, Any] = {
            "n_delays": fit.n_delays,
            "n_splits": fit.n_splits,
            "inner_splits": fit.inner_splits,
            "dtype": "float64",
        }
        if fit.n_alphas is not None:
            options["n_alphas"] = fit.n_alphas
        try:
            return int(encoding_peak_bytes(n, width, targets, **options)) + copy
        except ValueError:  # fewer than 2 folds or no targets: nothing this model sizes
            return None
    if fit.kind == "rsa":
        pairs = n * (n - 1) // 2
        stacked = (n_fits if fit.stacked else 1) * pairs * FIT_BYTES * 3
        return copy + 2 * n * n * FIT_BYTES + stacked + targets * pairs * FIT_BYTES
    if fit.kind == "similarity":
        return 2 * copy
    if fit.kind == "triplets":
        return copy + 3 * n * FIT_BYTES
    return 4 * n * FIT_BYTES


#: Samples at which a ridge fit's per-target time doubles from its fixed part (measured
#: on 2 cores: 0.27 ms per target at 100 samples, 0.56 ms at 400, 32 features).
_RIDGE_SAMPLE_SCALE = 170.0


def fit_seconds(fit: Fit, width: int, calibration: Calibration) -> float:
    """Predicted seconds of one alignment step on this machine.

    Ridge and TRF: the calibrated per-target time of a default fit
    (:attr:`~brainalign.planning.calibration.Calibration.ridge_seconds_per_target` at
    :data:`~brainalign.planning.calibration.RIDGE_SHAPE`), scaled by the targets, by
    ``(170 + n_samples)`` (per-target work grows with the rows), by the folds and the
    penalties, plus one eigendecomposition per fold (``6 n p min(n, p)`` FLOPs at the
    float64 rate). RSA: the distance matrix and the comparisons (``2 n^2 p + 10 n^2 t``
    FLOPs); others: a few passes over the features.
    """
    from brainalign.alignment.ridge import DEFAULT_ALPHAS
    from brainalign.planning.calibration import RIDGE_SHAPE

    n, t = float(fit.n_samples), float(fit.n_targets)
    rate = calibration.gflops_float64 * 1e9
    if fit.kind in ("ridge", "trf"):
        p = float(width * fit.n_delays)
        folds = fit.n_splits * (1 + fit.inner_splits)
        per_target = (
            calibration.ridge_seconds_per_target
            * (_RIDGE_SAMPLE_SCALE + n) / (_RIDGE_SAMPLE_SCALE + RIDGE_SHAPE[0])
            * fit.n_splits * fit.inner_splits / 25.0
            * (fit.n_alphas or len(DEFAULT_ALPHAS)) / len(DEFAULT_ALPHAS)
        )  # fmt: skip
        return per_target * t + folds * 6.0 * n * p * min(n, p) / rate
    if fit.kind == "rsa":
        return (2.0 * n * n * width + 10.0 * n * n * t) / rate
    return 6.0 * n * width / rate


def _fit_count(fit: Fit, settings: RunSettings, card: Mapping[str, Any]) -> int | None:
    """How many times ``fit`` runs for one variant (layers, heads or once) x repeats."""
    n_states, n_head_layers = _layer_counts(settings, card)
    if fit.over == "once":
        return fit.repeats
    if fit.over == "layers":
        return None if n_states is None else n_states * fit.repeats
    n_heads = card.get("n_heads")
    return None if n_head_layers is None or not n_heads else n_head_layers * n_heads * fit.repeats


def _fits_cost(
    workload: Workload,
    settings: RunSettings,
    card: Mapping[str, Any],
    calibration: Calibration | None,
) -> tuple[int | None, float | None, list[str]]:
    """Peak bytes of the largest alignment step and the seconds of all steps (one
    variant; seconds None without a calibration)."""
    peak: int | None = 0
    seconds: float | None = 0.0 if calibration is not None else None
    notes = []
    for fit in workload.fits:
        width = fit.width.resolve(card)
        count = _fit_count(fit, settings, card)
        if width is None or count is None:
            notes.append(f"{fit.kind} fit: the model's card gives no width or depth")
            peak, seconds = None, None
            continue
        if count == 0:
            continue
        size = alignment_bytes(fit, width, count)
        if size is None:
            notes.append(f"{fit.kind} fit memory: fewer than 2 folds, not sized")
        peak = None if peak is None or size is None else max(peak, size)
        if seconds is not None and calibration is not None:
            seconds += fit_seconds(fit, width, calibration) * count
    return peak, seconds, notes


def _weights_bytes(card: Mapping[str, Any], settings: RunSettings) -> int | None:
    n_parameters = card.get("n_parameters")
    return None if n_parameters is None else int(n_parameters) * DTYPE_BYTES[settings.dtype]


def cost_workload(
    workload: Workload | None,
    settings: RunSettings,
    benchmark: Benchmark,
    facts: ModelFacts,
    *,
    baseline_bytes: int,
    calibration: Calibration | None = None,
    prepare_seconds: float = 0.0,
) -> CellPlan:
    """The :class:`CellPlan` of a prepared task's workload (no refusal check).

    Parameters
    ----------
    workload : Workload or None
        The task's; None for a task without ``workload()`` (then only the model's own
        terms are known).
    settings : RunSettings
    benchmark : Benchmark
    facts : ModelFacts
    baseline_bytes : int
        Resident memory the cell starts from.
    calibration : Calibration, optional
        This machine's rates (no time prediction without it).
    prepare_seconds : float
        Measured seconds to prepare the task (added to the predicted time).
    """
    card = facts.card
    weights = _weights_bytes(card, settings)
    notes: list[str] = [] if weights is not None else ["the model's card gives no size"]
    name = dict(model=settings.model, benchmark=benchmark.versioned_id)
    if workload is None:
        notes.append(f"{benchmark.versioned_id} does not describe its workload (no workload())")
        return CellPlan(**name, forward_passes_needed=None, forward_passes_stored=None,
                        feature_bytes=None, peak_host_bytes=None, peak_device_bytes=None,
                        seconds=None, notes=tuple(notes))  # fmt: skip
    n_variants = len(settings.variants)
    batch = settings.batch_size_for(benchmark)
    total = _Cost()
    for item in workload.stimuli:
        part = _set_cost(item, facts, settings, batch, n_variants)
        total.passes = _add(total.passes, part.passes)
        total.feature_bytes = _add(total.feature_bytes, part.feature_bytes)
        total.activations = (
            None if None in (total.activations, part.activations)
            else max(total.activations, part.activations)
        )  # fmt: skip
        total.forward_flops = _add(total.forward_flops, part.forward_flops)
        notes += part.notes
    fit_peak, fit_time, fit_notes = _fits_cost(workload, settings, card, calibration)
    notes += fit_notes
    held = None if total.feature_bytes is None else total.feature_bytes // n_variants
    on_device = settings.device.startswith("cuda")
    encode = _sum(weights, total.activations, held)
    score = _sum(held, 0 if on_device and settings.alignment_device() else fit_peak)
    peak_host = (
        None if encode is None or score is None
        else baseline_bytes + workload.data_bytes + max(encode, score)
    )  # fmt: skip
    peak_device = 0
    if on_device:
        fits_there = fit_peak if settings.alignment_device() else 0
        peak_device = _sum(_sum(weights, total.activations), fits_there)
    seconds = None
    if calibration is not None and total.forward_flops is not None and fit_time is not None:
        forward = total.forward_flops / (calibration.gflops_float32 * 1e9)
        seconds = prepare_seconds + forward + fit_time * n_variants
    parts = {"baseline": baseline_bytes, "data": workload.data_bytes, "weights": weights,
             "activations": total.activations, "features": held, "alignment": fit_peak}  # fmt: skip
    needed, saved = total.passes, None
    n_stored = stored_variants(settings, benchmark)
    if n_stored is not None and needed is not None:
        saved = needed // n_variants * n_stored
        needed -= saved
        if seconds is not None and total.forward_flops is not None:
            seconds -= (
                total.forward_flops * n_stored / n_variants / (calibration.gflops_float32 * 1e9)
            )
    return CellPlan(
        **name,
        forward_passes_needed=needed,
        forward_passes_stored=saved,
        feature_bytes=total.feature_bytes,
        peak_host_bytes=peak_host,
        peak_device_bytes=peak_device,
        seconds=seconds,
        parts={k: int(v) for k, v in parts.items() if v is not None},
        notes=tuple(dict.fromkeys(notes + list(workload.notes))),
    )


def _sum(*values: int | None) -> int | None:
    return None if any(v is None for v in values) else sum(values)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- refusal


def _without_heads(workload: Workload) -> Workload:
    return dataclasses.replace(
        workload,
        stimuli=tuple(dataclasses.replace(s, heads=False) for s in workload.stimuli),
        fits=tuple(f for f in workload.fits if f.over != "heads"),
    )


def _remedies(
    fits: Callable[[Workload, RunSettings], bool],
    workload: Workload,
    settings: RunSettings,
    benchmark: Benchmark,
    card: Mapping[str, Any],
) -> list[str]:
    """Options of the run that make the plan fit (each planned again)."""
    found = []
    no_heads = dataclasses.replace(settings, heads=False)
    if settings.heads and fits(_without_heads(workload), no_heads):
        found.append("drop --heads (heads=False)")
    n_states, _ = _layer_counts(settings, card)
    if benchmark.uses_layers and n_states and n_states > 1:
        last = (settings.layers or tuple(range(n_states)))[-1]
        for k in range(n_states - 1, 0, -1):
            chosen = _spread(settings.layers or tuple(range(n_states)), k, last)
            if fits(workload, dataclasses.replace(settings, layers=chosen)):
                listed = ",".join(str(layer) for layer in chosen)
                found.append(f"score at most {k} layers (e.g. --layers {listed})")
                break
    for dtype in ("bfloat16",) if settings.dtype == "float32" else ():
        if fits(workload, dataclasses.replace(settings, dtype=dtype)):
            found.append(f"--dtype {dtype}")
    batch = settings.batch_size_for(benchmark)
    if batch > 1 and fits(workload, dataclasses.replace(settings, batch_size=1)):
        smallest = 1
        for size in (batch // 2, batch // 4, batch // 8):
            if size >= 1 and fits(workload, dataclasses.replace(settings, batch_size=size)):
                smallest = size
                break
        found.append(f"--batch-size {smallest}")
    return found


def _spread(layers: Sequence[int], k: int, last: int) -> tuple[int, ...]:
    """``k`` of ``layers``, evenly spread, the last always kept."""
    if k >= len(layers):
        return tuple(layers)
    picks = {layers[round(i * (len(layers) - 1) / max(k - 1, 1))] for i in range(k)} | {last}
    return tuple(sorted(picks))[-k:]


def _refusal(
    plan: CellPlan,
    workload: Workload | None,
    settings: RunSettings,
    benchmark: Benchmark,
    facts: ModelFacts,
    *,
    available_bytes: int,
    replan: Callable[[Workload, RunSettings], CellPlan],
) -> tuple[CellPlan, DoesNotFitError | None]:
    """``plan`` with its refusal set when its peak exceeds ``available_bytes``.

    Parameters
    ----------
    plan : CellPlan
    workload, settings, benchmark, facts
        What ``plan`` was made from.
    available_bytes : int
        Host memory the cell may use at its peak (including what it starts from).
    replan : callable
        ``replan(workload, settings) -> CellPlan``: plans a variant of the run.

    Returns
    -------
    plan : CellPlan
        ``plan``, or a copy whose ``refusal`` is the :class:`DoesNotFitError` message.
    error : DoesNotFitError or None
    """
    if workload is None or plan.peak_host_bytes is None or plan.peak_host_bytes <= available_bytes:
        return plan, None

    def fits(variant: Workload, changed: RunSettings) -> bool:
        peak = replan(variant, changed).peak_host_bytes
        return peak is not None and peak <= available_bytes

    error = DoesNotFitError(
        settings.model,
        benchmark.versioned_id,
        where="host",
        needed_bytes=plan.peak_host_bytes,
        available_bytes=available_bytes,
        remedies=_remedies(fits, workload, settings, benchmark, facts.card),
    )
    return dataclasses.replace(plan, refusal=str(error)), error


def _resident_bytes() -> int:
    """This process's resident set size (bytes), from /proc, else psutil."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import psutil

        return int(psutil.Process().memory_info().rss)


def check_cell_fits(settings: RunSettings, benchmark: Benchmark, task: Any) -> CellPlan | None:
    """Refuse, inside a run and before any forward pass, a cell that would not fit.

    Plans the prepared ``task`` from this process's own resident memory (the baseline)
    against what is available now plus that memory. Called by
    :meth:`brainalign.benchmarks.benchmark.Benchmark.run` after preparing the task; a
    task without ``workload()`` is not checked, and neither is any run while the
    environment variable ``BRAINALIGN_PLAN_CHECK`` is ``0``.

    Returns
    -------
    CellPlan or None
        The plan (None when not checked).

    Raises
    ------
    DoesNotFitError
        When the predicted peak exceeds the available memory (with the options that
        make the cell fit).
    """
    if not hasattr(task, "workload") or os.environ.get("BRAINALIGN_PLAN_CHECK", "1") == "0":
        return None
    from brainalign.alignment.memory import available_memory_bytes

    resident = _resident_bytes()
    return plan_cell(
        settings, benchmark, task=task, baseline_bytes=resident,
        available_bytes=available_memory_bytes() + resident, raise_refusal=True,
    )  # fmt: skip


def plan_cell(
    settings: RunSettings,
    benchmark: Benchmark,
    *,
    calibration: Calibration | None = None,
    task: Any = None,
    baseline_bytes: int | None = None,
    available_bytes: int | None = None,
    raise_refusal: bool = False,
) -> CellPlan:
    """Plan one cell: prepare its task (data only), read its workload, cost it.

    Parameters
    ----------
    settings : RunSettings
    benchmark : Benchmark
    calibration : Calibration, optional
        Default :func:`brainalign.planning.calibration.machine_calibration` (cached).
    task : BenchmarkTask, optional
        An already prepared task (``Benchmark.run`` passes its own); default prepared
        here, timed.
    baseline_bytes : int, optional
        Resident memory the cell starts from; default the calibration's baseline.
    available_bytes : int, optional
        Memory the cell may use at its peak; default
        :func:`brainalign.alignment.memory.available_memory_bytes` (host).
    raise_refusal : bool, default False
        Raise the :class:`DoesNotFitError` instead of returning a refused plan.

    Returns
    -------
    CellPlan
        With ``refusal`` set when the cell would not fit.

    Raises
    ------
    brainalign.benchmarks.benchmark.MissingBenchmarkDataError
        When the benchmark's data is not available offline.
    DoesNotFitError
        With ``raise_refusal``, when the cell would not fit.
    """
    from brainalign.benchmarks.settings import check_settings

    check_settings(benchmark, settings)
    if calibration is None and (baseline_bytes is None or task is None):
        from brainalign.planning.calibration import machine_calibration as calibrated

        calibration = calibrated()
    start = time.perf_counter()
    if task is None:
        benchmark.check_data()
        task = benchmark.resolve_runner()(benchmark, settings)
    prepare_seconds = time.perf_counter() - start
    facts = model_facts(settings.model, benchmark.stimuli_kind)
    workload = task.workload() if hasattr(task, "workload") else None
    baseline = calibration.baseline_bytes if baseline_bytes is None else baseline_bytes

    def replan(variant: Workload | None, changed: RunSettings) -> CellPlan:
        return cost_workload(
            variant, changed, benchmark, facts, baseline_bytes=baseline,
            calibration=calibration, prepare_seconds=prepare_seconds,
        )  # fmt: skip

    plan = replan(workload, settings)
    if available_bytes is None:
        from brainalign.alignment.memory import available_memory_bytes

        available_bytes = available_memory_bytes()
    plan, error = _refusal(
        plan, workload, settings, benchmark, facts, available_bytes=available_bytes, replan=replan
    )
    if error is not None and raise_refusal:
        raise error
    return plan


def plan_cells(
    settings: Sequence[RunSettings],
    benchmarks: Sequence[Benchmark],
    *,
    calibration: Calibration | None = None,
    available_bytes: int | None = None,
) -> list[CellPlan]:
    """:func:`plan_cell` of every (model, benchmark) cell, models first.

    A cell whose data is missing gets a plan of unknowns with the reason in its notes.
    """
    from brainalign.benchmarks.benchmark import MissingBenchmarkDataError
    from brainalign.planning.calibration import machine_calibration as calibrated

    calibration = calibration or calibrated()
    plans = []
    for run in settings:
        for benchmark in benchmarks:
            try:
                plans.append(
                    plan_cell(run, benchmark, calibration=calibration,
                              available_bytes=available_bytes)
                )  # fmt: skip
            except MissingBenchmarkDataError as error:
                why = str(error).splitlines()[0]
                plans.append(
                    CellPlan(run.model, benchmark.versioned_id, None, None, None, None, None,
                             None, notes=(why,))
                )  # fmt: skip
    return plans


def plan_sweep(config: Any, *, calibration: Calibration | None = None) -> list[CellPlan]:
    """The plans of a sweep's cells (every model on every benchmark and study).

    Parameters
    ----------
    config : SweepConfig, mapping or path to a YAML file
        As :func:`brainalign.sweeps.sweep` takes it.

    Raises
    ------
    brainalign.sweeps.SweepConfigError
        For an invalid configuration (the same checks as the sweep).
    """
    from brainalign.sweeps import SweepConfig, load_config, parse_config, sweep_cells

    if not isinstance(config, SweepConfig):
        config = parse_config(config) if isinstance(config, Mapping) else load_config(config)
    runs, benchmarks = sweep_cells(config)
    return plan_cells(runs, benchmarks, calibration=calibration)


# ----------------------------------------------------------------------------- printing


def _size(n_bytes: int | None) -> str:
    if n_bytes is None:
        return "unknown"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{n_bytes} B"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


def format_plans(plans: Sequence[CellPlan]) -> str:
    """The plan table: one line per cell, then each cell's notes and refusals.

    Columns: model, benchmark, forward passes needed, stored (``no store`` when the run
    has none), feature bytes, peak host and device memory, time.
    """
    header = ("model", "benchmark", "passes", "stored", "features", "peak host",
              "peak device", "time")  # fmt: skip
    rows = [header]
    for plan in plans:
        needed, stored = plan.forward_passes_needed, plan.forward_passes_stored
        passes = "unknown" if needed is None else str(needed)
        stored = "no store" if stored is None else str(stored)
        rows.append(
            (plan.model, plan.benchmark, passes, stored, _size(plan.feature_bytes),
             _size(plan.peak_host_bytes), _size(plan.peak_device_bytes), _duration(plan.seconds))
        )  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]  # fmt: skip
    for plan in plans:
        for note in plan.notes:
            lines.append(f"note: {plan.model} on {plan.benchmark}: {note}")
        if plan.refusal:
            lines.append(f"refused: {plan.refusal}")
    return "\n".join(lines)


def planned_resources(
    *, calibration: Calibration | None = None, log: Callable[[str], None] | None = None
) -> Callable[[CellTask], CellResources | None]:
    """``resources_of`` for :func:`brainalign.sweeps.sweep` on Ray: each cell's memory
    from its plan (:func:`plan_cell`, the peak host memory), one CPU, and GPUs by the
    executor's rule (``ray.num_gpus_per_task`` where the cluster has GPUs).

    A cell whose plan fails or whose peak is unknown declares nothing (None: the
    executor's default, one CPU), and ``log`` says why. A plan never refuses a cell
    here: whether it fits is the cluster's question (a cell no node can hold is refused
    by the executor before anything runs).
    """
    log = log or (lambda line: None)
    cached: list[Calibration] = []

    def resources_of(task: CellTask) -> CellResources | None:
        from brainalign.planning.calibration import machine_calibration

        if not cached:
            cached.append(calibration or machine_calibration())
        try:
            plan = plan_cell(task.settings, task.benchmark, calibration=cached[0])
            return plan.resources(num_gpus=None)
        except Exception as error:  # noqa: BLE001 - the plan is advice; the default stands
            log(f"no memory plan for {task.label} ({type(error).__name__}: {error}); one CPU")
            return None

    return resources_of
