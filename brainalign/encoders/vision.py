"""Per-layer features of images from Hugging Face vision models.

:class:`VisionEncoder` runs a vision model from ``transformers`` (ViT, DeiT, BEiT,
DINOv2, the vision tower of CLIP/SigLIP, ConvNeXt, ResNet, ...) on a set of images and
returns one pooled feature vector per image for every hidden state the model returns
(``output_hidden_states=True``): layer ``"0"`` is the embedding output (patch embeddings
for transformers, the stem for ConvNets), then one per block (transformers) or stage
(ConvNets), as transformers returns them.

Images are preprocessed by the model's own image processor
(``AutoImageProcessor.from_pretrained(source, backend="pil")``: the PIL backend, so the
numbers do not depend on whether torchvision is installed), or by the ``processor``
given.

Pooling
-------
Hidden states come in two shapes:

tokens, (n_images, n_tokens, n_dims)
    Vision transformers. The first ``n_prefix`` tokens are CLS/distillation/register
    tokens, the rest are patch tokens on a ``(H // patch_size, W // patch_size)`` grid
    of the processed image (``n_prefix`` is found from those sizes: 1 for ViT, BEiT,
    DINOv2 and CLIP, 2 for DeiT, 0 for SigLIP).
feature maps, (n_images, n_channels, height, width)
    ConvNets (ConvNeXt, ResNet, ...).

``pooling`` reduces either to (n_images, n_dims):

``"cls"``
    Token 0, the CLS token. Models without one (ConvNets, SigLIP) raise an error.
``"mean"``
    Mean over the patch tokens (the prefix tokens are left out, as BEiT's pooler and
    timm's average pooling do), or over all spatial positions of a feature map.
``"spatial"``
    The patch tokens laid out on their grid (or the feature map) are average-pooled to
    ``grid`` cells with ``torch.nn.functional.adaptive_avg_pool2d`` and flattened
    channel-major: ``n_dims = n_channels * grid_rows * grid_cols``, and dimension
    ``c * grid_rows * grid_cols + row * grid_cols + col`` is channel ``c`` in cell
    ``(row, col)``. This keeps coarse retinotopic layout (default 2 x 2 cells). When
    the grid does not divide the map, PyTorch's cells overlap: cell ``i`` of ``g``
    along an axis of ``n`` positions averages positions ``floor(i * n / g)`` to
    ``ceil((i + 1) * n / g) - 1`` (a 7 x 7 CLIP-B/32 grid gives rows 0-3 and 3-6).

Per-head and per-block features -- ``heads=`` and ``blocks=``
    For vision transformers whose family has head-capture paths
    (:func:`~brainalign.encoders.heads.supported_architectures`: ViT, DeiT, DINOv2, ...),
    :meth:`VisionEncoder.encode_images` also returns, for every requested layer
    ``L >= 1`` (block ``L - 1``, whose output is hidden state ``L``), from the same
    forward passes (:class:`~brainalign.encoders.heads.LayerCapture` hooks):
    ``"L.heads"``, each head's output before the attention output projection, and
    ``"L.attention"`` / ``"L.mlp"``, the attention and MLP block outputs before the
    residual sum. They are pooled over tokens like the hidden states: ``"cls"`` takes
    the CLS token's output, ``"mean"`` the mean over patch tokens; ``"spatial"`` pools
    each head on its own, so ``"L.heads"`` is (n_images, n_heads, d_head * grid_rows *
    grid_cols) with the per-channel cell layout above applied to the head's ``d_head``
    channels. ConvNets have no heads or attention blocks and are refused.

Streaming into the feature store -- ``store=`` and ``key=``
    As for :meth:`~brainalign.encoders.text.TextEncoder.encode_words`: each batch's
    pooled rows are written into the store entry as they are computed (memory does not
    grow with the number of images), a complete entry is returned without a forward
    pass, and an error mid-way leaves no entry. The committed entry is returned
    memory-mapped.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from brainalign.encoders.common import (
    LoadedModelAccess,
    check_layer_indices,
    progress_bar,
    thread_limit,
)
from brainalign.encoders.features import Features
from brainalign.encoders.models import (
    ModelLoadError,
    auto_model_class,
    build_model,
    check_device,
    check_load_options,
    check_size,
    locate_model,
    model_provenance,
    split_model_spec,
)
from brainalign.encoders.sinks import Sink, check_store, collect

if TYPE_CHECKING:
    from brainalign.encoders.store import FeatureStore

__all__ = [
    "CONV_MODEL_TYPES",
    "IMAGE_SUFFIXES",
    "ModelLoadError",
    "VisionEncoder",
    "list_image_files",
    "pool_hidden_state",
]

VisionPooling = Literal["cls", "mean", "spatial"]

#: File suffixes (lower case) taken from a folder of images.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

#: ``model_type`` values of ConvNets: their hidden states are feature maps without a
#: CLS token, so ``pooling="cls"`` is refused when the encoder is built.
CONV_MODEL_TYPES = frozenset(
    {
        "bit",
        "convnext",
        "convnextv2",
        "efficientnet",
        "mobilenet_v1",
        "mobilenet_v2",
        "regnet",
        "resnet",
        "van",
    }
)

_POOLINGS = ("cls", "mean", "spatial")


# --------------------------------------------------------------------------- images


def list_image_files(folder: str | os.PathLike) -> list[Path]:
    """The image files of a folder, sorted by name (not recursive).

    Parameters
    ----------
    folder : str or path-like
        A directory.

    Returns
    -------
    list of Path
        Files whose suffix (any case) is in :data:`IMAGE_SUFFIXES`, sorted by file name
        as plain strings (``img_10`` before ``img_2``: zero-pad numbered names).

    Raises
    ------
    FileNotFoundError
        If ``folder`` is not a directory.
    ValueError
        If it holds no image file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {str(folder)!r} does not exist")
    files = sorted(
        (p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
        key=lambda p: p.name,
    )
    if not files:
        raise ValueError(
            f"image folder {str(folder)!r} holds no image file ({', '.join(IMAGE_SUFFIXES)})"
        )
    return files


def _collect_images(images: Any) -> list[Any]:
    """Flatten the accepted inputs into a list of paths, PIL images or arrays."""
    from PIL import Image

    if isinstance(images, (str, os.PathLike)):
        path = Path(images)
        return list_image_files(path) if path.is_dir() else [path]
    if isinstance(images, Image.Image):
        return [images]
    if isinstance(images, np.ndarray):
        items = list(images) if images.ndim == 4 else [images]
    elif isinstance(images, Sequence) or hasattr(images, "__iter__"):
        items = list(images)
    else:
        raise TypeError(
            f"images is a {type(images).__name__}; pass a folder, a list of file paths, "
            "PIL images or (H, W, 3) arrays, or an (n_images, H, W, 3) array"
        )
    if not items:
        raise ValueError("images is empty; pass at least one image")
    for index, item in enumerate(items):
        if isinstance(item, (str, os.PathLike)) and Path(item).is_dir():
            raise ValueError(
                f"image {index} ({os.fspath(item)!r}) is a folder; pass the folder itself "
                "as images=, or list its files"
            )
        if not isinstance(item, (str, os.PathLike, Image.Image, np.ndarray)):
            raise TypeError(
                f"image {index} is a {type(item).__name__}; each image must be a file path, "
                "a PIL image or an (H, W, 3) array"
            )
    return items


def _check_array(array: np.ndarray, index: int) -> np.ndarray:
    """An image array as (H, W, C) uint8, or a clear error."""
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        raise ValueError(
            f"image {index} has shape {array.shape}, which looks channel-first; pass "
            "(H, W, 3) arrays (e.g. array.transpose(1, 2, 0))"
        )
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[-1] not in (1, 3, 4) or 0 in array.shape:
        raise ValueError(
            f"image {index} has shape {array.shape}; expected (H, W), (H, W, 3) or "
            "(H, W, 4) (RGBA, alpha dropped)"
        )
    if array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)) or array.min() < 0 or array.max() > 1:
            raise ValueError(
                f"image {index} is a float array with values in [{np.nanmin(array)}, "
                f"{np.nanmax(array)}]; float images must be finite and in [0, 1] "
                "(or pass uint8 in 0..255)"
            )
        return np.round(array * 255.0).astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer):
        if array.min() < 0 or array.max() > 255:
            raise ValueError(
                f"image {index} is an integer array with values in [{array.min()}, "
                f"{array.max()}]; integer images must be in 0..255"
            )
        return array.astype(np.uint8)
    raise ValueError(f"image {index} has dtype {array.dtype}; use uint8 (0..255) or float (0..1)")


def _check_image(item: Any, index: int) -> None:
    """Fail early on a missing file, a file PIL cannot identify, or a bad array.

    Files are opened and verified without decoding their pixels, so the check costs a
    header read; the pixels are decoded once, batch by batch, by :func:`_to_rgb`.
    """
    from PIL import Image, UnidentifiedImageError

    if isinstance(item, Image.Image):
        return
    if isinstance(item, np.ndarray):
        _check_array(item, index)
        return
    path = Path(item)
    if not path.is_file():
        raise FileNotFoundError(f"image {index}: file {str(path)!r} does not exist")
    try:
        with Image.open(path) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise _unreadable(path, index, error) from error


def _unreadable(path: Path, index: int, error: Exception) -> ValueError:
    return ValueError(
        f"image {index}: could not read {str(path)!r} as an image ({error}); check "
        "the file or remove it from the list"
    )


def _to_rgb(item: Any, index: int) -> Any:
    """Read or convert one image to an RGB PIL image (EXIF orientation is not applied)."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(item, Image.Image):
        return item.convert("RGB")
    if isinstance(item, np.ndarray):
        array = _check_array(item, index)
        if array.shape[-1] == 1:
            return Image.fromarray(array[:, :, 0], mode="L").convert("RGB")
        return Image.fromarray(array).convert("RGB")
    path = Path(item)
    if not path.is_file():
        raise FileNotFoundError(f"image {index}: file {str(path)!r} does not exist")
    try:
        with Image.open(path) as image:
            image.load()
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise _unreadable(path, index, error) from error


# --------------------------------------------------------------------------- pooling


def pool_hidden_state(
    hidden: Any,
    pooling: VisionPooling,
    *,
    n_prefix: int = 0,
    patch_grid: tuple[int, int] | None = None,
    grid: tuple[int, int] = (2, 2),
) -> Any:
    """Pool one hidden state to one vector per image (see the module docstring).

    Parameters
    ----------
    hidden : torch.Tensor, shape (n_images, n_tokens, n_dims) or (n_images, C, H, W)
        Tokens of a vision transformer or feature maps of a ConvNet.
    pooling : {"cls", "mean", "spatial"}
    n_prefix : int
        Tokens only: number of CLS/distillation/register tokens before the patch tokens.
    patch_grid : (int, int), optional
        Tokens only, needed for ``"spatial"``: rows and columns of the patch tokens.
    grid : (int, int)
        Cells of the ``"spatial"`` pooling.

    Returns
    -------
    torch.Tensor, shape (n_images, n_dims) or (n_images, C * grid[0] * grid[1])
        float32.
    """
    import torch

    hidden = hidden.float()
    if hidden.ndim == 4:
        if pooling == "cls":
            raise ValueError(
                f"pooling='cls' needs a CLS token, but this layer is a feature map of shape "
                f"{tuple(hidden.shape)} (a ConvNet); use pooling='mean' or 'spatial'"
            )
        maps = hidden
    elif hidden.ndim == 3:
        if pooling == "cls":
            if n_prefix < 1:
                raise ValueError(
                    "pooling='cls' needs a CLS token, but this model has none (no token "
                    "before its patch tokens); use pooling='mean' or 'spatial'"
                )
            return hidden[:, 0]
        patches = hidden[:, n_prefix:]
        if pooling == "mean":
            return patches.mean(dim=1)
        if patch_grid is None or patch_grid[0] * patch_grid[1] != patches.shape[1]:
            raise ValueError(
                f"cannot lay {patches.shape[1]} patch tokens out on the patch grid "
                f"{patch_grid}; use pooling='mean' or 'cls'"
            )
        maps = patches.reshape(len(patches), *patch_grid, -1).permute(0, 3, 1, 2)
    else:
        raise ValueError(
            f"hidden state has shape {tuple(hidden.shape)}; expected (n_images, n_tokens, "
            "n_dims) or (n_images, channels, height, width)"
        )
    if pooling == "mean":
        return maps.mean(dim=(2, 3))
    pooled = torch.nn.functional.adaptive_avg_pool2d(maps, grid)
    return pooled.flatten(start_dim=1)


# --------------------------------------------------------------------------- loading


def _load_vision_model(
    name: str | os.PathLike,
    *,
    weights: str,
    seed: int,
    device: str,
    dtype: str,
    processor: Any,
) -> tuple[Any, Any, str, dict[str, Any]]:
    """Load a vision model (or a multimodal model's vision tower) and its image processor.

    Mirrors :func:`brainalign.encoders.models.load_text_model` for models that need an
    image processor instead of a tokenizer. Returns ``(model, processor, source,
    provenance)``.
    """
    import transformers
    from transformers import AutoConfig, AutoImageProcessor

    spec = os.fspath(name)
    name, weights = split_model_spec(spec, weights)
    check_load_options(weights, dtype)
    check_device(device, allow_auto=False)
    given, source, local = locate_model(name, "weights, preprocessor_config.json")
    where = f"the local directory {source!r}" if local else f"the hub id {source!r}"

    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=False)
    except (OSError, ValueError, KeyError) as error:
        raise ModelLoadError(
            f"could not load the config of model {given!r} from {where}: {error}"
        ) from error
    tower = None
    vision_config = getattr(config, "vision_config", None)
    if vision_config is not None:  # CLIP, SigLIP, ...: keep the vision tower only
        tower, config = "vision_config", vision_config
    try:
        model_class = auto_model_class(config, given)
    except ModelLoadError as error:
        raise ModelLoadError(
            f"{error}; use a vision model (ViT, DeiT, BEiT, DINOv2, CLIP, ConvNeXt, ResNet, ...)"
        ) from error

    if processor is None:
        kwargs: dict[str, Any] = {"trust_remote_code": False}
        if int(transformers.__version__.split(".")[0]) >= 5:
            kwargs["backend"] = "pil"  # same numbers with or without torchvision
        else:  # pragma: no cover - transformers 4
            kwargs["use_fast"] = False
        try:
            processor = AutoImageProcessor.from_pretrained(source, **kwargs)
        except (OSError, ValueError, KeyError, TypeError, ImportError) as error:
            raise ModelLoadError(
                f"could not load the image processor of model {given!r} from {where} "
                f"({error}); save one next to the model (preprocessor_config.json, e.g. "
                "ViTImageProcessorPil(...).save_pretrained(directory)) or pass "
                "processor= to VisionEncoder"
            ) from error

    check_size(spec, config, dtype, device, model_class)
    try:
        model = build_model(
            model_class,
            config,
            source=source,
            given=given,
            weights=weights,
            seed=seed,
            dtype=dtype,
            device=device,
        )
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        if isinstance(error, ModelLoadError):
            raise
        raise ModelLoadError(
            f"could not load the weights of model {given!r} from {where}: {error}"
        ) from error

    provenance = model_provenance(
        config,
        source=source,
        model=spec,
        weights=weights,
        seed=seed,
        local=local,
        model_class=type(model).__name__,
        vision_tower=tower,
    )
    return model, processor, source, provenance


def _n_hidden_states(config: Any) -> int | None:
    """Hidden states the model returns (blocks or stages + 1), from its config."""
    n_blocks = getattr(config, "num_hidden_layers", None)
    if isinstance(n_blocks, int):
        return n_blocks + 1
    depths = getattr(config, "depths", None)
    if isinstance(depths, (list, tuple)) and depths:
        return len(depths) + 1
    return None


def _pair(value: Any, name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in pair
    ):
        raise ValueError(f"{name}={value!r}; use a positive int or a (rows, cols) pair")
    return int(pair[0]), int(pair[1])


# --------------------------------------------------------------------------- encoder


class VisionEncoder(LoadedModelAccess):
    """Pooled hidden states of every layer of a vision model, one row per image.

    Parameters
    ----------
    model : str or path-like
        Hugging Face hub id or local directory (``config.json``, weights and
        ``preprocessor_config.json``) of a vision model (ViT, DeiT, BEiT, DINOv2,
        ConvNeXt, ResNet, ...) or of a multimodal model whose config has a
        ``vision_config`` (CLIP, SigLIP): then only its vision tower is loaded.
        ``trust_remote_code`` is off.
    weights : {"pretrained", "untrained"}
        ``"untrained"``: the same architecture with random weights from the model's own
        initialisation (``AutoModel.from_config`` under ``torch.manual_seed(seed)``, in
        ``torch.random.fork_rng`` so the caller's random state is untouched).
    seed : int
        Seed of the untrained weights.
    device : str
        Torch device, e.g. ``"cpu"`` or ``"cuda"``.
    dtype : {"float32", "float16", "bfloat16"}
        Dtype of the model; features are always returned as float32.
    batch_size : int
        Images per forward pass.
    pooling : {"cls", "mean", "spatial"}
        How a layer becomes one vector per image (see the module docstring). ``"cls"``
        is refused for ConvNets (:data:`CONV_MODEL_TYPES`) and models without a CLS token.
    grid : int or (int, int)
        Cells (rows, columns) of ``pooling="spatial"``. Default 2 x 2.
    processor : callable, optional
        Image processor to use instead of the model's own: called as
        ``processor(images=[PIL images], return_tensors="pt")`` and must return
        ``pixel_values``. Needed when the model directory has no processor config.
    progress : bool or str
        Show a progress bar over batches (only when stderr is a terminal), named by the
        string when one is given.

    Attributes
    ----------
    model_id : str
        The model as given.
    source : str
        Where it was loaded from.
    model_type : str
        ``config.model_type`` of the (vision tower) model.
    n_layers : int or None
        Hidden states per image (blocks or stages + 1), ``None`` if the config does not
        say (then it is learned from the first batch).

    Raises
    ------
    ModelLoadError
        If the model or its image processor cannot be found or loaded.
    ValueError
        For out-of-range settings, or ``pooling="cls"`` with a ConvNet.
    """

    def __init__(
        self,
        model: str | os.PathLike,
        *,
        weights: Literal["pretrained", "untrained"] = "pretrained",
        seed: int = 0,
        device: str = "cpu",
        dtype: str = "float32",
        batch_size: int = 16,
        pooling: VisionPooling = "cls",
        grid: int | tuple[int, int] = 2,
        processor: Any = None,
        progress: bool | str = True,
    ) -> None:
        if pooling not in _POOLINGS:
            raise ValueError(f"pooling={pooling!r}; use 'cls', 'mean' or 'spatial'")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r}; it must be a positive integer")
        self.grid = _pair(grid, "grid")
        loaded, processor, source, provenance = _load_vision_model(
            model, weights=weights, seed=seed, device=device, dtype=dtype, processor=processor
        )
        self.model_id = os.fspath(model)
        self.model_type = provenance["model_type"]
        if pooling == "cls" and self.model_type in CONV_MODEL_TYPES:
            raise ValueError(
                f"pooling='cls' needs a CLS token, but {self.model_id!r} is a ConvNet "
                f"({self.model_type}) whose layers are feature maps; use pooling='mean' "
                "or 'spatial'"
            )
        self._model = loaded
        self._processor = processor
        self._provenance = provenance
        self.source = source
        self.n_layers = _n_hidden_states(loaded.config)
        self._patch_size = getattr(loaded.config, "patch_size", None)
        self.weights = weights
        self.seed = seed
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size
        self.pooling = pooling
        self.progress = progress

    @property
    def processor(self) -> Any:
        """The image processor (or the callable given as ``processor=``)."""
        return self._processor

    def __repr__(self) -> str:
        return f"VisionEncoder({self.model_id!r}, {self.weights}, pooling={self.pooling!r})"

    def encode_images(
        self,
        images: Any,
        *,
        layers: Sequence[int] | None = None,
        stimulus_ids: Sequence[Any] | np.ndarray | None = None,
        heads: bool = False,
        blocks: bool = False,
        store: FeatureStore | None = None,
        key: Mapping[str, Any] | None = None,
    ) -> Features:
        """Encode images, one pooled feature vector per image and layer.

        Parameters
        ----------
        images : folder, path, PIL image, array, or a sequence of paths/PIL images/arrays
            A folder (its files with a suffix in :data:`IMAGE_SUFFIXES`, sorted by name),
            image files, PIL images, or numpy arrays of shape (H, W, 3) (also (H, W) grey
            or (H, W, 4) RGBA, alpha dropped), uint8 in 0..255 or float in [0, 1]; an
            array of shape (n_images, H, W, 3) is a stack of images. Everything is
            converted to RGB. Every file is read before the first forward pass, so a
            missing or unreadable file fails early.
        layers : sequence of int, optional
            Hidden-state indices to keep (0 = embedding output). Default: all.
        stimulus_ids : array-like, shape (n_images,), optional
            Unique row labels. Default: the file stems when every image is a file
            path, else ``0 .. n_images - 1``.
        heads : bool
            Vision transformers only. Also return, for every requested layer ``L >= 1``
            (block ``L - 1``), each head's output before the attention output
            projection as ``"L.heads"``, shape (n_images, n_heads, d_head), pooled over
            tokens like the hidden states (``"cls"``: the CLS token's per-head output;
            ``"mean"``: the mean over patch tokens; ``"spatial"``: each head pooled on
            its own, shape (n_images, n_heads, d_head * grid_rows * grid_cols)).
        blocks : bool
            Vision transformers only. Also return the attention block output
            ``"L.attention"`` and the MLP block output ``"L.mlp"`` (before the residual
            sum), each (n_images, d_model) (times the grid cells for ``"spatial"``),
            pooled the same way, for every requested ``L >= 1``.
        store : FeatureStore, optional
            Stream the features into this store instead of memory: each batch's pooled
            rows are written into the entry of ``key`` as soon as they are computed, so
            memory does not grow with the number of images. If the entry is complete
            already, it is returned without a forward pass (and without reading the
            images). An error mid-way leaves no entry.
        key : mapping, optional
            The entry's key, with ``store`` (and only with it). It must describe this
            call (model, weights, processor, layers, pooling and grid, dtype, images,
            ``heads``/``blocks``): build it with
            :func:`~brainalign.encoders.store.feature_key` (or
            :func:`~brainalign.encoders.extract.image_features_key`, with
            ``extra=`` for the captures).

        Returns
        -------
        Features
            ``layers`` maps ``str(index)`` to float32 arrays of shape (n_images, n_dims),
            then per captured block the ``"L.attention"``, ``"L.mlp"`` and ``"L.heads"``
            arrays asked for (the text encoder's order). With a store, the entry read
            back memory-mapped.

        Raises
        ------
        FileNotFoundError
            If an image file or the folder does not exist.
        ValueError
            For an unreadable file, a bad array, layers out of range, bad ids, only one
            of ``store`` and ``key``, or ``heads``/``blocks`` with a ConvNet or a model
            family without head-capture paths
            (:class:`~brainalign.encoders.heads.UnsupportedArchitectureError`).
        FeatureStoreError
            If the store cannot be written or holds a conflicting entry.
        """
        check_store(store, key, hint="build the key with image_features_key or feature_key")
        heads, blocks = bool(heads), bool(blocks)
        if heads or blocks:
            self._check_capture_support()
        found = store.try_load(key) if store is not None else None
        if found is not None:
            return found

        items = _collect_images(images)
        n_images = len(items)
        stimulus_ids = self._check_ids(items, stimulus_ids)
        layer_ids = self._check_layers(layers) if self.n_layers is not None else None
        capture = self._layer_capture(layer_ids, heads=heads, blocks=blocks)
        for index, item in enumerate(items):  # fail on a bad image before any forward pass
            _check_image(item, index)

        processor = self._processor
        provenance = {
            "model": self.model_id,
            **self._provenance,
            "pooling": self.pooling,
            "grid": list(self.grid) if self.pooling == "spatial" else None,
            "dtype": self.dtype,
            "device": self.device,
            "n_layers": self.n_layers,
            "n_images": n_images,
            "pixel_size": None,  # set by the first batch
            "processor": type(processor).__name__,
            "processor_config": processor.to_dict() if hasattr(processor, "to_dict") else None,
        }

        def fill(sink: Sink) -> None:
            self._run(items, layers, layer_ids, capture, sink, provenance)

        return collect(fill, n_images, stimulus_ids, None, provenance, store, key)

    extract = encode_images

    # ----------------------------------------------------------------- running

    def _run(
        self,
        items: list[Any],
        layers: Sequence[int] | None,
        layer_ids: list[int] | None,
        capture: Any,
        sink: Sink,
        provenance: dict[str, Any],
    ) -> None:
        """Run the images in batches, pool every layer and hand each batch to ``sink``.

        Parameters
        ----------
        items : list, length n_images
            Checked images (paths, PIL images or arrays).
        layers : sequence of int or None
            The layers asked for (checked after the first batch when the config does
            not state the number of hidden states, ``layer_ids is None``).
        layer_ids : list of int or None
            Checked hidden-state indices.
        capture : LayerCapture or None
            Hooks for ``"L.heads"``, ``"L.attention"`` and ``"L.mlp"``.
        sink : Sink
            Receives, per batch, the image rows and ``{name: (n_batch, ...)}`` float32
            arrays.
        provenance : dict
            Updated with ``n_layers`` and ``pixel_size``.
        """
        import torch

        n_images = len(items)
        with thread_limit(), torch.inference_mode(), capture or contextlib.nullcontext():
            for start in self._batches(n_images):
                stop = min(start + self.batch_size, n_images)
                batch = [_to_rgb(items[i], i) for i in range(start, stop)]
                pixel_values = self._preprocess(batch)
                pixel_size = tuple(pixel_values.shape[-2:])
                hidden_states = self._forward(pixel_values)
                if layer_ids is None:
                    self.n_layers = len(hidden_states)
                    layer_ids = self._check_layers(layers)
                pooled = {
                    str(layer): _numpy(self._pool(hidden_states[layer], pixel_size, layer))
                    for layer in layer_ids
                }
                if capture is not None:
                    pooled.update(self._pool_captures(capture, pixel_size))
                sink.write(np.arange(start, stop), pooled)
                provenance["pixel_size"] = list(pixel_size)
        provenance["n_layers"] = self.n_layers

    def _pool_captures(self, capture: Any, pixel_size: tuple[int, int]) -> dict[str, np.ndarray]:
        """Pooled ``"L.attention"``, ``"L.mlp"`` and ``"L.heads"`` of one batch.

        Per-head outputs (batch, seq, n_heads, d_head) are pooled as one
        (batch, seq, n_heads * d_head) hidden state and split back per head: every
        pooling acts on each channel alone, so this pools each head on its own.
        """
        pooled: dict[str, np.ndarray] = {}
        for block in capture.layers:
            layer = block + 1
            if capture.store_blocks:
                for name, outputs in (
                    ("attention", capture.attention_output),
                    ("mlp", capture.mlp_output),
                ):
                    pooled[f"{layer}.{name}"] = _numpy(
                        self._pool(outputs[block], pixel_size, layer)
                    )
            if capture.store_heads:
                per_head = capture.heads[block]  # (batch, seq, n_heads, d_head)
                flat = self._pool(per_head.flatten(start_dim=2), pixel_size, layer)
                pooled[f"{layer}.heads"] = _numpy(flat.unflatten(1, (per_head.shape[2], -1)))
        return pooled

    def _check_capture_support(self) -> None:
        """Refuse ``heads``/``blocks`` for ConvNets and unregistered families, early."""
        from brainalign.encoders.heads import architecture_spec, supported_architectures

        if self.model_type in CONV_MODEL_TYPES:
            raise ValueError(
                f"heads=True or blocks=True needs a vision transformer, but "
                f"{self.model_id!r} ({self.model_type}) is a ConvNet: its stages have no "
                "attention heads and no attention/MLP blocks. Use heads=False and "
                "blocks=False, or a transformer of a family with head-capture support "
                f"({', '.join(supported_architectures())})"
            )
        architecture_spec(self._model)  # UnsupportedArchitectureError names the families
        if self.n_layers is None:
            raise ValueError(
                f"heads=True or blocks=True needs the number of blocks, but the config of "
                f"{self.model_id!r} ({self.model_type}) has no num_hidden_layers; use "
                "heads=False and blocks=False for this model"
            )

    def _layer_capture(self, layer_ids: list[int] | None, *, heads: bool, blocks: bool) -> Any:
        """Hooks on the blocks of the requested layers ``L >= 1``, or None.

        Built (not entered) before any forward pass, so module paths that do not
        resolve fail early.
        """
        if not (heads or blocks):
            return None
        from brainalign.encoders.heads import LayerCapture

        assert layer_ids is not None  # _check_capture_support needs n_layers
        captured_blocks = [layer - 1 for layer in layer_ids if layer >= 1]
        if not captured_blocks:  # only the embedding output: no block to capture
            return None
        return LayerCapture(self._model, captured_blocks, heads=heads, blocks=blocks)

    def _batches(self, n_images: int) -> Iterator[int]:
        """Start index of each batch, with a progress bar."""
        starts = range(0, n_images, self.batch_size)
        yield from progress_bar(starts, self.progress, f"encoding ({self.model_id})")

    def _preprocess(self, batch: list[Any]) -> Any:
        import torch

        try:
            pixel_values = self._processor(images=batch, return_tensors="pt")["pixel_values"]
        except (KeyError, TypeError) as error:
            raise ValueError(
                f"the image processor {type(self._processor).__name__} did not return "
                f"pixel_values ({error}); pass an image processor for {self.model_id!r}"
            ) from error
        return torch.as_tensor(pixel_values)

    def _forward(self, pixel_values: Any) -> tuple[Any, ...]:
        """Run one batch and return all hidden states."""
        model_dtype = next(self._model.parameters()).dtype
        output = self._model(
            pixel_values=pixel_values.to(device=self.device, dtype=model_dtype),
            output_hidden_states=True,
        )
        hidden_states = getattr(output, "hidden_states", None)
        if hidden_states is None or (
            self.n_layers is not None and len(hidden_states) != self.n_layers
        ):
            got = None if hidden_states is None else len(hidden_states)
            raise RuntimeError(
                f"model {self.model_id!r} returned {got} hidden states; expected "
                f"{self.n_layers} (blocks or stages + 1)"
            )
        return hidden_states

    def _pool(self, hidden: Any, pixel_size: tuple[int, int], layer: int) -> Any:
        n_prefix, patch_grid = 0, None
        if hidden.ndim == 3:
            if self._patch_size is None:
                if self.pooling != "mean":
                    raise ValueError(
                        f"model {self.model_id!r} ({self.model_type}) does not state its "
                        f"patch_size, so its CLS and patch tokens cannot be told apart; "
                        "use pooling='mean'"
                    )
            else:
                rows, cols = _pair(self._patch_size, "patch_size")
                patch_grid = (pixel_size[0] // rows, pixel_size[1] // cols)
                n_prefix = hidden.shape[1] - patch_grid[0] * patch_grid[1]
                if n_prefix < 0:
                    raise ValueError(
                        f"layer {layer} of {self.model_id!r} has {hidden.shape[1]} tokens, "
                        f"fewer than the {patch_grid[0]} x {patch_grid[1]} patches of a "
                        f"{pixel_size} image; this model type ({self.model_type}) is not "
                        "supported"
                    )
        return pool_hidden_state(
            hidden, self.pooling, n_prefix=n_prefix, patch_grid=patch_grid, grid=self.grid
        )

    # ----------------------------------------------------------------- checks

    def _check_layers(self, layers: Sequence[int] | None) -> list[int]:
        return check_layer_indices(layers, self.n_layers, self.model_id)

    @staticmethod
    def _check_ids(items: list[Any], stimulus_ids: Any) -> np.ndarray:
        n_images = len(items)
        if stimulus_ids is None:
            if all(isinstance(item, (str, os.PathLike)) for item in items):
                ids = np.array([Path(item).stem for item in items])
                if len(set(ids.tolist())) == n_images:
                    return ids
                raise ValueError(
                    "the image files' names (stems) repeat, so they cannot serve as "
                    "stimulus ids; pass stimulus_ids="
                )
            return np.arange(n_images)
        ids = np.asarray(stimulus_ids)
        if ids.ndim != 1 or len(ids) != n_images:
            raise ValueError(
                f"stimulus_ids has shape {ids.shape}; expected ({n_images},), one per image"
            )
        if len(set(ids.tolist())) != n_images:
            raise ValueError("stimulus_ids repeat; give each image a unique id")
        return ids


# --------------------------------------------------------------------------- sinks


def _numpy(pooled: Any) -> np.ndarray:
    """A pooled tensor as a float32 numpy array on the CPU."""
    return pooled.cpu().numpy().astype(np.float32, copy=False)
