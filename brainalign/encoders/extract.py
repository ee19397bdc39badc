"""Feature extraction into the feature store: stimuli -> encoder -> store entry.

The orchestration behind ``brainalign extract``. Stimuli come from a
:class:`~brainalign.stimuli.Stimuli` table (e.g. a named dataset's words, with onsets
and ``space_before``, through :func:`text_stimuli`), from a table file, or from a folder
of images:

- a CSV or TSV with a ``text`` column and optional ``stimulus_id``, ``group``,
  ``onset`` (seconds) and ``space_before`` (true/false) columns goes through
  :class:`~brainalign.encoders.text.TextEncoder`. Its rows are either words of a
  continuous text in reading order (``context="window"``: each word read after the
  words before it, one text per ``group``) or sentences (``context="passage"``: each
  read after the earlier sentences of its ``group``, or ``"isolated"``: each alone).
  Without a context, rows holding more than one word mean ``"passage"`` and one word
  per row means ``"window"``; a list of unrelated words wants ``"isolated"``;
- a CSV or TSV with an ``image`` column of file paths (relative to the table's folder,
  or absolute) and an optional ``stimulus_id`` column, or a folder of image files,
  goes through :class:`~brainalign.encoders.vision.VisionEncoder`.

Every input is checked before a model is loaded, so a bad table fails in well under a
second and writes nothing. Features go into a :class:`~brainalign.encoders.store.FeatureStore`
with :meth:`~brainalign.encoders.store.FeatureStore.get_or_compute`: a second run with
the same key does no forward pass. Text features stream into the entry batch by batch
(``encode_words(..., store=, key=)``), so memory does not grow with the number of words;
image features likewise (``encode_images(..., store=, key=)``).

Keys
----
Words of one continuous text (``window``, no ``group`` column):
:func:`~brainalign.encoders.store.text_encoder_key` with the same arguments as
``encode_words`` (so an extraction of a dataset's words shares its entry with the
benchmarks that read the same store). Other text:
:func:`~brainalign.encoders.store.text_extract_key` with the context, level and groups.
Both add ``extra={"capture": {...}}`` only when per-head, per-block or attention
arrays are requested. Images:
:func:`~brainalign.encoders.store.feature_key` with the stimulus hash of the ids and
image paths as given, the processor's configuration, and one sha256 over the bytes of
every image file, so an edited image misses the entry even under an unchanged name.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from brainalign.encoders.common import file_sha256
from brainalign.encoders.pooling import POOLINGS

if TYPE_CHECKING:
    from brainalign.encoders.features import Features
    from brainalign.encoders.store import FeatureStore
    from brainalign.stimuli import Stimuli

__all__ = [
    "IMAGE_POOLINGS",
    "TEXT_POOLINGS",
    "Extraction",
    "ImageStimuli",
    "StimulusInputError",
    "TextStimuli",
    "extract_features",
    "image_features_key",
    "read_stimuli",
    "text_context",
    "text_stimuli",
]

#: Poolings of words (those of :func:`~brainalign.encoders.pooling.pool_hidden`).
TEXT_POOLINGS: tuple[str, ...] = POOLINGS
#: Poolings of images (see :mod:`brainalign.encoders.vision`).
IMAGE_POOLINGS = ("cls", "mean", "spatial")
_SEPARATORS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


class StimulusInputError(ValueError):
    """A stimulus file, folder or table that cannot be used, with what to do about it."""


@dataclass(frozen=True)
class TextStimuli:
    """Texts to encode (words or sentences), in reading order.

    Attributes
    ----------
    texts : list of str, length n_items
        Words of a continuous text or sentences.
    stimulus_ids : numpy.ndarray or None, shape (n_items,)
    onsets : numpy.ndarray or None, shape (n_items,)
        Seconds.
    space_before : numpy.ndarray of bool or None, shape (n_items,)
    source : str
        Where the texts came from (dataset name or file), for messages.
    groups : numpy.ndarray or None, shape (n_items,)
        Text (story) or passage of each item; ``None``: one group.
    """

    texts: list[str]
    stimulus_ids: np.ndarray | None
    onsets: np.ndarray | None
    space_before: np.ndarray | None
    source: str
    groups: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def one_word_per_item(self) -> bool:
        """Whether every item is a single word (no whitespace inside)."""
        return all(len(text.split()) == 1 for text in self.texts)


@dataclass(frozen=True)
class ImageStimuli:
    """Image files to encode, in order.

    Attributes
    ----------
    paths : list of Path, length n_images
        Resolved file paths.
    names : list of str, length n_images
        The paths as given (relative to the table's folder, or file names in a folder):
        what the stimulus hash sees, so a moved folder keeps its entry.
    stimulus_ids : numpy.ndarray, shape (n_images,)
        Given ids, or the file stems.
    sha256 : list of str, length n_images
        sha256 of each file's bytes.
    source : str
    """

    paths: list[Path]
    names: list[str]
    stimulus_ids: np.ndarray
    sha256: list[str]
    source: str

    def __len__(self) -> int:
        return len(self.paths)


Stimulus = TextStimuli | ImageStimuli


@dataclass
class Extraction:
    """What :func:`extract_features` did.

    Attributes
    ----------
    features : Features
        The stored arrays, memory-mapped from the entry.
    path : Path
        The entry directory.
    key : dict
        The store key.
    reused : bool
        True when a complete entry existed and nothing was computed.
    kind : {"text", "image"}
    """

    features: Features
    path: Path
    key: dict[str, Any]
    reused: bool
    kind: Literal["text", "image"]


# --------------------------------------------------------------------------- stimuli


def text_stimuli(stimuli: Stimuli, source: str) -> TextStimuli:
    """The words of a :class:`~brainalign.stimuli.Stimuli` table, read as one text.

    The rows are the words of one continuous text in order, with their ids, onsets and
    ``space_before`` where the table has them; its ``group`` column is not used. This is
    how ``brainalign extract --dataset NAME`` reads a dataset's words (the command line
    loads the dataset's ``Stimuli`` from the catalogue and passes them here), so its
    entry has the key of ``encode_words`` on the same words.

    Parameters
    ----------
    stimuli : Stimuli
        A table with a ``text`` column, one word per row.
    source : str
        Where the stimuli came from, for messages (e.g. ``"dataset alice2016"``).

    Returns
    -------
    TextStimuli

    Raises
    ------
    StimulusInputError
        If the table has no ``text`` column.
    """
    table = stimuli.table
    if "text" not in table.columns:
        raise StimulusInputError(
            f"{source} has no 'text' stimuli (columns {list(table.columns)}); "
            "extract its images with --stimuli"
        )
    return TextStimuli(
        texts=table["text"].astype(str).tolist(),
        stimulus_ids=table["stimulus_id"].to_numpy(),
        onsets=table["onset"].to_numpy(dtype=float) if "onset" in table.columns else None,
        space_before=(
            table["space_before"].to_numpy(dtype=bool) if "space_before" in table.columns else None
        ),
        source=source,
    )


def read_stimuli(path: str | os.PathLike) -> Stimulus:
    """Read a stimulus table (CSV/TSV with ``text`` or ``image``) or a folder of images.

    Parameters
    ----------
    path : str or path-like
        A ``.csv`` (comma), ``.tsv``/``.tab`` (tab) file, or a directory of images (its
        files with a suffix in :data:`~brainalign.encoders.vision.IMAGE_SUFFIXES`,
        sorted by name).

    Returns
    -------
    TextStimuli or ImageStimuli

    Raises
    ------
    StimulusInputError
        For a missing file, an unknown suffix, an unreadable or empty table, no (or
        both) content columns, an empty word, a bad onset or ``space_before`` value,
        repeated ids, or a missing or unreadable image.
    """
    path = Path(path)
    if path.is_dir():
        return _image_folder(path)
    if not path.exists():
        raise StimulusInputError(f"stimulus file {str(path)!r} does not exist")
    separator = _SEPARATORS.get(path.suffix.lower())
    if separator is None:
        raise StimulusInputError(
            f"stimulus file {str(path)!r}: unknown suffix {path.suffix!r}; use a .csv or "
            ".tsv table with a 'text' or 'image' column, or a folder of images"
        )
    import pandas as pd

    try:
        # every cell as a string: words such as "NA", "null" or "1" stay words
        table = pd.read_csv(path, sep=separator, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise StimulusInputError(
            f"stimulus file {str(path)!r} is not a readable {separator!r}-separated table "
            f"({error}); it needs a header row naming a 'text' or 'image' column"
        ) from error
    table.columns = [str(column).strip() for column in table.columns]
    has_text, has_image = "text" in table.columns, "image" in table.columns
    if has_text == has_image:
        which = "both a 'text' and" if has_text else "neither a 'text' nor"
        raise StimulusInputError(
            f"stimulus file {str(path)!r} has {which} an 'image' column "
            f"(columns: {list(table.columns)}); give exactly one: 'text' (one word per row) "
            "or 'image' (file paths)"
        )
    if table.empty:
        raise StimulusInputError(f"stimulus file {str(path)!r} has a header but no rows")
    ids = None
    if "stimulus_id" in table.columns:
        ids = table["stimulus_id"].to_numpy()
        _check_cells(table, "stimulus_id", path)
        repeated = table["stimulus_id"][table["stimulus_id"].duplicated()]
        if len(repeated):
            raise StimulusInputError(
                f"stimulus file {str(path)!r}: stimulus_id repeats "
                f"({repeated.head(3).tolist()}); give every row a unique id"
            )
    if has_text:
        return _text_table(table, ids, path)
    return _image_table(table, ids, path)


def _check_cells(table: Any, column: str, path: Path) -> None:
    empty = [i for i, value in enumerate(table[column]) if not str(value).strip()]
    if empty:
        raise StimulusInputError(
            f"stimulus file {str(path)!r}: column {column!r} is empty in row {empty[0] + 1} "
            f"(line {empty[0] + 2}){f' and {len(empty) - 1} more' if len(empty) > 1 else ''}"
        )


def _text_table(table: Any, ids: np.ndarray | None, path: Path) -> TextStimuli:
    _check_cells(table, "text", path)
    words = [" ".join(str(text).split()) for text in table["text"]]
    groups = None
    if "group" in table.columns:
        _check_cells(table, "group", path)
        groups = table["group"].astype(str).str.strip().to_numpy()
    onsets = None
    if "onset" in table.columns:
        onsets = np.empty(len(words))
        for i, value in enumerate(table["onset"]):
            try:
                onsets[i] = float(value)
            except ValueError:
                onsets[i] = math.nan
            if not math.isfinite(onsets[i]) or onsets[i] < 0:
                raise StimulusInputError(
                    f"stimulus file {str(path)!r}: onset {value!r} in row {i + 1} "
                    f"(line {i + 2}) is not a non-negative number of seconds"
                )
    space_before = None
    if "space_before" in table.columns:
        space_before = np.empty(len(words), dtype=bool)
        for i, value in enumerate(table["space_before"]):
            flag = str(value).strip().lower()
            if flag not in _TRUE | _FALSE:
                raise StimulusInputError(
                    f"stimulus file {str(path)!r}: space_before {value!r} in row {i + 1} "
                    f"(line {i + 2}) is not true/false (also accepted: 1/0, yes/no)"
                )
            space_before[i] = flag in _TRUE
    return TextStimuli(words, ids, onsets, space_before, source=str(path), groups=groups)


def _image_table(table: Any, ids: np.ndarray | None, path: Path) -> ImageStimuli:
    _check_cells(table, "image", path)
    names = [str(name).strip() for name in table["image"]]
    paths = [Path(name) if Path(name).is_absolute() else path.parent / name for name in names]
    return _image_stimuli(paths, names, ids, source=str(path))


def _image_folder(folder: Path) -> ImageStimuli:
    from brainalign.encoders.vision import list_image_files

    try:
        paths = list_image_files(folder)
    except (FileNotFoundError, ValueError) as error:
        raise StimulusInputError(str(error)) from error
    return _image_stimuli(paths, [p.name for p in paths], None, source=str(folder))


def _image_stimuli(
    paths: list[Path], names: list[str], ids: np.ndarray | None, source: str
) -> ImageStimuli:
    digests = []
    for index, (file, name) in enumerate(zip(paths, names, strict=True)):
        if not file.is_file():
            raise StimulusInputError(
                f"{source}: image {index} ({name!r}) not found at {str(file)!r}; image paths "
                "are relative to the table's folder"
            )
        try:
            digests.append(file_sha256(file))
        except OSError as error:
            raise StimulusInputError(
                f"{source}: image {index} ({str(file)!r}) is unreadable ({error})"
            ) from error
    if ids is None:
        ids = np.array([p.stem for p in paths])
        if len(set(ids.tolist())) != len(ids):
            raise StimulusInputError(
                f"{source}: image file names repeat, so they cannot serve as stimulus ids; "
                "add a unique 'stimulus_id' column"
            )
    return ImageStimuli(paths, names, ids, digests, source)


# --------------------------------------------------------------------------- keys


def image_features_key(
    encoder: Any,
    stimuli: ImageStimuli,
    layers: Sequence[int] | None,
    *,
    captures: Mapping[str, bool] | None = None,
) -> dict[str, Any]:
    """The store key of ``encoder.encode_images(stimuli.paths, layers=layers, ...)``.

    Parameters
    ----------
    encoder : VisionEncoder
    stimuli : ImageStimuli
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
        processor configuration, dtype, the stimulus hash of ids and image paths, and
        ``extra["images_sha256"]``: one sha256 over every image file's digest in order.
    """
    from brainalign.encoders.store import config_sha256, feature_key, json_sha256, stimulus_hash

    model, processor, provenance = encoder.model, encoder.processor, encoder.provenance
    weights = {
        "kind": provenance.get("weights"),
        "sha256": provenance.get("weights_sha256") or None,
        "revision": provenance.get("revision"),
        "seed": provenance.get("seed"),
        "model_type": provenance.get("model_type"),
        "vision_tower": provenance.get("vision_tower"),
        "config_sha256": config_sha256(model.config),
    }
    processor_config = processor.to_dict() if hasattr(processor, "to_dict") else None
    context = {
        "mode": "image",
        "grid": list(encoder.grid) if encoder.pooling == "spatial" else None,
        "processor": type(processor).__name__,
        "processor_sha256": json_sha256(processor_config),
    }
    table = {"stimulus_id": stimuli.stimulus_ids.tolist(), "image": list(stimuli.names)}
    images_sha256 = hashlib.sha256("\n".join(stimuli.sha256).encode("ascii")).hexdigest()
    return feature_key(
        model=encoder.model_id,
        weights=weights,
        tokenizer=None,
        layers=["all"] if layers is None else [str(layer) for layer in layers],
        pooling=encoder.pooling,
        context=context,
        dtype=encoder.dtype,
        stimuli=stimulus_hash(table),
        extra={
            "images_sha256": images_sha256,
            **({"capture": dict(captures)} if captures and any(captures.values()) else {}),
        },
    )


def text_context(stimuli: TextStimuli, context: str | None) -> str:
    """The context mode for ``stimuli``: the one given, checked, or the default.

    The default is ``"window"`` (continuous text) when every item is one word, else
    ``"passage"``.

    Raises
    ------
    StimulusInputError
        For an unknown mode, or ``"window"`` with an item of more than one word.
    """
    from brainalign.encoders.text import CONTEXTS

    if context is None:
        return "window" if stimuli.one_word_per_item else "passage"
    if context not in CONTEXTS:
        raise StimulusInputError(f"context {context!r}; use one of {', '.join(CONTEXTS)}")
    if context == "window" and not stimuli.one_word_per_item:
        row = next(i for i, text in enumerate(stimuli.texts) if len(text.split()) > 1)
        raise StimulusInputError(
            f"{stimuli.source}: row {row + 1} holds {stimuli.texts[row]!r}, but context "
            "'window' reads continuous text one word per row; use --context passage or "
            "isolated for sentences"
        )
    return context


def _text_key(
    encoder: Any, stimuli: TextStimuli, context: str, layers: list[int] | None, captures: Any
) -> dict:
    from dataclasses import asdict

    from brainalign.encoders.store import text_encoder_key, text_extract_key

    extra = {"capture": asdict(captures)} if captures != type(captures)() else None
    columns = {
        "layers": layers,
        "stimulus_ids": stimuli.stimulus_ids,
        "onsets": stimuli.onsets,
        "space_before": stimuli.space_before,
        "extra": extra,
    }
    if _reads_one_text(stimuli, context):
        return text_encoder_key(encoder, stimuli.texts, **columns)
    level = "word" if context == "window" else "sentence"
    return text_extract_key(
        encoder, stimuli.texts, context=context, level=level, groups=stimuli.groups, **columns
    )


def _reads_one_text(stimuli: TextStimuli, context: str) -> bool:
    """Whether the stimuli are one continuous text, read by ``encode_words``."""
    return context == "window" and stimuli.groups is None


# --------------------------------------------------------------------------- extraction


def extract_features(
    model: str | os.PathLike,
    stimuli: Stimulus,
    store: FeatureStore,
    *,
    layers: Sequence[int] | None = None,
    heads: bool = False,
    blocks: bool = False,
    contributions: bool = False,
    attention_summaries: bool = False,
    context: str | None = None,
    pooling: str | None = None,
    context_words: int | None = None,
    device: str = "cpu",
    dtype: str = "float32",
    batch_size: int | None = None,
    weights: Literal["pretrained", "untrained"] = "pretrained",
    seed: int = 0,
    progress: bool = True,
) -> Extraction:
    """Encode stimuli with a model and keep the features in a store (or reuse them).

    Parameters
    ----------
    model : str or path-like
        Hub id or local directory: a language model for :class:`TextStimuli`, a vision
        model for :class:`ImageStimuli`.
    stimuli : TextStimuli or ImageStimuli
        From :func:`text_stimuli` or :func:`read_stimuli`.
    store : FeatureStore
    layers : sequence of int, optional
        Hidden-state indices (0 = embeddings). Default: all.
    heads, blocks, contributions, attention_summaries : bool
        Also store ``"L.heads"`` (n_items, n_heads, d_head), ``"L.attention"`` and
        ``"L.mlp"`` (n_items, d_model) for every layer ``L >= 1`` (text and vision
        transformers), and, text only, ``"L.contributions"`` (n_items, n_heads,
        d_model) and the ``"L.attention_*"`` summaries (n_items, n_heads) (see
        :meth:`~brainalign.encoders.text.TextEncoder.encode_words` and
        :meth:`~brainalign.encoders.vision.VisionEncoder.encode_images`).
    context : {"window", "passage", "isolated"}, optional
        Text only: how items are read (see :func:`text_context`; default by content).
    pooling : str, optional
        Text: one of :data:`TEXT_POOLINGS` (default ``"last"``; ``"first"`` for words
        only); images: ``"cls"`` (default), ``"mean"`` or ``"spatial"``.
    context_words : int, optional
        Text, bidirectional models: words per window.
    device, dtype, batch_size, weights, seed, progress
        As for the encoders (``batch_size`` default: the encoder's).

    Returns
    -------
    Extraction

    Raises
    ------
    StimulusInputError
        For options that do not fit the stimuli (``--heads`` with images, a text pooling
        for images, ...) or layers out of range.
    ModelLoadError
        If the model cannot be loaded.
    FeatureStoreError
        If the store cannot be written or holds a conflicting entry.
    """
    from brainalign.encoders.common import check_layer_indices
    from brainalign.encoders.text import Captures

    captures = Captures(heads, blocks, contributions, attention_summaries)
    if isinstance(stimuli, TextStimuli):
        context = text_context(stimuli, context)
        if pooling == "first" and context != "window":
            raise StimulusInputError(
                "pooling 'first' (first subword) applies to words; sentences take last or mean"
            )
    elif context is not None:
        raise StimulusInputError("--context applies to text; drop it for images")
    encoder, kind = _build_encoder(
        model,
        stimuli,
        captures=captures,
        pooling=pooling,
        context_words=context_words,
        options={"weights": weights, "seed": seed, "device": device, "dtype": dtype},
        batch_size=batch_size,
        progress=progress,
    )
    checked = None  # all layers, for a vision config that does not state how many
    if encoder.n_layers is not None:
        try:
            checked = check_layer_indices(layers, encoder.n_layers, encoder.model_id)
        except ValueError as error:
            raise StimulusInputError(str(error)) from error
    elif layers is not None:
        raise StimulusInputError(
            f"model {encoder.model_id!r} does not state its number of layers in its config; "
            "use --layers all"
        )

    try:
        if kind == "text":
            assert isinstance(stimuli, TextStimuli) and context is not None
            key = _text_key(encoder, stimuli, context, checked, captures)
            wanted = {"layers": checked, **asdict(captures), "store": store, "key": key}

            def compute() -> Features:  # streams its batches into the entry
                if _reads_one_text(stimuli, context):
                    return encoder.encode_words(
                        stimuli.texts,
                        stimulus_ids=stimuli.stimulus_ids,
                        onsets=stimuli.onsets,
                        space_before=stimuli.space_before,
                        **wanted,
                    )
                return encoder.extract(_stimuli_table(stimuli), context=context, **wanted)

        else:
            assert isinstance(stimuli, ImageStimuli)
            wanted = {"heads": captures.heads, "blocks": captures.blocks}
            key = image_features_key(encoder, stimuli, checked, captures=wanted)

            def compute() -> Features:  # streams its batches into the entry
                return encoder.encode_images(
                    stimuli.paths,
                    layers=checked,
                    stimulus_ids=stimuli.stimulus_ids,
                    store=store,
                    key=key,
                    **wanted,
                )

        found = store.try_load(key)
        features = found if found is not None else compute()
    except ValueError as error:  # a word with no token, a token spanning two words, ...
        raise StimulusInputError(f"{stimuli.source}: {error}") from error
    return Extraction(features, store.key_path(key), key, reused=found is not None, kind=kind)


def _stimuli_table(stimuli: TextStimuli) -> Any:
    """The text stimuli as a :class:`~brainalign.stimuli.Stimuli` table."""
    import pandas as pd

    from brainalign.stimuli import Stimuli

    n_items = len(stimuli)
    columns: dict[str, Any] = {
        "stimulus_id": (
            np.arange(n_items) if stimuli.stimulus_ids is None else stimuli.stimulus_ids
        ),
        "text": stimuli.texts,
        "group": np.zeros(n_items, dtype=int) if stimuli.groups is None else stimuli.groups,
    }
    if stimuli.onsets is not None:
        columns["onset"] = stimuli.onsets
    if stimuli.space_before is not None:
        columns["space_before"] = stimuli.space_before
    return Stimuli(pd.DataFrame(columns))


def _build_encoder(
    model: str | os.PathLike,
    stimuli: Stimulus,
    *,
    captures: Any,
    pooling: str | None,
    context_words: int | None,
    options: dict[str, Any],
    batch_size: int | None,
    progress: bool,
) -> tuple[Any, Literal["text", "image"]]:
    """Check the options against the kind of stimuli, then load the encoder."""
    from brainalign.encoders.models import ModelLoadError

    common = {**options, "progress": progress}
    if batch_size is not None:
        common["batch_size"] = batch_size
    if isinstance(stimuli, TextStimuli):
        pooling = pooling or "last"
        if pooling not in TEXT_POOLINGS:
            raise StimulusInputError(
                f"pooling {pooling!r} does not apply to words; use {', '.join(TEXT_POOLINGS)}"
            )
        if context_words is not None:
            common["context_words"] = context_words
        from brainalign.encoders.text import TextEncoder

        try:
            return TextEncoder(model, pooling=pooling, **common), "text"
        except ModelLoadError:
            raise
        except ValueError as error:  # a bad setting: context_words, batch_size, ...
            raise StimulusInputError(str(error)) from error
    pooling = pooling or "cls"
    if pooling not in IMAGE_POOLINGS:
        raise StimulusInputError(
            f"pooling {pooling!r} does not apply to images; use {', '.join(IMAGE_POOLINGS)}"
        )
    if captures.contributions or captures.attention_summaries:
        raise StimulusInputError(
            "--contributions and --attention-summaries are available for text models only; "
            "drop them for images"
        )
    if context_words is not None:
        raise StimulusInputError("--context-words applies to text; drop it for images")
    from brainalign.encoders.vision import VisionEncoder

    try:
        return VisionEncoder(model, pooling=pooling, **common), "image"
    except ModelLoadError:
        raise
    except ValueError as error:
        raise StimulusInputError(str(error)) from error
