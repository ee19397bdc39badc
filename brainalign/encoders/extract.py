"""Feature extraction into the feature store: stimuli -> encoder -> store entry.

The orchestration behind ``brainalign extract``. Stimuli come from a
:class:`~brainalign.stimuli.Stimuli` table (e.g. a named dataset's words, with onsets
and ``space_before``, through :func:`text_stimuli`), from a table file, or from a folder
or zip archive of images:

- a CSV or TSV with a text column (``text``, or the one named by ``text_column``) and
  optional ``stimulus_id``, ``group``, ``onset`` (seconds) and ``space_before``
  (true/false) columns goes through :class:`~brainalign.encoders.text.TextEncoder`.
  How its rows are read (the context, :func:`text_context`):

  ``"window"``
      words of a continuous text in reading order, each read after the words before it
      (one text per ``group``). The default when every row is one word.
  ``"isolated"``
      each row read alone. The default for sentences (rows of more than one word)
      when the table has no ``group`` column: unrelated sentences never see each
      other.
  ``"passage"``
      each sentence read after the earlier sentences of its ``group``. The default for
      sentences when the table has a ``group`` column; asked for without one, it is an
      error naming the missing column.

- a CSV or TSV with an ``image`` column of file paths (relative to the table's folder,
  or absolute) and an optional ``stimulus_id`` column, a folder of image files, or a
  ``.zip`` of image files (read from the archive, never extracted) goes through
  :class:`~brainalign.encoders.vision.VisionEncoder`; see
  :func:`~brainalign.encoders.vision.image_stimuli`.

Every input is checked before a model is loaded, so a bad table fails in well under a
second and writes nothing. Features go into a :class:`~brainalign.encoders.store.FeatureStore`
with :meth:`~brainalign.encoders.store.FeatureStore.get_or_compute`: a second run with
the same key does no forward pass. Text features stream into the entry batch by batch
(``encode_words(..., store=)``), so memory does not grow with the number of words;
image features likewise (``encode_images(..., store=)``). The entry's name
(:attr:`Extraction.name`, printed by ``brainalign extract``) opens it again:
``FeatureStore(root).load(name)``.

Keys
----
Each encoder builds the key of its own call (``store=`` only, no key argument).
Words of one continuous text (``window``, no ``group`` column):
:func:`~brainalign.encoders.store.text_encoder_key` with the same arguments as
``encode_words`` (so an extraction of a dataset's words shares its entry with the
benchmarks that read the same store). Other text:
:func:`~brainalign.encoders.store.text_extract_key` with the context mode, level and
groups, so the same table read ``isolated`` and ``passage`` are two entries. Both add
``extra={"capture": {...}}`` only when per-head, per-block or attention arrays are
requested. Images: :func:`~brainalign.encoders.vision.image_features_key`, which holds
the stimulus ids and the sha256 of every image's bytes (not its path), the processor's
configuration and the captures: an edited image misses the entry even under an
unchanged name, and a folder, a zip and a table of the same files share one.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from brainalign.encoders.media_stimuli import MediaStimuli, media_files, media_kind
from brainalign.encoders.pooling import POOLINGS
from brainalign.encoders.sinks import load_stored
from brainalign.encoders.vision import IMAGE_SUFFIXES, ImageStimuli, image_stimuli

if TYPE_CHECKING:
    from brainalign.encoders.features import Features
    from brainalign.encoders.store import FeatureStore
    from brainalign.stimuli import Stimuli

__all__ = [
    "IMAGE_POOLINGS",
    "TEXT_POOLINGS",
    "Extraction",
    "StimulusInputError",
    "TextStimuli",
    "extract_features",
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
        Text (story) or passage of each item; ``None``: no ``group`` column (one text).
    columns : tuple of str
        The columns of the table the texts came from (for messages); empty if unknown.
    """

    texts: list[str]
    stimulus_ids: np.ndarray | None
    onsets: np.ndarray | None
    space_before: np.ndarray | None
    source: str
    groups: np.ndarray | None = None
    columns: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def one_word_per_item(self) -> bool:
        """Whether every item is a single word (no whitespace inside)."""
        return all(len(text.split()) == 1 for text in self.texts)


Stimulus = TextStimuli | ImageStimuli | MediaStimuli


@dataclass
class Extraction:
    """What :func:`extract_features` did.

    Attributes
    ----------
    features : Features
        The stored arrays, memory-mapped from the entry.
    path : Path
        The entry directory, ``store.root / name``.
    key : dict
        The store key.
    reused : bool
        True when a complete entry existed and nothing was computed.
    kind : {"text", "image", "audio", "video", "multimodal"}
        What was encoded (a video file read by an audio model is ``"audio"``; images
        read with an instruction by a multimodal language model ``"multimodal"``).
    """

    features: Features
    path: Path
    key: dict[str, Any]
    reused: bool
    kind: Literal["text", "image", "audio", "video", "multimodal"]

    @property
    def name(self) -> str:
        """The entry's name: ``FeatureStore(path.parent).load(name)`` opens it."""
        return self.path.name


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


def read_stimuli(path: str | os.PathLike, *, text_column: str | None = None) -> Stimulus:
    """Read a stimulus table (CSV/TSV of texts or images), a folder or a zip of images.

    Parameters
    ----------
    path : str or path-like
        A ``.csv`` (comma) or ``.tsv``/``.tab`` (tab) table, a directory of images (its
        files with a suffix in :data:`~brainalign.encoders.vision.IMAGE_SUFFIXES`,
        sorted by name), or a ``.zip`` of images (read from the archive, sorted by
        member name; see :func:`~brainalign.encoders.vision.list_zip_images`).
    text_column : str, optional
        The column holding the texts (default ``"text"``). Naming a column the table
        lacks is an error listing its columns; for images it is an error.

    Returns
    -------
    TextStimuli or ImageStimuli

    Raises
    ------
    StimulusInputError
        For a missing file, an unknown suffix, an unreadable or empty table, no (or
        both) content columns, a missing text column, an empty word, a bad onset or
        ``space_before`` value, repeated ids, a missing or unreadable image, or a zip
        that is empty or holds other files.
    """
    path = Path(path)
    media = _folder_kind(path) if path.is_dir() else media_kind(path)
    if (path.is_dir() or path.suffix.lower() == ".zip" or media) and text_column is not None:
        raise StimulusInputError(
            f"--text-column {text_column!r} applies to text tables; {str(path)!r} is a "
            f"{'folder' if path.is_dir() else 'file'} of {media or 'images'}: drop it"
        )
    if media is not None:
        return _media_stimuli(path, None, source=str(path))
    if path.is_dir() or path.suffix.lower() == ".zip":
        return _image_stimuli(path, None, source=str(path))
    if not path.exists():
        raise StimulusInputError(f"stimulus file {str(path)!r} does not exist")
    separator = _SEPARATORS.get(path.suffix.lower())
    if separator is None:
        raise StimulusInputError(
            f"stimulus file {str(path)!r}: unknown suffix {path.suffix!r}; use a .csv or "
            ".tsv table with a 'text', 'image', 'audio' or 'video' column, a folder of "
            "images, audio or video files, a .zip of images, or one audio or video file"
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
    if text_column is not None and text_column not in table.columns:
        raise StimulusInputError(
            f"stimulus file {str(path)!r} has no column {text_column!r} (--text-column); "
            f"its columns are {list(table.columns)}"
        )
    text = text_column or "text"
    content = [column for column in (text, "image", "audio", "video") if column in table.columns]
    if len(content) != 1:
        which = f"the columns {content}" if content else "none of the content columns"
        raise StimulusInputError(
            f"stimulus file {str(path)!r} has {which} (columns: {list(table.columns)}); "
            f"give exactly one: {text!r} (the texts; --text-column NAME names another "
            "column), 'image', 'audio' or 'video' (file paths)"
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
    if content == [text]:
        return _text_table(table, text, ids, path)
    if content == ["image"]:
        return _image_table(table, ids, path)
    _check_cells(table, content[0], path)
    names = [str(name).strip() for name in table[content[0]]]
    stimuli = _media_stimuli(names, ids, source=str(path), root=path.parent)
    if stimuli.kind != content[0]:
        raise StimulusInputError(
            f"{path}: the {content[0]!r} column lists {stimuli.kind} files; name the "
            f"column {stimuli.kind!r}"
        )
    return stimuli


def _check_cells(table: Any, column: str, path: Path) -> None:
    empty = [i for i, value in enumerate(table[column]) if not str(value).strip()]
    if empty:
        raise StimulusInputError(
            f"stimulus file {str(path)!r}: column {column!r} is empty in row {empty[0] + 1} "
            f"(line {empty[0] + 2}){f' and {len(empty) - 1} more' if len(empty) > 1 else ''}"
        )


def _text_table(table: Any, column: str, ids: np.ndarray | None, path: Path) -> TextStimuli:
    _check_cells(table, column, path)
    words = [" ".join(str(text).split()) for text in table[column]]
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
    columns = tuple(table.columns)
    return TextStimuli(words, ids, onsets, space_before, str(path), groups, columns)


def _image_table(table: Any, ids: np.ndarray | None, path: Path) -> ImageStimuli:
    _check_cells(table, "image", path)
    names = [str(name).strip() for name in table["image"]]
    for index, name in enumerate(names):
        file = Path(name) if Path(name).is_absolute() else path.parent / name
        if not file.is_file():
            raise StimulusInputError(
                f"{path}: image {index} ({name!r}) not found at {str(file)!r}; image paths "
                "are relative to the table's folder"
            )
    return _image_stimuli(names, ids, source=str(path), root=path.parent)


def _image_stimuli(
    images: Any, ids: np.ndarray | None, *, source: str, root: Path | None = None
) -> ImageStimuli:
    """:func:`~brainalign.encoders.vision.image_stimuli`, its errors as StimulusInputError."""
    try:
        return image_stimuli(images, stimulus_ids=ids, root=root)
    except (FileNotFoundError, ValueError, TypeError) as error:
        message = str(error)
        if "stems) repeat" in message:  # the Python hint (stimulus_ids=) does not apply
            message = (
                "image file names (stems) repeat, so they cannot serve as stimulus ids; list "
                "the images in a table with a unique 'stimulus_id' column"
            )
        if source not in message:
            message = f"{source}: {message}"
        raise StimulusInputError(message) from error


def _folder_kind(folder: Path) -> Literal["audio", "video"] | None:
    """The media kind of a folder's files (None: it holds images, or nothing known).

    Raises
    ------
    StimulusInputError
        For a folder holding both images and audio or video files.
    """
    kinds = {media_kind(p) for p in folder.iterdir() if p.is_file()} - {None}
    images = any(p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir() if p.is_file())
    if kinds and images:
        raise StimulusInputError(
            f"folder {str(folder)!r} holds both images and {' and '.join(sorted(kinds))} "
            "files; extract each kind from its own folder"
        )
    return next(iter(kinds)) if len(kinds) == 1 else ("audio" if kinds else None)


def _media_stimuli(
    files: Any, ids: np.ndarray | None, *, source: str, root: Path | None = None
) -> MediaStimuli:
    """:func:`~brainalign.encoders.media_stimuli.media_files`, errors as StimulusInputError."""
    try:
        return media_files(files, stimulus_ids=ids, source=source, root=root)
    except ValueError as error:
        raise StimulusInputError(str(error)) from error


# --------------------------------------------------------------------------- keys


def text_context(stimuli: TextStimuli, context: str | None) -> str:
    """The context mode for ``stimuli``: the one given, checked, or the default.

    The default is ``"window"`` (continuous text) when every item is one word; for
    sentences it is ``"passage"`` when the table has a ``group`` column and
    ``"isolated"`` when it has none, so sentences are read after one another only when
    the table says which belong together.

    Raises
    ------
    StimulusInputError
        For an unknown mode, ``"window"`` with an item of more than one word, or
        ``"passage"`` without a ``group`` column.
    """
    from brainalign.encoders.text import CONTEXTS

    if context is None:
        if stimuli.one_word_per_item:
            return "window"
        return "isolated" if stimuli.groups is None else "passage"
    if context not in CONTEXTS:
        raise StimulusInputError(f"context {context!r}; use one of {', '.join(CONTEXTS)}")
    if context == "window" and not stimuli.one_word_per_item:
        row = next(i for i, text in enumerate(stimuli.texts) if len(text.split()) > 1)
        raise StimulusInputError(
            f"{stimuli.source}: row {row + 1} holds {stimuli.texts[row]!r}, but context "
            "'window' reads continuous text one word per row; use --context passage or "
            "isolated for sentences"
        )
    if context == "passage" and stimuli.groups is None:
        columns = f" (columns: {list(stimuli.columns)})" if stimuli.columns else ""
        raise StimulusInputError(
            f"{stimuli.source} has no 'group' column{columns}, but context 'passage' reads "
            "each sentence after the earlier sentences of its group; add a 'group' column "
            "naming each row's passage (story, paragraph), or use --context isolated"
        )
    return context


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
    tr: float | None = None,
    frame_rate: float | None = None,
    instruction: str | None = None,
    instruction_format: str = "plain",
    span: str | None = None,
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
        Text only: how items are read (see :func:`text_context`; default: ``window``
        for one word per row, else ``passage`` with a ``group`` column and
        ``isolated`` without one).
    pooling : str, optional
        Text: one of :data:`TEXT_POOLINGS` (default ``"last"``; ``"first"`` for words
        only); images: ``"cls"`` (default), ``"mean"`` or ``"spatial"``.
    context_words : int, optional
        Text, bidirectional models: words per window.
    device, dtype, batch_size, weights, seed, progress
        As for the encoders (``batch_size`` default: the encoder's).
    tr : float, optional
        Video: seconds between clip centres, one clip centred on every volume onset
        ``0, tr, 2 tr, ...`` within the video (required for a video model).
    frame_rate : float, optional
        Video: frames per second within a clip (default the video's own).
    instruction : str, optional
        Text: a task instruction read before every window or passage
        (:class:`~brainalign.encoders.text.TextEncoder`'s ``instruction``); it is part of
        the entry's key and never pooled into the features.
    instruction_format : {"plain", "chat"}
        How the instruction frames the text: a plain prefix or the model's chat template.
        For images with a multimodal language model: the plain prompt (image, then the
        instruction) or the processor's chat template.
    span : {"visual", "instruction", "all"}, optional
        Images with a multimodal language model: which tokens each row averages
        (default ``"visual"``; see :class:`~brainalign.encoders.multimodal.MultimodalEncoder`).

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
    from brainalign.encoders.text import Captures

    captures = Captures(heads, blocks, contributions, attention_summaries)
    if isinstance(stimuli, MediaStimuli):
        return _extract_media(
            model,
            stimuli,
            store,
            layers=layers,
            captures=captures,
            options={
                "pooling": pooling,
                "context": context,
                "context_words": context_words,
                "tr": tr,
                "frame_rate": frame_rate,
            },
            encoder_options={
                "weights": weights,
                "seed": seed,
                "device": device,
                "dtype": dtype,
                "progress": progress,
                **({} if batch_size is None else {"batch_size": batch_size}),
            },
        )
    if tr is not None or frame_rate is not None:
        raise StimulusInputError("--tr and --frame-rate apply to video; drop them")
    if instruction is None and instruction_format != "plain":
        raise StimulusInputError("--instruction-format applies with --instruction; give both")
    if isinstance(stimuli, ImageStimuli) and _is_multimodal(model):
        return _extract_multimodal(
            model,
            stimuli,
            store,
            layers=layers,
            captures=captures,
            prompt={
                "instruction": instruction,
                "chat_template": instruction_format == "chat",
                "span": span or "visual",
            },
            unused={"--pooling": pooling, "--context": context, "--context-words": context_words},
            encoder_options={
                "weights": weights,
                "seed": seed,
                "device": device,
                "dtype": dtype,
                "progress": progress,
                **({} if batch_size is None else {"batch_size": batch_size}),
            },
        )
    if span is not None:
        raise StimulusInputError(
            "--span applies to images read by a multimodal language model; drop it"
        )
    if instruction is not None and not isinstance(stimuli, TextStimuli):
        raise StimulusInputError(
            "--instruction applies to text stimuli (and to images with a multimodal "
            "language model); drop it for these stimuli"
        )
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
        instruction={"instruction": instruction, "instruction_format": instruction_format}
        if instruction is not None
        else {},
    )
    checked = _checked_layers(encoder, layers)
    if kind == "text":
        assert isinstance(stimuli, TextStimuli) and context is not None
        wanted: dict[str, Any] = {"layers": checked, **asdict(captures)}
        if _reads_one_text(stimuli, context):
            wanted.update(
                stimulus_ids=stimuli.stimulus_ids,
                onsets=stimuli.onsets,
                space_before=stimuli.space_before,
            )
            return _stored_or_encoded(
                store,
                lambda: encoder.words_store_key(stimuli.texts, **wanted),
                lambda: encoder.encode_words(stimuli.texts, **wanted, store=store),
                stimuli.source,
                kind,
            )
        return _stored_or_encoded(
            store,
            lambda: encoder.extract_store_key(stimuli, context=context, **wanted),
            lambda: encoder.extract(stimuli, context=context, **wanted, store=store),
            stimuli.source,
            kind,
        )
    assert isinstance(stimuli, ImageStimuli)
    wanted = {"layers": checked, "heads": captures.heads, "blocks": captures.blocks}
    return _stored_or_encoded(
        store,
        lambda: encoder.images_store_key(stimuli, **wanted),
        lambda: encoder.encode_images(stimuli, **wanted, store=store),
        stimuli.source,
        kind,
    )


def _stored_or_encoded(
    store: FeatureStore,
    key_of: Callable[[], dict[str, Any]],
    encode: Callable[[], Features],
    source: str,
    kind: str,
) -> Extraction:
    """The store's complete entry of ``key_of()``, else ``encode()`` (which streams its
    batches into that entry); an encoder's ValueError (a word with no token, a time
    outside the video, ...) as a StimulusInputError naming the stimuli."""
    try:
        key = key_of()
        found = load_stored(store, key)
        features = found if found is not None else encode()
    except ValueError as error:
        raise StimulusInputError(f"{source}: {error}") from error
    return Extraction(features, store.key_path(key), key, reused=found is not None, kind=kind)


def _load_encoder(encoder_class: Any, model: str | os.PathLike, **options: Any) -> Any:
    """Build an encoder; a setting it refuses becomes a StimulusInputError (a model that
    cannot be loaded stays a ModelLoadError)."""
    from brainalign.encoders.models import ModelLoadError

    try:
        return encoder_class(model, **options)
    except ModelLoadError:
        raise
    except ValueError as error:  # a bad setting: context_words, batch_size, pooling, ...
        raise StimulusInputError(str(error)) from error


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
    instruction: dict[str, Any],
) -> tuple[Any, Literal["text", "image"]]:
    """Check the options against the kind of stimuli, then load the encoder."""
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

        encoder = _load_encoder(TextEncoder, model, pooling=pooling, **common, **instruction)
        return encoder, "text"
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
    _model_modality(model, "image")  # a text, audio or video model is named here
    from brainalign.encoders.vision import VisionEncoder

    return _load_encoder(VisionEncoder, model, pooling=pooling, **common), "image"


def _extract_media(
    model: str | os.PathLike,
    stimuli: MediaStimuli,
    store: FeatureStore,
    *,
    layers: Sequence[int] | None,
    captures: Any,
    options: dict[str, Any],
    encoder_options: dict[str, Any],
) -> Extraction:
    """Audio files (or a video's sound, for an audio model) or a video's clips."""
    unused = [
        f"--{name.replace('_', '-')}"
        for name in ("context", "context_words")
        if options[name] is not None
    ] + [
        flag
        for flag, given in (
            ("--contributions", captures.contributions),
            ("--attention-summaries", captures.attention_summaries),
        )
        if given
    ]
    if unused:
        raise StimulusInputError(
            f"{' and '.join(unused)} apply to text; drop them for {stimuli.kind} stimuli"
        )
    kind = _model_modality(model, stimuli.kind)
    if kind == "audio":
        given = [flag for flag in ("pooling", "tr", "frame_rate") if options[flag] is not None]
        if given:
            flags = " and ".join(f"--{flag.replace('_', '-')}" for flag in given)
            raise StimulusInputError(
                f"{flags} do not apply to audio: an audio model gives one row per model frame"
            )
        return _extract_audio(model, stimuli, store, layers, captures, encoder_options)
    return _extract_video(model, stimuli, store, layers, captures, options, encoder_options)


def _is_multimodal(model: str | os.PathLike) -> bool:
    """Whether the model's config (read without torch) is a multimodal language model's."""
    from brainalign.encoders.loading import MULTIMODAL_MODEL_TYPES
    from brainalign.encoders.models import ModelLoadError, inspect_model, split_model_spec

    try:
        config = inspect_model(split_model_spec(model)[0]).config
    except (ModelLoadError, ValueError):
        return False  # the encoder that loads it names the problem
    return config is not None and config.get("model_type") in MULTIMODAL_MODEL_TYPES


def _model_modality(model: str | os.PathLike, stimuli: str) -> str:
    """:func:`~brainalign.encoders.loading.modality_of` of a model (its config read without
    torch) and a stimulus kind; its refusal as a StimulusInputError."""
    from brainalign.encoders.loading import modality_of
    from brainalign.encoders.models import inspect_model, split_model_spec

    try:
        return modality_of(inspect_model(split_model_spec(model)[0]).config, stimuli)
    except ValueError as error:
        raise StimulusInputError(f"model {os.fspath(model)!r}: {error}") from error


def _extract_multimodal(
    model: str | os.PathLike,
    stimuli: ImageStimuli,
    store: FeatureStore,
    *,
    layers: Sequence[int] | None,
    captures: Any,
    prompt: dict[str, Any],
    unused: dict[str, Any],
    encoder_options: dict[str, Any],
) -> Extraction:
    """Images read with an instruction by a multimodal language model."""
    from brainalign.encoders.multimodal import DEFAULT_INSTRUCTION, MultimodalEncoder

    given = [flag for flag, value in unused.items() if value is not None]
    given += [
        flag
        for flag, on in (
            ("--contributions", captures.contributions),
            ("--attention-summaries", captures.attention_summaries),
        )
        if on
    ]
    if given:
        raise StimulusInputError(
            f"{' and '.join(given)} do not apply to a multimodal language model reading "
            "images (it averages the tokens of --span); drop them"
        )
    encoder = _load_encoder(MultimodalEncoder, model, **encoder_options)
    wanted: dict[str, Any] = {
        "instruction": prompt["instruction"] or DEFAULT_INSTRUCTION,
        "chat_template": prompt["chat_template"],
        "span": prompt["span"],
        "layers": _checked_layers(encoder, layers),
        "heads": captures.heads,
        "blocks": captures.blocks,
    }
    return _stored_or_encoded(
        store,
        lambda: encoder.store_key(stimuli, **wanted),
        lambda: encoder.encode(stimuli, **wanted, store=store),
        stimuli.source,
        "multimodal",
    )


def _checked_layers(encoder: Any, layers: Sequence[int] | None) -> list[int] | None:
    from brainalign.encoders.common import check_layer_indices

    """``layers`` checked against the encoder's depth; None (all) for a config that does
    not state it, where naming layers is refused."""
    if encoder.n_layers is None:
        if layers is not None:
            raise StimulusInputError(
                f"model {encoder.model_id!r} does not state its number of layers in its "
                "config; use --layers all"
            )
        return None
    try:
        return check_layer_indices(layers, encoder.n_layers, encoder.model_id)
    except ValueError as error:
        raise StimulusInputError(str(error)) from error


def _extract_audio(
    model: str | os.PathLike,
    stimuli: MediaStimuli,
    store: FeatureStore,
    layers: Sequence[int] | None,
    captures: Any,
    encoder_options: dict[str, Any],
) -> Extraction:
    from brainalign.encoders.audio import AudioEncoder

    encoder = _load_encoder(AudioEncoder, model, **encoder_options)
    wanted: dict[str, Any] = {
        "stimulus_ids": stimuli.stimulus_ids.tolist(),
        "layers": _checked_layers(encoder, layers),
        "heads": captures.heads,
        "blocks": captures.blocks,
    }
    files = list(stimuli.paths)
    return _stored_or_encoded(
        store,
        lambda: encoder.audio_store_key(files, **wanted),
        lambda: encoder.encode_audio(files, **wanted, store=store),
        stimuli.source,
        "audio",
    )


def _extract_video(
    model: str | os.PathLike,
    stimuli: MediaStimuli,
    store: FeatureStore,
    layers: Sequence[int] | None,
    captures: Any,
    options: dict[str, Any],
    encoder_options: dict[str, Any],
) -> Extraction:
    from brainalign.encoders.video import VideoEncoder

    if len(stimuli) != 1:
        raise StimulusInputError(
            f"{stimuli.source}: {len(stimuli)} videos; a video model reads one video per "
            "extraction (its clips are the rows): extract each video on its own"
        )
    if options["tr"] is None:
        raise StimulusInputError(
            f"{stimuli.source}: a video model needs sample times: --tr SECONDS gives one clip "
            "centred on every volume onset (0, TR, 2 TR, ...) within the video"
        )
    encoder = _load_encoder(
        VideoEncoder,
        model,
        pooling=options["pooling"],
        frame_rate=options["frame_rate"],
        **encoder_options,
    )
    wanted: dict[str, Any] = {
        "tr": options["tr"],
        "video_id": str(stimuli.stimulus_ids[0]),
        "layers": _checked_layers(encoder, layers),
        "heads": captures.heads,
        "blocks": captures.blocks,
    }
    video = stimuli.paths[0]
    return _stored_or_encoded(
        store,
        lambda: encoder.video_store_key(video, **wanted),
        lambda: encoder.encode_video(video, **wanted, store=store),
        stimuli.source,
        "video",
    )
