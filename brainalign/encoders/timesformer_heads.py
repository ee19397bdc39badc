"""Per-head and per-block capture of TimeSformer's divided space-time blocks.

A TimeSformer block (``transformers``' ``TimesformerLayer``, ``attention_type=
"divided_space_time"``) reads the layer's tokens -- the CLS token, then the patch tokens
in (patch row, patch column, frame) order, ``1 + n_patches * n_frames`` of them -- and
runs two attentions over other token sets:

1. **temporal**: over each patch's frames, ``(batch * n_patches, n_frames, d_model)``;
   its output goes through ``temporal_dense`` and is added to the patch tokens (the CLS
   token takes no part and gets no temporal update);
2. **spatial**: over each frame's patches, after the temporal update, with a copy of the
   CLS token in front of every frame, ``(batch * n_frames, 1 + n_patches, d_model)``; a
   patch token gets its frame's output, the CLS token the **mean over frames** of its
   copies' outputs.

Then the MLP runs on the layer's tokens as usual. :class:`TimesformerCapture` maps both
attentions back onto the layer's own token order, so they pool like the hidden states:

- ``heads[i]``, ``(batch, 1 + n_patches * n_frames, n_heads, d_head)``: the spatial
  attention's per-head outputs (the input of ``attention.output.dense``, split
  head-major); a patch token's row is its frame's, the CLS row the mean over frames of
  the CLS copies' head outputs -- the same average the block applies to the CLS update,
  so the heads through the output projection plus its bias are the block's spatial
  update of every token, CLS included.
- ``temporal_heads[i]``, ``(batch, n_patches * n_frames, n_heads, d_head)``: the temporal
  attention's per-head outputs (the input of ``temporal_attention.output.dense``) of the
  **patch tokens only**: the CLS token has no temporal attention, so there is no CLS row
  (and no value that would stand for one).
- ``attention_output[i]``, ``(batch, 1 + n_patches * n_frames, d_model)``: the block's
  whole attention update, ``temporal_dense(temporal) + spatial`` for the patch tokens and
  the frame mean of the spatial outputs for the CLS token;
- ``mlp_output[i]``, same shape: the MLP output (``output``'s), so that
  ``hidden_states[i + 1] = hidden_states[i] + attention_output[i] + mlp_output[i]`` for
  every token.

Every forward pass checks the mapping against the block's own computation: the residual
identity above must hold (to ``max(1e-4, 8 eps) * scale`` of the block output, ``eps``
the dtype's resolution) and the mapped temporal heads through ``temporal_attention.
output.dense`` and ``temporal_dense`` must give the block's temporal update; otherwise a
``RuntimeError`` says this transformers version lays TimeSformer's tokens out
differently. The ``"space_only"`` and ``"joint_space_time"`` attention types are refused
(:func:`check_divided_space_time`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from brainalign.encoders.hooks import CaptureLifecycle, UnsupportedArchitectureError

if TYPE_CHECKING:
    import torch

__all__ = ["TimesformerCapture", "check_divided_space_time"]


def check_divided_space_time(config: Any, model_id: str) -> None:
    """Refuse TimeSformer configs whose blocks are not divided space-time.

    Parameters
    ----------
    config : transformers.TimesformerConfig
    model_id : str
        The model as the user gave it, for the message.

    Raises
    ------
    UnsupportedArchitectureError
        For ``attention_type`` other than ``"divided_space_time"``.
    """
    attention_type = getattr(config, "attention_type", None)
    if attention_type != "divided_space_time":
        raise UnsupportedArchitectureError(
            f"heads=True or blocks=True for {model_id!r}: its config has attention_type="
            f"{attention_type!r}; per-head capture of TimeSformer supports only "
            "'divided_space_time' (the default and every published checkpoint); use "
            "heads=False and blocks=False for this model"
        )


def _spatial_to_layer(x: torch.Tensor, batch: int, n_frames: int) -> torch.Tensor:
    """Spatial tokens ``(batch * n_frames, 1 + P, *rest)`` -> layer tokens
    ``(batch, 1 + P * n_frames, *rest)``: CLS averaged over frames, patches in
    (patch, frame) order."""
    import torch

    per_frame = x.unflatten(0, (batch, n_frames))  # (batch, frames, 1 + P, *rest)
    cls = per_frame[:, :, 0].mean(1, keepdim=True)  # (batch, 1, *rest)
    patches = per_frame[:, :, 1:].transpose(1, 2).flatten(1, 2)  # (batch, P * frames, *rest)
    return torch.cat((cls, patches), 1)


def _temporal_to_layer(x: torch.Tensor, batch: int) -> torch.Tensor:
    """Temporal tokens ``(batch * P, n_frames, *rest)`` -> patch tokens
    ``(batch, P * n_frames, *rest)`` (the block's own reshape, inverted)."""
    return x.reshape(batch, -1, *x.shape[2:])


def _split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    return x.unflatten(-1, (n_heads, x.shape[-1] // n_heads))


def _tolerance(reference: torch.Tensor, dtype: Any) -> float:
    import torch

    scale = max(float(reference.abs().max()), 1.0)
    return max(1e-4, 8 * torch.finfo(dtype).eps) * scale


class TimesformerCapture(CaptureLifecycle):
    """Per-head and per-block outputs of TimeSformer blocks (``LayerCapture``'s interface).

    See the module docstring for what each array holds. Used as a context manager: the
    hooks live inside the ``with`` block and each forward pass replaces what the
    previous one stored. Stored tensors are detached copies.

    Parameters
    ----------
    model : transformers.TimesformerModel or TimesformerForVideoClassification
        In eval mode (stochastic depth would break the residual check).
    layers : sequence of int
        0-based block indices to capture (block ``i`` reads ``hidden_states[i]``).
    heads : bool
        Store ``heads`` and ``temporal_heads``.
    blocks : bool
        Store ``attention_output`` and ``mlp_output``.

    Attributes
    ----------
    layers : tuple of int
    n_heads, n_frames : int
    store_heads, store_blocks : bool
    heads, temporal_heads, attention_output, mlp_output : dict of int to torch.Tensor

    Raises
    ------
    UnsupportedArchitectureError
        For an attention type other than ``"divided_space_time"``.
    ValueError
        For a block index out of range.
    """

    def __init__(self, model: Any, layers: Sequence[int], *, heads: bool, blocks: bool) -> None:
        config = model.config
        check_divided_space_time(config, getattr(config, "name_or_path", "") or "TimeSformer")
        base = getattr(model, "base_model", model)
        self._blocks = base.encoder.layer
        self.layers = tuple(sorted(set(layers)))
        if not self.layers or not all(0 <= i < len(self._blocks) for i in self.layers):
            raise ValueError(
                f"TimesformerCapture: layers {list(layers)!r}; give block indices in "
                f"0..{len(self._blocks) - 1}"
            )
        self.n_heads: int = config.num_attention_heads
        self.n_frames: int = config.num_frames
        self.store_heads, self.store_blocks = bool(heads), bool(blocks)
        self.heads: dict[int, Any] = {}
        self.temporal_heads: dict[int, Any] = {}
        self.attention_output: dict[int, Any] = {}
        self.mlp_output: dict[int, Any] = {}
        self._raw: dict[int, dict[str, Any]] = {}
        self._handles: list[Any] = []

    # -- hooks -------------------------------------------------------------------------

    def _stores(self) -> tuple[dict[int, Any], ...]:
        return (self.heads, self.temporal_heads, self.attention_output, self.mlp_output)

    def _forget(self) -> None:
        self._raw.clear()

    def _install(self, i: int) -> None:
        block = self._blocks[i]
        raw = self._raw.setdefault(i, {})

        def keep_input(name: str) -> Any:
            def hook(module: Any, args: Any) -> None:
                raw[name] = args[0].detach()

            return hook

        def keep_output(name: str) -> Any:
            def hook(module: Any, args: Any, output: Any) -> None:
                raw[name] = output.detach()

            return hook

        hooks = [
            (block.temporal_attention.output.dense, "pre", "temporal_heads"),
            (block.temporal_dense, "post", "temporal"),
            (block.attention.output.dense, "pre", "spatial_heads"),
            (block.attention.output.dense, "post", "spatial"),
            (block.output, "post", "mlp"),
        ]
        for module, kind, name in hooks:
            if kind == "pre":
                self._handles.append(module.register_forward_pre_hook(keep_input(name)))
            else:
                self._handles.append(module.register_forward_hook(keep_output(name)))
        self._handles.append(block.register_forward_hook(self._block_hook(i), with_kwargs=True))

    def _block_hook(self, i: int) -> Any:
        def hook(module: Any, args: Any, kwargs: Any, output: Any) -> None:
            hidden = kwargs.get("hidden_states", args[0] if args else None)
            raw = self._raw[i]
            missing = {"temporal_heads", "temporal", "spatial_heads", "spatial", "mlp"} - set(raw)
            if missing:
                raise RuntimeError(
                    f"TimeSformer block {i}: {', '.join(sorted(missing))} were not seen during "
                    "its forward pass; this transformers version runs TimeSformer blocks "
                    "differently. Use heads=False and blocks=False"
                )
            self._assemble(i, hidden.detach(), output[0].detach(), raw)
            raw.clear()

        return hook

    # -- mapping and checks ------------------------------------------------------------

    def _assemble(self, i: int, hidden: Any, out: Any, raw: dict[str, Any]) -> None:
        batch = hidden.shape[0]
        attention = _spatial_to_layer(raw["spatial"], batch, self.n_frames)
        attention[:, 1:] += raw["temporal"]
        self._check(
            i,
            "hidden_states[L] = hidden_states[L-1] + attention + mlp",
            out,
            hidden + attention + raw["mlp"],
        )
        if self.store_heads:
            temporal = _temporal_to_layer(raw["temporal_heads"], batch)
            rebuilt = self._temporal_update(i, temporal)
            self._check(i, "the temporal heads' update", raw["temporal"], rebuilt)
            spatial = _spatial_to_layer(raw["spatial_heads"], batch, self.n_frames)
            self.heads[i] = _split_heads(spatial, self.n_heads)
            self.temporal_heads[i] = _split_heads(temporal, self.n_heads).clone()
        if self.store_blocks:
            self.attention_output[i] = attention
            self.mlp_output[i] = raw["mlp"].clone()

    def _temporal_update(self, i: int, temporal: Any) -> Any:
        """Temporal head outputs through ``temporal_attention.output.dense`` and
        ``temporal_dense`` (functional: calling the modules would fire the hooks)."""
        from torch.nn.functional import linear

        block = self._blocks[i]
        dense, mix = block.temporal_attention.output.dense, block.temporal_dense
        return linear(linear(temporal, dense.weight, dense.bias), mix.weight, mix.bias)

    def _check(self, i: int, what: str, expected: Any, got: Any) -> None:
        error = float((got.float() - expected.float()).abs().max())
        if not error <= _tolerance(expected, expected.dtype):
            raise RuntimeError(
                f"TimeSformer block {i}: {what} does not hold for the captured outputs "
                f"(max error {error:.3g}); this transformers version lays TimeSformer's "
                "tokens out differently, or the model is in training mode. Use heads=False "
                "and blocks=False"
            )
