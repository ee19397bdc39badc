"""What a prepared benchmark task will do: the stimulus sets it encodes and the fits it runs.

A task (:class:`~brainalign.benchmarks.benchmark.BenchmarkTask`) that can say what it
will compute returns a :class:`Workload` from its optional ``workload()`` method, after
its data is loaded and before any model runs. Widths that depend on the model are
:class:`Width` values, resolved against the model's card
(:func:`brainalign.encoders.cards.model_card`) by :mod:`brainalign.planning.cost`, so a
workload never loads weights.

Everything here is counts and shapes; :mod:`brainalign.planning.cost` turns them into
forward passes, bytes and seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from brainalign.benchmarks.settings import RunSettings

__all__ = [
    "FIT_KINDS",
    "STIMULUS_KINDS",
    "Fit",
    "StimulusSet",
    "Width",
    "Workload",
    "feature_set_fits",
    "text_set",
]

#: What a stimulus set is read as: the encoder that reads it.
STIMULUS_KINDS = ("text", "image", "audio", "video", "surprisal")

#: Alignment steps whose memory and time :mod:`brainalign.planning.cost` models.
FIT_KINDS = ("ridge", "trf", "rsa", "similarity", "triplets", "linear")


@dataclass(frozen=True)
class Width:
    """A feature width: the model's (``"hidden"``: ``d_model``; ``"head"``: ``head_dim``)
    or a fixed number of columns (``"fixed"``).

    Attributes
    ----------
    per : {"hidden", "head", "fixed"}
    columns : int or None
        The width of a ``"fixed"`` width.
    """

    per: str = "hidden"
    columns: int | None = None

    def __post_init__(self) -> None:
        if self.per not in ("hidden", "head", "fixed"):
            raise ValueError(f"Width per={self.per!r}: use 'hidden', 'head' or 'fixed'")
        if self.per == "fixed" and (self.columns is None or self.columns < 1):
            raise ValueError(f"a fixed Width needs columns >= 1, not {self.columns!r}")

    def resolve(self, card: Mapping[str, Any]) -> int | None:
        """Columns for a model with ``card`` (``d_model``, ``head_dim``); None if unknown."""
        if self.per == "fixed":
            return self.columns
        value = card.get("d_model" if self.per == "hidden" else "head_dim")
        return int(value) if value else None


@dataclass(frozen=True)
class StimulusSet:
    """One set of stimuli a model variant reads (one store entry, in general).

    Attributes
    ----------
    kind : {"text", "image", "audio", "video", "surprisal"}
        The encoder reading it (``"surprisal"``: a causal LM's head, one value per word).
    n_items : int
        Rows of the features (words, sentences, images, frames or clips).
    label : str
        What it is, for the plan table (``"999 words"``).
    heads : bool
        Whether per-head features (``"L.heads"``) are captured too.
    reading : str
        How text is read: ``"isolated"`` (each item alone), ``"passage"`` (with the
        earlier items of its group), ``"window"`` (each word with its preceding words)
        or ``"story"`` (causal windows over a whole text); empty for other kinds.
    texts : tuple of str
        The items' texts (text and surprisal sets), for counting tokens with the model's
        tokenizer; empty when not known.
    seconds : float or None
        Total duration of audio or video read (seconds).
    positions_per_item : int or None
        Model positions per item when the task knows them (patches of an image); None:
        derived from the model's config where possible.
    n_inputs : int or None
        Model inputs (windows, clips) when they are not the items (audio frames come
        from windows of the waveform); None: one input per item, or not known.
    groups : tuple
        The passage or story of each text, when a causal model reads each group in its
        own windows; empty: one text.
    """

    kind: str
    n_items: int
    label: str = ""
    heads: bool = False
    reading: str = ""
    texts: tuple[str, ...] = ()
    seconds: float | None = None
    positions_per_item: int | None = None
    n_inputs: int | None = None
    groups: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in STIMULUS_KINDS:
            raise ValueError(f"StimulusSet kind={self.kind!r}: use one of {STIMULUS_KINDS}")
        if self.n_items < 0:
            raise ValueError(f"StimulusSet n_items={self.n_items!r} must be >= 0")
        object.__setattr__(self, "texts", tuple(str(t) for t in self.texts))
        object.__setattr__(self, "groups", tuple(self.groups))
        if self.groups and len(self.groups) != len(self.texts):
            raise ValueError(
                f"StimulusSet groups: {len(self.groups)} for {len(self.texts)} texts; give "
                "one group per text"
            )


@dataclass(frozen=True)
class Fit:
    """One alignment step, run once per feature set it is ``over``.

    Attributes
    ----------
    kind : {"ridge", "trf", "rsa", "similarity", "triplets", "linear"}
    n_samples : int
        Rows fitted (samples, items, pairs or triplets).
    n_targets : int
        Columns predicted or compared (units, channels x times, RDMs).
    width : Width
        Feature columns of one fit (before delays).
    over : {"layers", "heads", "once"}
        Run for every scored layer, every scored (layer, head), or once (a control).
    repeats : int
        Times each is run (once per subject, per data RDM set, ...).
    n_delays : int
        FIR delays or TRF lags (the design is ``width * n_delays`` wide).
    n_splits, inner_splits : int
        Outer and inner cross-validation folds (ridge and TRF).
    n_alphas : int or None
        Ridge penalties tried (None: the encoding default).
    stacked : bool
        RSA: whether every layer's RDM is held at once (compared in one call).
    """

    kind: str
    n_samples: int
    n_targets: int
    width: Width = field(default_factory=Width)
    over: str = "layers"
    repeats: int = 1
    n_delays: int = 1
    n_splits: int = 5
    inner_splits: int = 5
    n_alphas: int | None = None
    stacked: bool = False

    def __post_init__(self) -> None:
        if self.kind not in FIT_KINDS:
            raise ValueError(f"Fit kind={self.kind!r}: use one of {FIT_KINDS}")
        if self.over not in ("layers", "heads", "once"):
            raise ValueError(f"Fit over={self.over!r}: use 'layers', 'heads' or 'once'")


@dataclass(frozen=True)
class Workload:
    """What one prepared task computes for one model variant (the twin repeats it).

    Attributes
    ----------
    stimuli : tuple of StimulusSet
        Sets read by each model variant (through the feature store when the run has one).
    fits : tuple of Fit
        Alignment steps, run one after the other.
    data_bytes : int
        Bytes of the loaded data the task holds while it scores (responses, RDMs).
    notes : tuple of str
        What the plan cannot predict (said next to it, never guessed).
    """

    stimuli: tuple[StimulusSet, ...] = ()
    fits: tuple[Fit, ...] = ()
    data_bytes: int = 0
    notes: tuple[str, ...] = ()


def feature_set_fits(
    settings: RunSettings,
    kind: str,
    *,
    n_samples: int,
    n_targets: int,
    control_width: int | Width | None = None,
    **options: Any,
) -> tuple[Fit, ...]:
    """The fits of a task that scores every layer (and, with ``settings.heads``, every
    head) the same way, and its control once.

    Parameters
    ----------
    settings : RunSettings
        The run (``heads`` adds the per-head fits).
    kind : str
        :data:`FIT_KINDS`.
    n_samples, n_targets : int
        As :class:`Fit`.
    control_width : int or Width, optional
        The control's width (an int: fixed columns; ``Width()``: as wide as the model's
        last layer); None: no control fit.
    **options
        Other :class:`Fit` fields (``n_delays``, ``n_splits``, ``repeats``, ...).

    Returns
    -------
    tuple of Fit
    """
    fits = [Fit(kind, n_samples, n_targets, Width("hidden"), "layers", **options)]
    if settings.heads:
        fits.append(Fit(kind, n_samples, n_targets, Width("head"), "heads", **options))
    if control_width is not None:
        width = control_width if isinstance(control_width, Width) else Width("fixed", control_width)
        fits.append(Fit(kind, n_samples, n_targets, width, "once", **options))
    return tuple(fits)


def text_set(
    texts: Sequence[Any],
    reading: str,
    settings: RunSettings,
    label: str = "",
    groups: Sequence[Any] = (),
) -> StimulusSet:
    """A :class:`StimulusSet` of texts read by the text encoder under ``settings``
    (``groups``: the passage or story of each text)."""
    items = tuple(str(t) for t in texts)
    return StimulusSet(
        "text",
        len(items),
        label or f"{len(items)} texts",
        heads=settings.heads,
        reading=reading,
        texts=items,
        groups=tuple(groups),
    )
