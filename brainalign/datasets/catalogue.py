"""Named datasets: what exists (:func:`available`, :func:`info`), getting the files
(:func:`fetch`) and loading them (:func:`load`, or only their stimuli:
:func:`load_stimuli`).

The entries live in :mod:`brainalign.datasets.registry` (one :class:`DatasetInfo` each);
the command line shows them with ``brainalign datasets list`` / ``info NAME`` / ``fetch
NAME``, and ``docs/data/catalogue.md`` is generated from them by :func:`render_markdown`
(regenerate it with the command in :data:`DOCS_COMMAND`).

Nothing heavy is imported here: readers are imported by each entry's loader when called.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brainalign.datasets.download import cache_path, fetch_many
from brainalign.datasets.download import fetch as fetch_file
from brainalign.datasets.registry import REGISTRY, CatalogueError, DatasetInfo

if TYPE_CHECKING:
    from brainalign.stimuli import Stimuli

__all__ = [
    "CatalogueError",
    "DatasetInfo",
    "UnknownDatasetError",
    "available",
    "check_name",
    "fetch",
    "info",
    "load",
    "load_stimuli",
    "render_markdown",
]

#: Shell command that regenerates docs/data/catalogue.md from the registry.
DOCS_COMMAND = (
    'python -c "from brainalign.datasets.catalogue import render_markdown as r; '
    "print(r(), end='')\" > docs/data/catalogue.md"
)
#: Fields shown by ``brainalign datasets info`` and the docs page, in order.
INFO_FIELDS = (
    "title",
    "description",
    "modality",
    "subjects",
    "stimuli",
    "size",
    "citation",
    "licence",
    "access",
    "how_to_get",
    "returns",
    "url",
)


class UnknownDatasetError(KeyError):
    """Raised for a dataset name the catalogue does not know."""

    def __str__(self) -> str:
        return str(self.args[0])


def available() -> list[str]:
    """Names of the datasets in the catalogue, sorted.

    Returns
    -------
    list of str
        Shape (n_datasets,).
    """
    return sorted(REGISTRY)


def check_name(name: str) -> None:
    """Raise :class:`UnknownDatasetError` unless ``name`` is known.

    The message suggests the closest names (``simlex99`` -> ``simlex999``; case and
    ``_``/``-`` are ignored when comparing) and lists every known name.
    """
    if isinstance(name, str) and name in REGISTRY:
        return
    if not isinstance(name, str):
        raise UnknownDatasetError(f"dataset name must be a string; got {name!r}")
    known = {_comparable(known_name): known_name for known_name in available()}
    close = [
        known[match]
        for match in difflib.get_close_matches(_comparable(name), list(known), n=3, cutoff=0.6)
    ]
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise UnknownDatasetError(
        f"unknown dataset {name!r}; {hint}available: {', '.join(available())} "
        "(see: brainalign datasets list)"
    )


def _comparable(name: str) -> str:
    """``name`` as compared for suggestions: stripped, lower case, ``_`` as ``-``."""
    return name.strip().lower().replace("_", "-")


def info(name: str) -> DatasetInfo:
    """Everything the catalogue knows about a dataset.

    Parameters
    ----------
    name : str
        One of :func:`available`.

    Returns
    -------
    DatasetInfo

    Raises
    ------
    UnknownDatasetError
        If ``name`` is not in the catalogue.
    """
    check_name(name)
    return REGISTRY[name]


def _select_files(entry: DatasetInfo, files: Sequence[str] | None) -> list[str]:
    if files is None:
        return list(entry.files)
    if isinstance(files, str):
        files = [files]
    unknown = [key for key in files if key not in entry.files]
    if unknown:
        raise CatalogueError(
            f"{entry.name}: unknown file key(s) {unknown}; its files are {list(entry.files)}"
        )
    return list(files)


def fetch(
    name: str,
    *,
    files: Sequence[str] | None = None,
    cache_dir: str | os.PathLike | None = None,
    offline: bool | None = None,
    progress: bool = True,
) -> dict[str, Path]:
    """Download a dataset's files into the cache (checked against their checksums).

    Parameters
    ----------
    name : str
        A dataset with access ``download`` or ``download-only``; for ``bundled`` ones the
        bundled folder is returned, and the optional files they list (such as the
        Kriegeskorte images) are downloaded.
    files : sequence of str, optional
        Keys of ``info(name).files`` to fetch (default: all).
    cache_dir, offline, progress
        As in :func:`brainalign.datasets.download.fetch` (``BRAINALIGN_DATA``,
        ``BRAINALIGN_OFFLINE``).

    Returns
    -------
    dict of str to Path
        File key -> local path (for bundled datasets also ``"folder"`` -> the bundled
        folder).

    Raises
    ------
    UnknownDatasetError
        Unknown ``name``.
    CatalogueError
        A ``local path`` dataset (the message says how to get it) or an unknown file key.
    NotInCacheError
        Offline and files are missing: one error names every missing file, its cache path
        and URL.
    ChecksumMismatchError, DownloadError
        See :func:`brainalign.datasets.download.fetch`.
    """
    entry = info(name)
    if entry.access == "bundled":
        found = {"folder": _bundled_folder(entry)}
        if not entry.files or (files is not None and not files):
            return found
        keys = _select_files(entry, files)  # optional extras, e.g. the Kriegeskorte images
        paths = fetch_many(
            [entry.files[k] for k in keys], cache_dir=cache_dir, offline=offline, progress=progress
        )
        return {**found, **dict(zip(keys, paths, strict=True))}
    if entry.access == "local path":
        raise CatalogueError(
            f"{name} is not downloadable by brainalign (access 'local path'). {entry.how_to_get}"
        )
    keys = _select_files(entry, files)
    paths = fetch_many(
        [entry.files[k] for k in keys], cache_dir=cache_dir, offline=offline, progress=progress
    )
    return dict(zip(keys, paths, strict=True))


def _bundled_folder(entry: DatasetInfo) -> Path:
    from importlib import resources

    folder = entry.bundled[0].rstrip("/")
    return Path(str(resources.files("brainalign.datasets") / folder))


def load(
    name: str,
    *,
    cache_dir: str | os.PathLike | None = None,
    offline: bool | None = None,
    progress: bool = True,
    **options: Any,
) -> Any:
    """Load a dataset of the catalogue by name.

    ``download`` datasets are fetched first (only the files the chosen options need).
    What comes back depends on the data (``info(name).returns`` says it per entry):
    a :class:`~brainalign.datasets.recording.Recording` for recordings, ratings and norms;
    for ``kriegeskorte2008-92`` a :class:`~brainalign.datasets.loaders.Kriegeskorte92`
    of RDM sets; for ``meg-masc`` a :class:`~brainalign.datasets.meg_masc.MEGMASCRun`.

    Parameters
    ----------
    name : str
        Dataset name, one of :func:`available`.
    cache_dir, offline, progress
        Where downloads go and whether they are allowed, see :func:`fetch`.
    **options
        Passed to the dataset's loader (listed in ``info(name).returns``; e.g. for
        ``alice2016``: ``radius_mm``, ``subjects``; for ``local path`` datasets: ``path``).

    Returns
    -------
    Recording or the dataset's own structure (see above).

    Raises
    ------
    UnknownDatasetError
        If ``name`` is not in the catalogue (the message lists the known names).
    CatalogueError
        A ``download-only`` dataset (no loader; use :func:`fetch`), a ``local path``
        dataset without ``path=``, or an unknown option.
    NotInCacheError
        Offline and a needed file is not cached (naming the file, its path and URL).
    """
    entry = info(name)
    if entry.loader is None:
        raise CatalogueError(
            f"{name} has no loader in brainalign yet (access 'download-only'): "
            f"brainalign.datasets.catalogue.fetch({name!r}) downloads its files "
            f"({', '.join(entry.files)}); {entry.how_to_get}"
        )
    if entry.access == "local path" and "path" not in options:
        options["path"] = None  # the loader explains how to get the data

    def get(key: str) -> Path:
        return fetch_file(entry.files[key], cache_dir=cache_dir, offline=offline, progress=progress)

    return entry.loader(get, **options)


def load_stimuli(name: str, **options: Any) -> Stimuli:
    """The stimuli of a catalogue dataset: those of the recording :func:`load` returns.

    Parameters
    ----------
    name : str
        Dataset name, one of :func:`available`.
    **options
        Passed to :func:`load` (``cache_dir``, ``offline``, the loader's options).

    Returns
    -------
    Stimuli
        One row per item (for ``alice2016``: the words with their onsets).

    Raises
    ------
    UnknownDatasetError
        If ``name`` is not in the catalogue.
    CatalogueError
        If the dataset does not load as a
        :class:`~brainalign.datasets.recording.Recording` (e.g. ``kriegeskorte2008-92``,
        a set of RDMs), or as raised by :func:`load`.
    """
    from brainalign.datasets.recording import Recording

    recording = load(name, **options)
    if not isinstance(recording, Recording):
        raise CatalogueError(
            f"dataset {name!r} loads as {type(recording).__name__}, not a recording with "
            "stimuli; give its stimuli as a table with --stimuli"
        )
    return recording.stimuli


def file_status(name: str, cache_dir: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Where each file of a dataset lives in the cache and whether it is there.

    Parameters
    ----------
    name : str
        A dataset name.
    cache_dir : str or path-like, optional
        Cache root (default ``BRAINALIGN_DATA`` ...).

    Returns
    -------
    list of dict
        One per file, shape (n_files,): ``key``, ``url``, ``checksum`` (``algorithm:hex``),
        ``size`` (bytes or None), ``path``, ``cached`` (bool; the file exists, not yet
        verified).
    """
    entry = info(name)
    rows = []
    for key, remote in entry.files.items():
        path = cache_path(remote, cache_dir)
        rows.append(
            {
                "key": key,
                "url": remote.url,
                "checksum": f"{remote.algorithm}:{remote.digest}",
                "size": remote.size,
                "path": path,
                "cached": path.is_file(),
            }
        )
    return rows


# ----------------------------------------------------------------------------- docs


def _files_markdown(entry: DatasetInfo) -> list[str]:
    if not entry.files:
        return []
    lines = ["", "Files:", ""]
    for key, remote in entry.files.items():
        size = f", {remote.size:,} bytes" if remote.size is not None else ""
        lines.append(
            f"- `{key}`: <{remote.url}> ({remote.algorithm} `{remote.digest}`{size}), "
            f"cached as `{remote.filename}`"
        )
    lines += ["", f"Checksums: {entry.checksum_source}."]
    return lines


def render_markdown() -> str:
    """The catalogue as a markdown page (the source of ``docs/data/catalogue.md``).

    Returns
    -------
    str
        One section per dataset with every :data:`INFO_FIELDS` field and its files.
    """
    lines = [
        "# Dataset catalogue",
        "",
        f"<!-- Generated from brainalign/datasets/registry.py by: {DOCS_COMMAND} -->",
        "",
        "Every dataset brainalign knows by name. `brainalign datasets list` shows the table "
        "below, `brainalign datasets info NAME` one entry, `brainalign datasets fetch NAME` "
        "downloads it (into `BRAINALIGN_DATA`, checked against the checksums listed here; with "
        "`BRAINALIGN_OFFLINE=1` it names each missing file, where to save it and its URL). In "
        "Python: `from brainalign.datasets.catalogue import load, fetch, info`.",
        "",
        "Access: **bundled** (in the package), **download** (fetched on first use), "
        "**download-only** (files listed, no loader yet), **local path** (get it yourself, "
        "then `load(name, path=...)`).",
        "",
        "| name | modality | access | size |",
        "|---|---|---|---|",
    ]
    for name in available():
        entry = REGISTRY[name]
        lines.append(f"| [{name}](#{name}) | {entry.modality} | {entry.access} | {entry.size} |")
    for name in available():
        entry = REGISTRY[name]
        lines += ["", f"## {name}", "", f"**{entry.title}**", "", entry.description, ""]
        for field_name in INFO_FIELDS[2:]:
            label = field_name.replace("_", " ").capitalize()
            lines.append(f"- {label}: {getattr(entry, field_name)}")
        lines += _files_markdown(entry)
    return "\n".join(lines) + "\n"
