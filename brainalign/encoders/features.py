"""``Features``: what a model did with a set of stimuli, layer by layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import numpy as np

__all__ = ["Features", "NonFiniteFeaturesError", "check_finite"]


class NonFiniteFeaturesError(ValueError):
    """A model gave inf or NaN features (e.g. float16 overflowing on large activations).

    Raised by the encoders before anything is returned or written to a feature store; the
    message names the model, its weights and dtype, every layer (and head or block array)
    affected, how many values, and what to do (float32 or bfloat16).
    """


def check_finite(pooled: dict[str, np.ndarray], provenance: dict[str, Any], where: str) -> None:
    """Raise unless every value of every array of one batch is finite.

    Parameters
    ----------
    pooled : dict of str to numpy.ndarray, each shape (n_batch_items, ...)
        One batch of features by array name (``"1"``, ``"1.heads"``, ...).
    provenance : dict
        The features' provenance: ``model``, ``weights`` and ``dtype`` name them.
    where : str
        Which items the batch holds, for the message (``"items 0-31 of 92"``).

    Raises
    ------
    NonFiniteFeaturesError
        Naming the model, the arrays with inf or NaN (their count of each), and the fix.
    """
    bad = []
    for name, values in pooled.items():
        finite = np.isfinite(values)
        if finite.all():
            continue
        n_nan = int(np.isnan(values).sum())
        n_inf = int(values.size - finite.sum()) - n_nan
        bad.append(
            f"{_array_name(name)}: {n_nan + n_inf} of {values.size} values "
            f"({n_inf} inf, {n_nan} NaN)"
        )
    if not bad:
        return
    raise NonFiniteFeaturesError(non_finite_message(provenance, "; ".join(bad), where))


def non_finite_message(provenance: dict[str, Any], what: str, where: str) -> str:
    """The message of :class:`NonFiniteFeaturesError`: model, ``what`` was not finite, fix."""
    model = provenance.get("model") or "(model unknown)"
    weights = provenance.get("weights")
    dtype = str(provenance.get("dtype") or "float32")
    named = f"model {model!r} ({f'{weights} weights, ' if weights else ''}dtype {dtype})"
    if dtype == "float32":
        advice = (
            "in float32 this means the weights or inputs themselves overflow or hold inf/NaN: "
            "check the model's weights"
        )
    else:
        limit = " (its largest value is 65504)" if dtype == "float16" else ""
        advice = (
            f"{dtype} overflows on large activations{limit}: run in float32 or bfloat16 "
            "(dtype='float32' in Python, `--dtype float32` on the command line)"
        )
    return (
        f"{named} gave non-finite features for {where}: {what}; {advice}. "
        "Nothing was stored or returned."
    )


def _array_name(name: str) -> str:
    """``"layer 1"`` for ``"1"``; ``"layer 1 (heads array '1.heads')"`` for ``"1.heads"``."""
    layer, dot, kind = name.partition(".")
    if not dot:
        return f"layer {name}" if name.isdigit() else f"array {name!r}"
    return f"layer {layer} ({kind} array {name!r})"


@dataclass(frozen=True, repr=False)
class Features:
    """Per-layer model features for one model and one stimulus set.

    Parameters
    ----------
    layers : dict of str to numpy.ndarray, each shape (n_items, n_dims) or (n_items, ...)
        Arrays keyed by layer name (``"0"`` is the embedding output, ``"1"`` the first
        block, ...), in model order. Rows are aligned to ``stimulus_ids``. Arrays with
        more axes hold structured features, e.g. per-head outputs of shape
        (n_items, n_heads, d_head).
    stimulus_ids : numpy.ndarray, shape (n_items,)
        Which stimulus each row belongs to.
    onsets : numpy.ndarray, shape (n_items,), optional
        Onset in seconds of each item on the recording's clock (continuous stimuli).
    provenance : dict
        How the features were made: ``model`` (id), ``weights`` (``pretrained`` or
        ``untrained``), ``revision`` or weights hash, ``pooling``, ``context``,
        ``dtype``, ``n_layers``.

    Notes
    -----
    ``repr(features)`` is one line that never shows the arrays, e.g.
    ``<Features all-MiniLM-L6-v2 (pretrained): 7 layers x 384 dims, 92 items, float32;
    heads: 6 layers x (12, 32)>``: the model (a local directory by its last part), the
    weights, the hidden-state layers and their trailing shapes, the items and the dtypes,
    then each kind of per-layer capture (``"L.heads"``, ``"L.attention"``, ...).
    """

    layers: dict[str, np.ndarray]
    stimulus_ids: np.ndarray
    onsets: np.ndarray | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.layers:
            raise ValueError("Features need at least one layer")
        n_items = len(self.stimulus_ids)
        for name, array in self.layers.items():
            if array.ndim < 2 or array.shape[0] != n_items:
                raise ValueError(
                    f"layer {name!r} has shape {array.shape}; expected ({n_items}, n_dims) "
                    "or more axes after the items"
                )
        if self.onsets is not None and len(self.onsets) != n_items:
            raise ValueError(f"onsets has {len(self.onsets)} entries; expected {n_items}")

    @property
    def layer_names(self) -> list[str]:
        """Layer names in model order."""
        return list(self.layers)

    @property
    def n_items(self) -> int:
        """Number of items (rows)."""
        return len(self.stimulus_ids)

    def __getitem__(self, layer: str | int) -> np.ndarray:
        key = str(layer)
        if key not in self.layers:
            raise KeyError(f"no layer {layer!r}; layers are {self.layer_names}")
        return self.layers[key]

    def __repr__(self) -> str:
        model = str(self.provenance.get("model") or "")
        if model and (PurePath(model).is_absolute() or model.startswith((".", "~"))):
            model = PurePath(model).name or model  # a local directory: its last part
        weights = self.provenance.get("weights")
        head = " ".join(
            part for part in (model or "(model unknown)", f"({weights})" if weights else "") if part
        )
        hidden = [name for name in self.layers if "." not in name]
        kinds: dict[str, list[str]] = {}
        for name in self.layers:
            if "." in name:
                kinds.setdefault(name.split(".", 1)[1], []).append(name)
        dtypes = sorted({str(array.dtype) for array in self.layers.values()})
        parts = []
        if hidden:
            parts.append(_describe(hidden, self.layers))
        parts.append(f"{self.n_items} items")
        parts.append("/".join(dtypes) + (", with onsets" if self.onsets is not None else ""))
        summary = ", ".join(parts)
        captures = "".join(
            f"; {kind}: {_describe(names, self.layers)}" for kind, names in kinds.items()
        )
        return f"<Features {head}: {summary}{captures}>"


def _describe(names: list[str], layers: dict[str, np.ndarray]) -> str:
    """``"7 layers x 384 dims"``, ``"2 layers x 16-64 dims"`` or ``"6 layers x (12, 32)"``."""
    tails = [tuple(layers[name].shape[1:]) for name in names]
    count = f"{len(names)} layer{'s' if len(names) != 1 else ''}"
    if all(len(tail) == 1 for tail in tails):
        sizes = sorted({tail[0] for tail in tails})
        dims = str(sizes[0]) if len(sizes) == 1 else f"{sizes[0]}-{sizes[-1]}"
        return f"{count} x {dims} dims"
    distinct = list(dict.fromkeys(tails))
    return f"{count} x {distinct[0]}" if len(distinct) == 1 else f"{count}, mixed shapes"
