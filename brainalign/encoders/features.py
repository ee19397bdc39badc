"""``Features``: what a model did with a set of stimuli, layer by layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
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
