"""Per-layer and per-head capture from a Hugging Face transformer, and attention summaries.

:class:`LayerCapture` installs hooks for the duration of a ``with`` block and records,
on each forward pass, for every selected block ``i`` (0-based; block ``i`` reads
``hidden_states[i]`` and writes ``hidden_states[i + 1]``):

- ``heads[i]``: each head's output, the attention-weighted values before the output
  projection, ``(batch, seq, n_heads, d_head)``. It is the input of the output
  projection (a forward pre-hook), split head-major. With grouped-query attention
  (fewer key/value heads than query heads) it still has ``n_heads`` query heads.
- ``contributions[i]``: each head's write to the residual stream, its output through
  its slice of the output-projection weight, ``(batch, seq, n_heads, d_model)``.
  ``contributions[i].sum(-2) + out_proj_bias(i)`` equals ``attention_output[i]``.
- ``attention_output[i]``: the output of the attention output projection,
  ``(batch, seq, d_model)``.
- ``mlp_output[i]``: the MLP block output before the residual sum, ``(batch, seq, d_model)``.

"Before the residual sum" is literal: in post-LN blocks (BERT, RoBERTa) the residual
sum is followed by a LayerNorm, and DINOv2 scales both outputs (layer scale) before
adding them, so there ``hidden_states[i + 1] - hidden_states[i]`` is not their sum.

Where the modules are comes from :mod:`brainalign.encoders.hooks` (one registry entry
per ``config.model_type``; :func:`register_architecture` adds one). Hooks never change
the model's outputs, tensors are stored detached (and copied, so later in-place
operations in the model cannot alter them), and every hook is removed on leaving the
``with`` block, also on error. Each forward pass replaces what the previous one stored.
Tensors captured under ``torch.inference_mode()`` are inference tensors: read them
freely, but ``.clone()`` one before using it in autograd.

:func:`attention_summaries` turns attention probabilities into per-head, per-query
summaries (entropy, mean distance, attention to the first and to the previous token).
Attention probabilities come from ``model(..., output_attentions=True)``, which needs
the eager attention implementation: load with ``attn_implementation="eager"`` (or call
``model.set_attn_implementation("eager")``); with SDPA or flash attention transformers 5
silently returns no attentions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from brainalign.encoders.hooks import (
    ArchitectureSpec,
    CaptureLifecycle,
    UnsupportedArchitectureError,
    architecture_spec,
    get_module,
    register_architecture,
    supported_architectures,
)

if TYPE_CHECKING:
    import torch

#: Keys of :func:`attention_summaries`, in the order arrays are stored.
SUMMARY_MEASURES: tuple[str, ...] = ("entropy", "distance", "first_token", "previous_token")

__all__ = [
    "SUMMARY_MEASURES",
    "ArchitectureSpec",
    "LayerCapture",
    "UnsupportedArchitectureError",
    "architecture_spec",
    "attention_summaries",
    "register_architecture",
    "supported_architectures",
]


def _first_tensor(args: tuple, kwargs: dict) -> torch.Tensor:
    import torch

    preferred = kwargs.get("hidden_states")
    for value in (preferred, *args, *kwargs.values()):
        if isinstance(value, torch.Tensor):
            return value
    raise RuntimeError("head capture: a hooked module was called without a tensor input.")


def _as_tensor(output: Any) -> torch.Tensor:
    """The tensor of a module output (the first element of a tuple, e.g. MoE MLPs)."""
    return output[0] if isinstance(output, (tuple, list)) else output


def _weight_per_head(module: Any, n_heads: int, d_head: int) -> torch.Tensor:
    """The output-projection weight as ``(n_heads, d_head, d_model)``."""
    import torch
    from transformers.pytorch_utils import Conv1D

    if isinstance(module, Conv1D):  # GPT-2: weight is (in, out), y = x @ W + b
        weight = module.weight
    elif isinstance(module, torch.nn.Linear):  # weight is (out, in), y = x @ W.T + b
        weight = module.weight.T
    else:
        raise TypeError(
            f"contributions=True needs the attention output projection to be nn.Linear or "
            f"transformers' Conv1D, got {type(module).__name__}; use contributions=False."
        )
    if weight.shape[0] != n_heads * d_head:
        raise ValueError(
            f"output projection takes {weight.shape[0]} inputs, not n_heads * d_head = "
            f"{n_heads} * {d_head}; check the n_heads config attribute of the registry entry."
        )
    return weight.detach().reshape(n_heads, d_head, weight.shape[1])


class LayerCapture(CaptureLifecycle):
    """Capture per-layer and per-head activations of a transformer during forward passes.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        A base model (``AutoModel``) or a model with a head (``...ForCausalLM``,
        ``...ForImageClassification``); blocks are found from ``model.base_model``.
    layers : sequence of int, optional
        0-based block indices (negative counts from the end). Default: all blocks.
    heads : bool
        Store ``heads[i]``, ``(batch, seq, n_heads, d_head)``.
    contributions : bool
        Store ``contributions[i]``, ``(batch, seq, n_heads, d_model)``. Memory grows
        as ``n_heads * d_model`` per token and layer.
    blocks : bool
        Store ``attention_output[i]`` and ``mlp_output[i]``, ``(batch, seq, d_model)``.

    Attributes
    ----------
    spec : ArchitectureSpec
    layers : tuple of int
        The captured block indices, non-negative and sorted.
    n_layers, n_heads : int
        Number of blocks in the model and of query heads per block.
    heads, contributions, attention_output, mlp_output : dict of int to torch.Tensor
        Filled by each forward pass inside the ``with`` block, keyed by block index.

    Examples
    --------
    >>> with LayerCapture(model, contributions=True) as capture:  # doctest: +SKIP
    ...     with torch.inference_mode():
    ...         model(**batch)
    >>> capture.heads[0].shape  # doctest: +SKIP
    torch.Size([2, 7, 12, 64])
    """

    def __init__(
        self,
        model: Any,
        layers: Sequence[int] | None = None,
        *,
        heads: bool = True,
        contributions: bool = False,
        blocks: bool = True,
    ) -> None:
        self.model = model
        self.spec = architecture_spec(model)
        base = getattr(model, "base_model", model)
        self._blocks = get_module(base, self.spec.layers, what="layers")
        self.n_layers = len(self._blocks)
        self.n_heads = self._read_n_heads(model.config)
        self.layers = self._select_layers(layers)
        self._out_projs = {
            i: get_module(self._blocks[i], self.spec.out_proj, what="out_proj") for i in self.layers
        }
        self._mlps = {
            i: get_module(self._blocks[i], self.spec.mlp, what="mlp") for i in self.layers
        }
        self.store_heads = bool(heads)
        self.store_contributions = bool(contributions)
        self.store_blocks = bool(blocks)
        if not (self.store_heads or self.store_contributions or self.store_blocks):
            raise ValueError("LayerCapture: heads, contributions and blocks are all False.")
        self.heads: dict[int, torch.Tensor] = {}
        self.contributions: dict[int, torch.Tensor] = {}
        self.attention_output: dict[int, torch.Tensor] = {}
        self.mlp_output: dict[int, torch.Tensor] = {}
        self._lead: dict[int, tuple[int, ...]] = {}
        self._handles: list[Any] = []

    def _read_n_heads(self, config: Any) -> int:
        n_heads = getattr(config, self.spec.n_heads, None)
        if not isinstance(n_heads, int) or n_heads < 1:
            raise UnsupportedArchitectureError(
                f"config.{self.spec.n_heads} of model_type={config.model_type!r} is "
                f"{n_heads!r}, not a number of heads; register the right attribute with "
                "register_architecture(..., n_heads='<config attribute>')."
            )
        return n_heads

    def _select_layers(self, layers: Sequence[int] | None) -> tuple[int, ...]:
        if layers is None:
            return tuple(range(self.n_layers))
        selected = set()
        for layer in layers:
            if not isinstance(layer, int) or not -self.n_layers <= layer < self.n_layers:
                raise ValueError(
                    f"LayerCapture: layer {layer!r} is not a block index of this model, "
                    f"which has {self.n_layers} blocks (use 0..{self.n_layers - 1} or "
                    "negative indices from the end)."
                )
            selected.add(layer % self.n_layers)
        if not selected:
            raise ValueError("LayerCapture: layers is empty; pass None for all blocks.")
        return tuple(sorted(selected))

    # -- hooks -------------------------------------------------------------------------

    def _shape(self, layer: int, tensor: torch.Tensor, *trailing: int) -> torch.Tensor:
        """``tensor`` as ``(*lead, *trailing)``: its own (batch, seq), or, for a tensor
        whose batch and sequence were flattened, the block input's (batch, seq).

        Some blocks (OPT's MLP) flatten batch and sequence; this undoes that. A tensor
        that kept its (batch, seq) keeps them, also when the attention ran over more
        tokens than the block returns (X-CLIP's appended message token).
        """
        lead = tuple(tensor.shape[:-1])
        if tensor.dim() == 2 and layer in self._lead:
            lead = self._lead[layer]
        return tensor.reshape(*lead, *trailing)

    def _block_hook(self, layer: int):
        def hook(module, args, kwargs):
            self._lead[layer] = tuple(_first_tensor(args, kwargs).shape[:-1])

        return hook

    def _heads_hook(self, layer: int):
        def hook(module, args, kwargs):
            x = _first_tensor(args, kwargs).detach()
            width = x.shape[-1]
            if width % self.n_heads:
                raise ValueError(
                    f"block {layer}: the output projection input has {width} features, "
                    f"not a multiple of n_heads={self.n_heads}."
                )
            d_head = width // self.n_heads
            per_head = self._shape(layer, x, self.n_heads, d_head)
            if self.store_heads:
                self.heads[layer] = per_head.clone()
            if self.store_contributions:
                weight = _weight_per_head(module, self.n_heads, d_head).to(per_head.dtype)
                self.contributions[layer] = _einsum_contributions(per_head, weight)

        return hook

    def _output_hook(self, layer: int, store: dict[int, torch.Tensor]):
        def hook(module, args, kwargs, output):
            y = _as_tensor(output).detach()
            store[layer] = self._shape(layer, y, y.shape[-1]).clone()

        return hook

    def _stores(self) -> tuple[dict[int, torch.Tensor], ...]:
        return (self.heads, self.contributions, self.attention_output, self.mlp_output)

    def _install(self, i: int) -> None:
        self._handles.append(
            self._blocks[i].register_forward_pre_hook(self._block_hook(i), with_kwargs=True)
        )
        out_proj = self._out_projs[i]
        if self.store_heads or self.store_contributions:
            self._handles.append(
                out_proj.register_forward_pre_hook(self._heads_hook(i), with_kwargs=True)
            )
        if self.store_blocks:
            self._handles.append(
                out_proj.register_forward_hook(
                    self._output_hook(i, self.attention_output), with_kwargs=True
                )
            )
            self._handles.append(
                self._mlps[i].register_forward_hook(
                    self._output_hook(i, self.mlp_output), with_kwargs=True
                )
            )

    def head_weights(self, layer: int) -> torch.Tensor:
        """Block ``layer``'s output-projection weight split by head, ``(n_heads, d_head, d_model)``.

        ``einsum("...hd,hdm->...hm", heads, head_weights(layer))`` gives each head's
        contribution to the residual stream. Projection is linear, so contributions of
        pooled head outputs equal pooled contributions.
        """
        module = self._out_projs[layer % self.n_layers]
        import torch
        from transformers.pytorch_utils import Conv1D

        if not isinstance(module, (Conv1D, torch.nn.Linear)):
            return _weight_per_head(module, self.n_heads, 1)  # raises the TypeError
        n_inputs = module.weight.shape[0 if isinstance(module, Conv1D) else 1]
        if n_inputs % self.n_heads:
            raise ValueError(
                f"block {layer}: the output projection takes {n_inputs} inputs, not a "
                f"multiple of n_heads={self.n_heads}."
            )
        return _weight_per_head(module, self.n_heads, n_inputs // self.n_heads)

    def out_proj_bias(self, layer: int) -> torch.Tensor | None:
        """The bias of block ``layer``'s attention output projection, ``(d_model,)``, or None."""
        bias = getattr(self._out_projs[layer % self.n_layers], "bias", None)
        return None if bias is None else bias.detach()


def _einsum_contributions(per_head: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Per-head outputs through per-head weights.

    ``(..., n_heads, d_head)`` x ``(n_heads, d_head, d_model)`` -> ``(..., n_heads, d_model)``.
    """
    import torch

    return torch.einsum("...hd,hdm->...hm", per_head, weight)


def attention_summaries(
    attentions: Sequence[torch.Tensor],
    attention_mask: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Per-head, per-query summaries of self-attention probabilities.

    Parameters
    ----------
    attentions : sequence of torch.Tensor
        One tensor per layer, ``(batch, n_heads, seq, seq)``: ``outputs.attentions`` of
        ``model(..., output_attentions=True)`` on a model loaded with
        ``attn_implementation="eager"`` (other implementations return none).
    attention_mask : torch.Tensor, optional
        ``(batch, seq)``, 1 for real tokens and 0 for padding (left or right).
        Attention to padding keys is set to 0, padding queries get NaN, and "first
        token" means the first real token of each sequence.

    Returns
    -------
    dict of str to torch.Tensor
        Each ``(n_layers, batch, n_heads, seq)``, float32, indexed by query position:

        - ``"entropy"``: ``-sum_k a_qk log a_qk`` in nats (``0 log 0 = 0``), between 0
          and ``log(seq)``;
        - ``"distance"``: mean attention distance ``sum_k a_qk |q - k|`` in tokens;
        - ``"first_token"``: ``a_q,f`` with ``f`` the first real token;
        - ``"previous_token"``: ``a_q,q-1``; 0 for the first real query.
    """
    import torch

    if attentions is None or len(attentions) == 0 or any(a is None for a in attentions):
        raise ValueError(
            "attention_summaries: no attention probabilities were given. Load the model "
            'with attn_implementation="eager" (or call model.set_attn_implementation("eager"))'
            " and run it with output_attentions=True; SDPA and flash attention return none."
        )
    probs = torch.stack([a.detach().float() for a in attentions])  # (L, B, H, Q, K)
    if probs.ndim != 5 or probs.shape[-1] != probs.shape[-2]:
        raise ValueError(
            "attention_summaries: expected self-attention tensors (batch, n_heads, seq, seq) "
            f"of one shape, got {tuple(probs.shape[1:])}; run without a key/value cache."
        )
    batch, seq = probs.shape[1], probs.shape[-1]
    if attention_mask is None:
        real = torch.ones(batch, seq, dtype=torch.bool, device=probs.device)
    else:
        real = torch.as_tensor(attention_mask, device=probs.device).bool()
        if real.shape != (batch, seq):
            raise ValueError(
                f"attention_summaries: attention_mask has shape {tuple(real.shape)}, "
                f"expected (batch, seq) = {(batch, seq)}."
            )
        if not real.any(dim=1).all():
            raise ValueError("attention_summaries: a sequence in attention_mask has no tokens.")
        probs = probs * real[None, :, None, None, :]

    positions = torch.arange(seq, device=probs.device)
    distance = (positions[:, None] - positions[None, :]).abs().float()  # (Q, K)
    first = real.float().argmax(dim=1)  # (B,) first real position
    first_token = torch.take_along_dim(
        probs, first.view(1, batch, 1, 1, 1).expand(*probs.shape[:-1], 1), dim=-1
    )[..., 0]
    previous = torch.diagonal(probs, offset=-1, dim1=-2, dim2=-1)  # a[q, q-1] for q >= 1
    previous_token = torch.cat([torch.zeros_like(previous[..., :1]), previous], dim=-1)
    is_first = positions[None, :] == first[:, None]  # (B, Q)
    previous_token = previous_token.masked_fill(is_first[None, :, None, :], 0.0)

    out = {
        "entropy": -torch.xlogy(probs, probs).sum(-1),
        "distance": (probs * distance).sum(-1),
        "first_token": first_token,
        "previous_token": previous_token,
    }
    padding_query = ~real[None, :, None, :]
    return {name: value.masked_fill(padding_query, math.nan) for name, value in out.items()}
