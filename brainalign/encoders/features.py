"""``Features``: what a model did with a set of stimuli, layer by layer."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from brainalign._io import atomic_path

FORMAT_VERSION = 1


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

    def save(self, directory: str | os.PathLike) -> Path:
        """Write the features to ``directory`` (one ``.npy`` per layer plus JSON metadata).

        Every file is written atomically; ``features.json`` is written last, so a
        directory without it is incomplete and :meth:`load` refuses it.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for index, array in enumerate(self.layers.values()):
            with atomic_path(directory / f"layer-{index:03d}.npy") as temp:
                with open(temp, "wb") as handle:
                    np.save(handle, array)
        arrays = {"stimulus_ids": np.asarray(self.stimulus_ids).astype(str)}
        if self.onsets is not None:
            arrays["onsets"] = np.asarray(self.onsets, dtype=np.float64)
        for key, array in arrays.items():
            with atomic_path(directory / f"{key}.npy") as temp:
                with open(temp, "wb") as handle:
                    np.save(handle, array)
        metadata = {
            "format_version": FORMAT_VERSION,
            "layers": self.layer_names,
            "provenance": self.provenance,
        }
        with atomic_path(directory / "features.json") as temp:
            temp.write_text(json.dumps(metadata, indent=2, default=str))
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike, mmap: bool = True) -> Features:
        """Read features written by :meth:`save`, memory-mapped by default."""
        directory = Path(directory)
        meta_path = directory / "features.json"
        if not meta_path.exists():
            raise FileNotFoundError(
                f"{str(directory)!r} holds no complete feature set (features.json missing)"
            )
        metadata = json.loads(meta_path.read_text())
        if metadata.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{meta_path}: format_version {metadata.get('format_version')!r} is not "
                f"{FORMAT_VERSION}; re-extract the features"
            )
        mode = "r" if mmap else None
        layers = {
            name: np.load(directory / f"layer-{index:03d}.npy", mmap_mode=mode)
            for index, name in enumerate(metadata["layers"])
        }
        onsets_path = directory / "onsets.npy"
        return cls(
            layers=layers,
            stimulus_ids=np.load(directory / "stimulus_ids.npy"),
            onsets=np.load(onsets_path) if onsets_path.exists() else None,
            provenance=metadata["provenance"],
        )
