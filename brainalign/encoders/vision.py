"""Per-layer features of images from Hugging Face vision models.

:class:`VisionEncoder` runs a vision model from ``transformers`` (ViT, DeiT, BEiT,
DINOv2, the vision tower of CLIP/SigLIP, ConvNeXt, ResNet, ...) on a set of images and
returns one pooled feature vector per image for every hidden state the model returns
(``output_hidden_states=True``): layer ``"0"`` is the embedding output (patch embeddings
for transformers, the stem for ConvNets), then one per block (transformers) or stage
(ConvNets), as transformers returns them.

Images in
---------
:meth:`VisionEncoder.encode_images` takes a :class:`~brainalign.stimuli.Stimuli` table
whose ``image`` column holds paths (ids from the table; relative paths taken from the
current directory, or from ``root=``), a folder (its image files sorted by name, ids the
stems), a ``.zip`` of images (members read from the archive without extracting, sorted
by member name, ids the stems; any other member is an error), a list of paths, PIL
images or arrays, or an :class:`ImageStimuli`. All go through :func:`image_stimuli`,
which reads, hashes (:func:`image_sha256`) and checks every image before the first
forward pass, and :func:`image_features_key` keys the store entry by ids and digests, so
the same bytes under the same ids share an entry whichever way they were given. Images
are decoded with PIL only.

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
import hashlib
import io
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from brainalign.encoders.common import (
    LoadedModelAccess,
    check_batch_size,
    check_layer_indices,
    file_sha256,
    progress_bar,
    thread_limit,
)
from brainalign.encoders.features import Features
from brainalign.encoders.loading import load_model
from brainalign.encoders.models import ModelLoadError
from brainalign.encoders.sinks import Sink, collect, load_stored

if TYPE_CHECKING:
    from brainalign.encoders.store import FeatureStore

__all__ = [
    "CONV_MODEL_TYPES",
    "IMAGE_SUFFIXES",
    "ImageStimuli",
    "ModelLoadError",
    "VisionEncoder",
    "ZipMember",
    "image_features_key",
    "image_sha256",
    "image_stimuli",
    "list_image_files",
    "list_zip_images",
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


def list_zip_images(archive: str | os.PathLike) -> list[ZipMember]:
    """The image members of a zip archive, sorted by member name (read, never extracted).

    Parameters
    ----------
    archive : str or path-like
        A ``.zip`` file. Members in sub-folders count too; macOS metadata
        (``__MACOSX/...``, ``.DS_Store``) and directory entries are skipped.

    Returns
    -------
    list of ZipMember
        One per member, sorted by its full name inside the archive as a plain string.

    Raises
    ------
    FileNotFoundError
        If ``archive`` does not exist.
    ValueError
        If it is not a readable zip archive, holds no file (empty, or directories
        only), repeats a member name, or holds members whose suffix is not in
        :data:`IMAGE_SUFFIXES` (all named in the message, up to five).
    """
    import zipfile

    path = Path(archive)
    if not path.is_file():
        raise FileNotFoundError(f"zip archive {str(path)!r} does not exist")
    try:
        with zipfile.ZipFile(path) as handle:
            infos = handle.infolist()
    except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(
            f"{str(path)!r} is not a readable zip archive ({error}); pass a .zip of image "
            "files, or a folder"
        ) from error
    names = [info.filename for info in infos if not info.is_dir() and not _is_zip_junk(info)]
    if not names:
        what = "is empty" if not infos else "holds only directories (or macOS metadata)"
        raise ValueError(
            f"zip archive {str(path)!r} {what}: no image to read; put the image files "
            f"({', '.join(IMAGE_SUFFIXES)}) in it"
        )
    others = sorted(
        name for name in names if PurePosixPath(name).suffix.lower() not in IMAGE_SUFFIXES
    )
    if others:
        shown = ", ".join(others[:5]) + (
            f", ... ({len(others) - 5} more)" if len(others) > 5 else ""
        )
        these = "members that are not images" if len(others) > 1 else "member that is not an image"
        raise ValueError(
            f"{str(path)} holds {len(others)} {these}: {shown}; images end in "
            f"{', '.join(IMAGE_SUFFIXES)}. Remove the other members from the archive (or "
            "unpack it and pass the folder, whose other files are skipped)"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(
            f"zip archive {str(path)!r} holds the member name(s) {repeated[:5]} more than "
            "once; rebuild it with each image once"
        )
    return [ZipMember(path, name) for name in sorted(names)]


def _is_zip_junk(info: Any) -> bool:
    """macOS metadata that zip tools add next to the files: never an image."""
    name = info.filename
    return name.startswith("__MACOSX/") or PurePosixPath(name).name == ".DS_Store"


@dataclass(frozen=True)
class ZipMember:
    """One image inside a zip archive; its bytes are read from the archive, not from disk.

    Attributes
    ----------
    archive : Path
        The ``.zip`` file.
    name : str
        The member's name inside the archive (``/``-separated, as stored).
    """

    archive: Path
    name: str

    @property
    def stem(self) -> str:
        """The member's file name without folders and suffix (its default stimulus id)."""
        return PurePosixPath(self.name).stem

    def __str__(self) -> str:
        return f"{self.archive}:{self.name}"


@dataclass(frozen=True)
class ImageStimuli:
    """Images to encode, in order, with their stimulus ids and content digests.

    Made by :func:`image_stimuli` from every input :meth:`VisionEncoder.encode_images`
    accepts (and by :func:`~brainalign.encoders.extract.read_stimuli` from a table, a
    folder or a zip); :func:`image_features_key` keys them by ids and digests only, so
    the same images reach the same store entry whichever way they were given.

    Attributes
    ----------
    paths : list, length n_images
        The images to read, in order: file paths (:class:`~pathlib.Path`), members of a
        zip archive (:class:`ZipMember`), PIL images or arrays. May be empty when the
        stimuli only describe images held elsewhere, to build a key (then
        ``encode_images`` refuses them).
    names : list of str, length n_images
        How each image is named in messages (its path, ``archive.zip:member``, or
        ``image i``). Not part of the key.
    stimulus_ids : numpy.ndarray, shape (n_images,)
        Unique row labels.
    sha256 : list of str, length n_images
        :func:`image_sha256` of each image.
    source : str
        Where the images came from (folder, archive, table), for messages.

    Raises
    ------
    ValueError
        If the lengths differ.
    """

    paths: list[Any]
    names: list[str]
    stimulus_ids: np.ndarray
    sha256: list[str]
    source: str

    def __post_init__(self) -> None:
        n_images = len(self.stimulus_ids)
        lengths = {"names": len(self.names), "sha256": len(self.sha256)}
        if self.paths:
            lengths["paths"] = len(self.paths)
        wrong = {name: length for name, length in lengths.items() if length != n_images}
        if wrong:
            raise ValueError(
                f"ImageStimuli of {self.source}: {n_images} stimulus ids but {wrong}; give "
                "one name, digest (and path) per image"
            )

    def __len__(self) -> int:
        return len(self.stimulus_ids)


def _bytes_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _array_sha256(array: np.ndarray) -> str:
    header = f"{array.dtype.str}:{array.shape}:".encode()
    return hashlib.sha256(header + np.ascontiguousarray(array).tobytes()).hexdigest()


def _pil_sha256(image: Any) -> str:
    return _array_sha256(np.asarray(image.convert("RGB")))


def image_sha256(image: Any) -> str:
    """sha256 (hex) identifying one image's content, as feature-store keys see it.

    Parameters
    ----------
    image : path-like, ZipMember, PIL image or numpy.ndarray
        A file or archive member: sha256 of its bytes (``sha256sum`` of the file, so a
        file and the same file inside a zip agree). An array: sha256 of its dtype
        (``dtype.str``), shape (``str(shape)``) and C-order bytes, as
        ``f"{dtype.str}:{shape}:".encode() + bytes``. A PIL image: that of its RGB
        uint8 array (``np.asarray(image.convert("RGB"))``), so a PIL image and its RGB
        array agree.

    Returns
    -------
    str
        64 hex characters.
    """
    from PIL import Image

    if isinstance(image, np.ndarray):
        return _array_sha256(image)
    if isinstance(image, Image.Image):
        return _pil_sha256(image)
    if isinstance(image, ZipMember):
        with _ImageReader() as reader:
            return _bytes_sha256(reader.read_bytes(image))
    return file_sha256(image)


class _ImageReader:
    """Reads image files and zip members, keeping each archive open while in use."""

    def __init__(self) -> None:
        self._archives: dict[Path, Any] = {}

    def __enter__(self) -> _ImageReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self._archives.values():
            handle.close()
        self._archives.clear()

    def read_bytes(self, item: Path | ZipMember) -> bytes:
        if isinstance(item, ZipMember):
            import zipfile

            handle = self._archives.get(item.archive)
            if handle is None:
                handle = self._archives[item.archive] = zipfile.ZipFile(item.archive)
            return handle.read(item.name)
        return Path(item).read_bytes()

    def checked_bytes(self, item: Path | ZipMember, index: int) -> bytes:
        """The bytes of a file or member, or a clear error naming the image."""
        import zipfile
        import zlib

        if isinstance(item, Path) and not item.is_file():
            raise FileNotFoundError(f"image {index}: file {str(item)!r} does not exist")
        try:
            return self.read_bytes(item)
        except (OSError, zipfile.BadZipFile, RuntimeError, NotImplementedError, KeyError,
                zlib.error) as error:  # fmt: skip
            raise _unreadable(item, index, error) from error

    def rgb(self, item: Any, index: int) -> Any:
        """One image as an RGB PIL image (EXIF orientation is not applied)."""
        from PIL import Image, UnidentifiedImageError

        if isinstance(item, Image.Image):
            return item.convert("RGB")
        if isinstance(item, np.ndarray):
            array = _check_array(item, index)
            if array.shape[-1] == 1:
                return Image.fromarray(array[:, :, 0], mode="L").convert("RGB")
            return Image.fromarray(array).convert("RGB")
        data = self.checked_bytes(item, index)
        try:
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                return image.convert("RGB")
        except (UnidentifiedImageError, OSError, ValueError) as error:
            raise _unreadable(item, index, error) from error


def _unreadable(item: Any, index: int, error: Exception) -> ValueError:
    return ValueError(
        f"image {index}: could not read {str(item)!r} as an image ({error}); check "
        "the file or remove it from the list"
    )


def _resolve(path: str | os.PathLike, root: str | os.PathLike | None) -> Path:
    """A path as given (relative to the current directory), or relative to ``root``."""
    resolved = Path(path).expanduser()
    if root is not None and not resolved.is_absolute():
        resolved = Path(root).expanduser() / resolved
    return resolved


def image_stimuli(
    images: Any,
    *,
    stimulus_ids: Sequence[Any] | np.ndarray | None = None,
    root: str | os.PathLike | None = None,
) -> ImageStimuli:
    """Gather images from any accepted input: ids, digests, every image checked.

    The one path every input takes on its way to :meth:`VisionEncoder.encode_images`
    and to :func:`image_features_key`: each image is read once here (its bytes hashed
    and its header checked by PIL, or an array's shape and values checked), so a missing
    or unreadable image fails before any forward pass.

    Parameters
    ----------
    images : Stimuli, ImageStimuli, folder, .zip, path, PIL image, array, or a sequence
        - a :class:`~brainalign.stimuli.Stimuli` whose ``image`` column holds file
          paths, PIL images or arrays; the ids are its ``stimulus_id`` column. (A pandas
          DataFrame is refused: wrap it in ``Stimuli(table)``.)
        - a folder: its files with a suffix in :data:`IMAGE_SUFFIXES` (other files are
          skipped), sorted by file name; ids are the file stems.
        - a ``.zip`` file: its image members read from the archive, never extracted
          (see :func:`list_zip_images`), sorted by member name; ids are the member
          stems. A member that is not an image is an error.
        - image files, PIL images, or numpy arrays of shape (H, W, 3) (also (H, W) grey
          or (H, W, 4) RGBA, alpha dropped), uint8 in 0..255 or float in [0, 1]; an
          array of shape (n_images, H, W, 3) is a stack of images. Ids are the file
          stems when every image is a file, else ``0 .. n_images - 1``.
        - an :class:`ImageStimuli`, returned as it is.
    stimulus_ids : array-like, shape (n_images,), optional
        Unique row labels, instead of the default ids (not with ``Stimuli`` or
        ``ImageStimuli``, which carry theirs).
    root : str or path-like, optional
        Folder that relative paths are taken from: the paths in a ``Stimuli`` table or
        a list, and ``images`` itself. Default: as given, i.e. relative to the current
        directory.

    Returns
    -------
    ImageStimuli

    Raises
    ------
    TypeError
        For an input of another type (a DataFrame says to wrap it in ``Stimuli``).
    FileNotFoundError
        If an image file, the folder or the archive does not exist.
    ValueError
        For an empty input, a folder among the images, a file PIL cannot read, a bad
        array, bad or repeated ids, a ``Stimuli`` table without an ``image`` column, or
        an archive that is not a zip, is empty or holds other files.
    """
    import pandas as pd
    from PIL import Image

    from brainalign.stimuli import Stimuli

    if isinstance(images, ImageStimuli):
        if stimulus_ids is not None:
            raise ValueError(
                "stimulus_ids= was given with ImageStimuli, which carry their ids; drop it"
            )
        if not images.paths:
            raise ValueError(
                f"the ImageStimuli of {images.source} hold no images to read (only names "
                "and digests, to build a key); pass the images themselves"
            )
        return images
    if isinstance(images, pd.DataFrame):
        raise TypeError(
            "images is a pandas DataFrame; wrap it in brainalign.stimuli.Stimuli(table) "
            "(columns stimulus_id, group and image: file paths, PIL images or arrays), so "
            "its ids and its image column are read"
        )
    ids: np.ndarray | None = None
    source = "images"
    if isinstance(images, Stimuli):
        items, ids, source = _stimuli_items(images, stimulus_ids, root)
    elif isinstance(images, (str, os.PathLike)):
        path = _resolve(images, root)
        source = str(path)
        if path.is_dir():
            items = list(list_image_files(path))
        elif path.suffix.lower() == ".zip":
            items = list(list_zip_images(path))
        else:
            items = [path]
    elif isinstance(images, Image.Image):
        items = [images]
    elif isinstance(images, np.ndarray):
        items = list(images) if images.ndim == 4 else [images]
    elif isinstance(images, (bytes, bytearray)) or not (
        isinstance(images, Sequence) or hasattr(images, "__iter__")
    ):
        raise TypeError(
            f"images is a {type(images).__name__}; pass a Stimuli table, a folder, a .zip "
            "file, a list of file paths, PIL images or (H, W, 3) arrays, or an "
            "(n_images, H, W, 3) array"
        )
    else:
        items = [_item(item, index, root) for index, item in enumerate(images)]
    if not items:
        raise ValueError("images is empty; pass at least one image")
    if ids is None:
        ids = _image_ids(items, stimulus_ids)
    names, digests = [], []
    with _ImageReader() as reader:
        for index, item in enumerate(items):
            names.append(str(item) if isinstance(item, (Path, ZipMember)) else f"image {index}")
            digests.append(_checked_sha256(reader, item, index, root))
    return ImageStimuli(items, names, ids, digests, source)


def _stimuli_items(
    stimuli: Any, stimulus_ids: Any, root: str | os.PathLike | None
) -> tuple[list[Any], np.ndarray, str]:
    """The images of a ``Stimuli`` table's ``image`` column, with its ids."""
    table = stimuli.table
    if "image" not in table.columns:
        raise ValueError(
            f"these Stimuli have no 'image' column (columns: {list(table.columns)}); give "
            "one holding each stimulus' image file path (or PIL image or array)"
        )
    if stimulus_ids is not None:
        raise ValueError(
            "stimulus_ids= was given with Stimuli, whose 'stimulus_id' column gives the ids; "
            "drop stimulus_ids="
        )
    ids = stimuli.stimulus_ids
    items = []
    for row, cell in enumerate(table["image"].tolist()):
        if cell is None or (isinstance(cell, float) and np.isnan(cell)):
            raise ValueError(
                f"Stimuli row {row} (stimulus_id {ids[row]!r}): the 'image' cell is empty; "
                "give every row an image (a file path, PIL image or array)"
            )
        try:
            items.append(_item(cell, row, root))
        except (TypeError, ValueError) as error:
            raise type(error)(f"Stimuli row {row} (stimulus_id {ids[row]!r}): {error}") from None
    return items, ids, "Stimuli table"


def _item(item: Any, index: int, root: str | os.PathLike | None) -> Any:
    """One image of a list or table: a resolved path, a ZipMember, a PIL image or an array."""
    from PIL import Image

    if isinstance(item, (str, os.PathLike)):
        path = _resolve(item, root)
        if path.is_dir():
            raise ValueError(
                f"image {index} ({str(path)!r}) is a folder; pass the folder itself as "
                "images=, or list its files"
            )
        return path
    if isinstance(item, (ZipMember, Image.Image, np.ndarray)):
        return item
    raise TypeError(
        f"image {index} is a {type(item).__name__}; each image must be a file path, a PIL "
        "image or an (H, W, 3) array"
    )


def _image_ids(items: list[Any], stimulus_ids: Any) -> np.ndarray:
    """Given ids, checked; else file (member) stems when every image is one, else 0..n-1."""
    n_images = len(items)
    if stimulus_ids is None:
        if all(isinstance(item, (Path, ZipMember)) for item in items):
            ids = np.array([item.stem for item in items])
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


def _checked_sha256(
    reader: _ImageReader, item: Any, index: int, root: str | os.PathLike | None
) -> str:
    """:func:`image_sha256` of one image, checked: the file's header must open in PIL.

    Files are verified without decoding their pixels; the pixels are decoded once,
    batch by batch, by :meth:`_ImageReader.rgb`.
    """
    from PIL import Image, UnidentifiedImageError

    if isinstance(item, np.ndarray):
        _check_array(item, index)
        return _array_sha256(item)
    if isinstance(item, Image.Image):
        return _pil_sha256(item)
    try:
        data = reader.checked_bytes(item, index)
    except FileNotFoundError as error:
        if root is None and isinstance(item, Path) and not item.is_absolute():
            raise FileNotFoundError(
                f"{error} (relative paths are taken from the current directory "
                f"{os.getcwd()!r}; pass root= to take them from another folder)"
            ) from None
        raise
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise _unreadable(item, index, error) from error
    return _bytes_sha256(data)


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


# --------------------------------------------------------------------------- keys


def image_features_key(
    encoder: VisionEncoder,
    stimuli: ImageStimuli,
    layers: Sequence[int] | None,
    *,
    captures: Mapping[str, bool] | None = None,
) -> dict[str, Any]:
    """The store key of ``encoder.encode_images(stimuli, layers=layers, ...)``.

    The images enter the key by their stimulus ids and :func:`image_sha256` digests
    only, never by their paths or names: a folder, a zip of the same files, the same
    files listed as paths or in a ``Stimuli`` table give the same key when their bytes
    and ids are equal (so they share an entry), and any changed byte or id gives another
    key. Decoded images (PIL images, arrays) are keyed by their pixels, so they do not
    share an entry with the files they came from.

    Parameters
    ----------
    encoder : VisionEncoder
    stimuli : ImageStimuli
        From :func:`image_stimuli` (or
        :func:`~brainalign.encoders.extract.read_stimuli`).
    layers : sequence of int or None
        Checked hidden-state indices; ``None`` (all) only for models whose config does
        not state their number of layers (the key then says ``["all"]``).
    captures : mapping of str to bool, optional
        The per-head and per-block arrays asked for (``{"heads": ..., "blocks": ...}``);
        recorded as ``extra["capture"]`` when any is true.

    Returns
    -------
    dict
        :func:`~brainalign.encoders.store.feature_key` of the model id, weights (kind,
        per-file sha256 or seed, revision, config sha256), layers, pooling (and grid),
        processor configuration, dtype, and the
        :func:`~brainalign.encoders.store.stimulus_hash` of the table
        ``{"stimulus_id": ids, "image": digests}``.
    """
    from brainalign.encoders.store import (
        feature_key,
        json_sha256,
        stimulus_hash,
        weights_fingerprint,
    )

    model, processor, provenance = encoder.model, encoder.processor, encoder.provenance
    weights = weights_fingerprint(provenance, model.config, vision_tower=provenance.get("tower"))
    processor_config = processor.to_dict() if hasattr(processor, "to_dict") else None
    context = {
        "mode": "image",
        "grid": list(encoder.grid) if encoder.pooling == "spatial" else None,
        "processor": type(processor).__name__,
        "processor_sha256": json_sha256(processor_config),
    }
    table = {"stimulus_id": np.asarray(stimuli.stimulus_ids).tolist(), "image": stimuli.sha256}
    return feature_key(
        model=encoder.model_id,
        weights=weights,
        tokenizer=None,
        layers=["all"] if layers is None else [str(layer) for layer in layers],
        pooling=encoder.pooling,
        context=context,
        dtype=encoder.dtype,
        stimuli=stimulus_hash(table),
        extra={"capture": dict(captures)} if captures and any(captures.values()) else None,
    )


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
        check_batch_size(batch_size)
        self.grid = _pair(grid, "grid")
        loaded_model = load_model(
            model,
            modality="vision",
            weights=weights,
            seed=seed,
            device=device,
            dtype=dtype,
            preprocessor=processor,
        )
        loaded, processor = loaded_model.model, loaded_model.preprocessor
        source, provenance = loaded_model.source, loaded_model.provenance
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
        self.n_layers = loaded_model.n_layers
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

    def images_store_key(
        self,
        images: Any,
        *,
        layers: Sequence[int] | None = None,
        stimulus_ids: Sequence[Any] | np.ndarray | None = None,
        root: str | os.PathLike | None = None,
        heads: bool = False,
        blocks: bool = False,
    ) -> dict[str, Any]:
        """The feature-store key of :meth:`encode_images` with the same arguments.

        :meth:`encode_images` builds it itself (``store=`` only); this is for inspecting
        the entry. It reads and hashes the images: :func:`image_features_key` of
        ``image_stimuli(images, stimulus_ids=..., root=...)``, the checked layers and
        ``{"heads": ..., "blocks": ...}``.
        """
        stimuli = image_stimuli(images, stimulus_ids=stimulus_ids, root=root)
        layer_ids = self._check_layers(layers) if self.n_layers is not None else None
        return self._images_key(stimuli, layers, layer_ids, heads=heads, blocks=blocks)

    def encode_images(
        self,
        images: Any,
        *,
        layers: Sequence[int] | None = None,
        stimulus_ids: Sequence[Any] | np.ndarray | None = None,
        root: str | os.PathLike | None = None,
        heads: bool = False,
        blocks: bool = False,
        store: FeatureStore | None = None,
    ) -> Features:
        """Encode images, one pooled feature vector per image and layer.

        Parameters
        ----------
        images : Stimuli, folder, .zip, path, PIL image, array, or a sequence of them
            Everything :func:`image_stimuli` accepts:

            - a :class:`~brainalign.stimuli.Stimuli` whose ``image`` column holds file
              paths (or PIL images or arrays); the ids come from its ``stimulus_id``
              column (a pandas DataFrame is refused: wrap it in ``Stimuli(table)``);
            - a folder: its files with a suffix in :data:`IMAGE_SUFFIXES`, sorted by
              name, ids the file stems;
            - a ``.zip`` file: its image members, read straight from the archive
              (nothing is extracted), sorted by member name, ids the member stems; any
              other member is an error;
            - image files, PIL images, or numpy arrays of shape (H, W, 3) (also (H, W)
              grey or (H, W, 4) RGBA, alpha dropped), uint8 in 0..255 or float in
              [0, 1]; an array of shape (n_images, H, W, 3) is a stack of images;
            - an :class:`ImageStimuli` (from :func:`image_stimuli` or
              :func:`~brainalign.encoders.extract.read_stimuli`).

            Everything is converted to RGB and decoded with PIL. Every image is read
            (and hashed) before the first forward pass, so a missing or unreadable
            file fails early.
        layers : sequence of int, optional
            Hidden-state indices to keep (0 = embedding output). Default: all.
        stimulus_ids : array-like, shape (n_images,), optional
            Unique row labels. Default: the ``Stimuli`` table's ids, else the file (or
            member) stems when every image is a file, else ``0 .. n_images - 1``.
        root : str or path-like, optional
            Folder that relative image paths (in a ``Stimuli`` table, a list, or
            ``images`` itself) are taken from. Default: as given, i.e. relative to the
            current directory.
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
            rows are written into the entry of :meth:`images_store_key` of the same
            arguments (model, weights, processor, layers, pooling and grid, dtype,
            image digests, ``heads``/``blocks``) as soon as they are computed, so
            memory does not grow with the number of images. If the entry is complete
            already, it is returned without a forward pass (the images are still read
            and hashed, for the key). An error mid-way leaves no entry.

        Returns
        -------
        Features
            ``layers`` maps ``str(index)`` to float32 arrays of shape (n_images, n_dims),
            then per captured block the ``"L.attention"``, ``"L.mlp"`` and ``"L.heads"``
            arrays asked for (the text encoder's order). With a store, the entry read
            back memory-mapped.

        Raises
        ------
        TypeError
            For an input of another type (a DataFrame says to wrap it in ``Stimuli``).
        FileNotFoundError
            If an image file, the folder or the archive does not exist.
        ValueError
            For an unreadable file, a bad array, an archive that is not a zip, is empty
            or holds other files, layers out of range, bad ids, or
            ``heads``/``blocks`` with a ConvNet or a model
            family without head-capture paths
            (:class:`~brainalign.encoders.heads.UnsupportedArchitectureError`).
        FeatureStoreError
            If the store cannot be written or holds a conflicting entry.
        """
        heads, blocks = bool(heads), bool(blocks)
        if heads or blocks:
            self._check_capture_support()
        # every image read, hashed and checked before any forward pass (the key needs it)
        stimuli = image_stimuli(images, stimulus_ids=stimulus_ids, root=root)
        layer_ids = self._check_layers(layers) if self.n_layers is not None else None
        key = None
        if store is not None:
            key = self._images_key(stimuli, layers, layer_ids, heads=heads, blocks=blocks)
        found = load_stored(store, key)
        if found is not None:
            return found

        items, n_images = stimuli.paths, len(stimuli)
        capture = self._layer_capture(layer_ids, heads=heads, blocks=blocks)

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
            "image_source": stimuli.source,
            "pixel_size": None,  # set by the first batch
            "processor": type(processor).__name__,
            "processor_config": processor.to_dict() if hasattr(processor, "to_dict") else None,
        }

        def fill(sink: Sink) -> None:
            self._run(items, layers, layer_ids, capture, sink, provenance)

        return collect(fill, n_images, stimuli.stimulus_ids, None, provenance, store, key)

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
            Checked images (paths, zip members, PIL images or arrays).
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
        with (
            thread_limit(),
            torch.inference_mode(),
            capture or contextlib.nullcontext(),
            _ImageReader() as reader,
        ):
            for start in self._batches(n_images):
                stop = min(start + self.batch_size, n_images)
                batch = [reader.rgb(items[i], i) for i in range(start, stop)]
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

    def _images_key(
        self,
        stimuli: ImageStimuli,
        layers: Sequence[int] | None,
        layer_ids: list[int] | None,
        *,
        heads: bool,
        blocks: bool,
    ) -> dict[str, Any]:
        """:func:`image_features_key` of checked ``layer_ids`` (or ``layers`` as given)."""
        if layer_ids is None and layers is not None:  # a config without a layer count
            layer_ids = [int(layer) for layer in layers]
        captures = {"heads": bool(heads), "blocks": bool(blocks)}
        return image_features_key(self, stimuli, layer_ids, captures=captures)


# --------------------------------------------------------------------------- sinks


def _numpy(pooled: Any) -> np.ndarray:
    """A pooled tensor as a float32 numpy array on the CPU."""
    return pooled.cpu().numpy().astype(np.float32, copy=False)
