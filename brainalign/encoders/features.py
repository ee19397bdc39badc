"""``Features``: what a model did with a set of stimuli, layer by layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import numpy as np

__all__ = ["Features"]


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
