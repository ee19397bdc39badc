"""Per-head and per-block capture of CLAP's audio tower (HTS-AT, a Swin transformer).

CLAP's audio tower (``transformers``' ``ClapAudioEncoder``) is a stack of **stages**;
stage ``s`` runs ``depths[s]`` Swin blocks (``ClapAudioLayer``) on a token map of
``(height_s, width_s)`` tokens, then (except the last stage) a patch merging that halves
both sides. :class:`~brainalign.encoders.audio.AudioEncoder` exposes one hidden state per
stage: ``"0"`` the patch embedding (stage 0's input), ``"L"`` (``L >= 1``) stage
``L - 1``'s output **after** its patch merging (the last stage has none).

A Swin block does not attend over its map as a sequence. It normalises the map
(``layernorm_before``), pads it to a multiple of the window, shifts it cyclically by
``-shift`` rows and columns (``torch.roll``; odd blocks of a stage, ``shift =
window_size // 2``, and only when the map is larger than one window), cuts it into
``window x window`` windows (``window_partition``) and runs the attention within each
window, ``(batch * n_windows, window ** 2, channels)``, with a learned relative position
bias per head and, in shifted blocks, a mask (-100) between tokens that were not
neighbours before the shift. The windows are put back (``window_reverse``), the shift
undone and the padding cropped, and the result added to the block input; then the MLP
(``layernorm_after``, ``intermediate``, ``output``) is added.

:class:`ClapCapture` maps the block's window-attention tensors back the same way, so that
every token's values sit at the token's own position of the stage's map:

- ``heads[s]``, ``(batch, height_s, width_s, n_heads_s, d_head_s)``: each head's output
  (the input of ``attention.output.dense``, split head-major), windows reversed, shift
  undone, padding cropped;
- ``attention_output[s]``, ``(batch, height_s, width_s, channels_s)``: the output of
  ``attention.output.dense``, mapped likewise;
- ``mlp_output[s]``, same shape: the output of the block's ``output`` module (the MLP's
  second linear layer), before the residual sum;

for the **last block of each captured stage** ``s``: the block whose output, through the
stage's patch merging, is hidden state ``s + 1`` (as block ``L - 1`` writes hidden state
``L`` in the other families). The earlier blocks of a stage (one in each stage of the
published HTS-AT, ``depths = (2, 2, 6, 2)``, plus four more in stage 2) are not
captured. On the un-shifted map, before patch merging,

    ``block output = block input + attention_output[s] + mlp_output[s]``

for every token. Every forward pass checks the mapping and the heads against the
block's own computation: this residual identity, and the mapped heads through
``attention.output.dense`` giving the mapped attention output (both to
``max(1e-4, 8 eps) * scale``, ``eps`` the dtype's resolution, ``scale`` the largest
absolute value of the reference, at least 1); otherwise a ``RuntimeError`` says this
transformers version runs CLAP's Swin blocks differently.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from brainalign.encoders.hooks import CaptureLifecycle

if TYPE_CHECKING:
    import torch

__all__ = ["ClapCapture", "windows_to_map"]


def windows_to_map(
    windows: torch.Tensor,
    batch: int,
    height: int,
    width: int,
    window_size: int,
    shift_size: int,
) -> torch.Tensor:
    """Window tokens of a Swin block back on the block's (un-shifted, unpadded) map.

    The inverse of the block's own layout: ``window_reverse`` onto the padded map, the
    cyclic shift undone (``torch.roll`` by ``+shift_size``), the padding cropped.

    Parameters
    ----------
    windows : torch.Tensor, shape (batch * n_windows, window_size ** 2, *rest)
        Per-window tokens, as the block's attention reads and writes them.
    batch : int
    height, width : int
        The stage's map, in tokens (before padding to a multiple of the window).
    window_size, shift_size : int
        The block's window side and cyclic shift, in tokens, as set for this map
        (``ClapAudioLayer.window_size`` / ``shift_size`` after its forward pass).

    Returns
    -------
    torch.Tensor, shape (batch, height, width, *rest)
    """
    import torch
    from transformers.models.clap.modeling_clap import window_reverse

    rest = tuple(windows.shape[2:])
    height_pad = -(-height // window_size) * window_size
    width_pad = -(-width // window_size) * window_size
    flat = windows.reshape(*windows.shape[:2], -1)  # window_reverse takes one trailing axis
    grid = flat.reshape(-1, window_size, window_size, flat.shape[-1])
    padded = window_reverse(grid, window_size, height_pad, width_pad)
    if padded.shape[0] != batch:
        raise RuntimeError(
            f"{windows.shape[0]} windows of {window_size}x{window_size} tokens do not tile "
            f"{batch} maps of {height_pad}x{width_pad} tokens"
        )
    if shift_size > 0:
        padded = torch.roll(padded, shifts=(shift_size, shift_size), dims=(1, 2))
    return padded[:, :height, :width].reshape(batch, height, width, *rest)


def _tolerance(reference: torch.Tensor) -> float:
    import torch

    scale = max(float(reference.abs().max()), 1.0)
    return max(1e-4, 8 * torch.finfo(reference.dtype).eps) * scale


class ClapCapture(CaptureLifecycle):
    """Per-head and per-block outputs of CLAP's Swin stages (``LayerCapture``'s interface).

    See the module docstring for what each array holds and which block is captured.
    Used as a context manager: the hooks live inside the ``with`` block, each forward
    pass replaces what the previous one stored, and stored tensors are detached copies.

    Parameters
    ----------
    model : transformers.ClapAudioModel or ClapAudioModelWithProjection
        CLAP's audio tower, in eval mode (dropout and stochastic depth would break the
        residual check).
    layers : sequence of int
        0-based stage indices (stage ``s`` writes hidden state ``s + 1``).
    heads : bool
        Store ``heads``.
    blocks : bool
        Store ``attention_output`` and ``mlp_output``.

    Attributes
    ----------
    layers : tuple of int
        Captured stages, sorted.
    n_heads : dict of int to int
        Heads per captured stage.
    store_heads, store_blocks : bool
    heads, attention_output, mlp_output : dict of int to torch.Tensor
        Keyed by stage; shapes in the module docstring.

    Raises
    ------
    ValueError
        For a stage index out of range, or neither heads nor blocks.
    """

    def __init__(self, model: Any, layers: Sequence[int], *, heads: bool, blocks: bool) -> None:
        tower = getattr(model, "audio_model", model)  # ...WithProjection wraps the tower
        stages = tower.audio_encoder.layers
        self.layers = tuple(sorted(set(layers)))
        if not self.layers or not all(0 <= s < len(stages) for s in self.layers):
            raise ValueError(
                f"ClapCapture: layers {list(layers)!r}; give stage indices in 0..{len(stages) - 1}"
            )
        if not (heads or blocks):
            raise ValueError("ClapCapture: heads and blocks are both False")
        self._blocks = {s: stages[s].blocks[-1] for s in self.layers}
        self.n_heads = {
            s: int(b.attention.self.num_attention_heads) for s, b in self._blocks.items()
        }
        self.store_heads, self.store_blocks = bool(heads), bool(blocks)
        self.heads: dict[int, Any] = {}
        self.attention_output: dict[int, Any] = {}
        self.mlp_output: dict[int, Any] = {}
        self._raw: dict[int, dict[str, Any]] = {}
        self._handles: list[Any] = []

    # -- hooks -------------------------------------------------------------------------

    def _stores(self) -> tuple[dict[int, Any], ...]:
        return (self.heads, self.attention_output, self.mlp_output)

    def _forget(self) -> None:
        self._raw.clear()

    def _install(self, s: int) -> None:
        block = self._blocks[s]
        raw = self._raw.setdefault(s, {})
        dense = block.attention.output.dense

        def keep_heads(module: Any, args: Any) -> None:
            raw["heads"] = args[0].detach()

        def keep(name: str) -> Any:
            def hook(module: Any, args: Any, output: Any) -> None:
                raw[name] = output.detach()

            return hook

        self._handles += [
            dense.register_forward_pre_hook(keep_heads),
            dense.register_forward_hook(keep("attention")),
            block.output.register_forward_hook(keep("mlp")),
            block.register_forward_hook(self._block_hook(s), with_kwargs=True),
        ]

    def _block_hook(self, s: int) -> Any:
        def hook(module: Any, args: Any, kwargs: Any, output: Any) -> None:
            hidden = kwargs.get("hidden_states", args[0] if args else None)
            dims = kwargs.get("input_dimensions", args[1] if len(args) > 1 else None)
            raw = self._raw[s]
            missing = {"heads", "attention", "mlp"} - set(raw)
            if missing or hidden is None or dims is None:
                raise RuntimeError(
                    f"CLAP stage {s}: {', '.join(sorted(missing)) or 'the block input'} not "
                    "seen during its last block's forward pass; this transformers version "
                    "runs CLAP's Swin blocks differently. Use heads=False and blocks=False"
                )
            self._assemble(s, module, hidden.detach(), tuple(dims), output[0].detach(), raw)
            raw.clear()

        return hook

    # -- mapping and checks ------------------------------------------------------------

    def _assemble(
        self, s: int, block: Any, hidden: Any, dims: tuple, out: Any, raw: dict[str, Any]
    ) -> None:
        from torch.nn.functional import linear

        height, width = int(dims[0]), int(dims[1])
        batch, channels = hidden.shape[0], hidden.shape[-1]
        window, shift = int(block.window_size), int(block.shift_size)

        def to_map(windows: Any) -> Any:
            return windows_to_map(windows, batch, height, width, window, shift)

        attention = to_map(raw["attention"])
        mlp = raw["mlp"].reshape(batch, height, width, channels)
        expected = out.reshape(batch, height, width, channels)
        got = hidden.reshape(batch, height, width, channels) + attention + mlp
        self._check(s, "block output = block input + attention + mlp", expected, got)
        if self.store_heads:
            heads = to_map(raw["heads"])
            dense = block.attention.output.dense
            projected = linear(heads, dense.weight, dense.bias)
            self._check(s, "the heads through attention.output.dense", attention, projected)
            self.heads[s] = heads.unflatten(-1, (self.n_heads[s], -1))
        if self.store_blocks:
            self.attention_output[s] = attention
            self.mlp_output[s] = mlp.clone()

    @staticmethod
    def _check(s: int, what: str, expected: Any, got: Any) -> None:
        error = float((got.float() - expected.float()).abs().max())
        if not error <= _tolerance(expected):
            raise RuntimeError(
                f"CLAP stage {s}, last block: {what} does not hold for the captured outputs "
                f"(max error {error:.3g}); this transformers version runs CLAP's Swin blocks "
                "differently, or the model is in training mode. Use heads=False and "
                "blocks=False"
            )
