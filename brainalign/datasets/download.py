"""Downloads for the dataset catalogue: resumable, checksum-verified, cached, offline-aware.

A dataset file that is not bundled with the package is described by a :class:`RemoteFile`
(URL, checksum, file name in the cache) and obtained with :func:`fetch`, several at once
with :func:`fetch_many`, or, for zip/tar archives, downloaded and unpacked with
:func:`fetch_archive`. Only the standard library talks to the network (``urllib``).

Cache directory
---------------
Files live under one cache root, chosen in this order:

1. the ``cache_dir=`` argument;
2. the environment variable ``BRAINALIGN_DATA``;
3. ``$XDG_CACHE_HOME/brainalign`` when ``XDG_CACHE_HOME`` is set;
4. ``~/.cache/brainalign``.

A file is stored at ``<root>/<RemoteFile.filename>`` (the file name may contain ``/``
to group a dataset's files in a folder). Next to it the cache may hold:

- ``<name>.part``: an unfinished download, resumed by the next :func:`fetch` with an HTTP
  ``Range`` request (or restarted from scratch when the server does not honour ranges);
- ``<name>.verified``: a small JSON record ``{"sha256", "size", "mtime_ns"}`` (the key is
  the checksum's algorithm: ``sha256``, or ``sha1``/``md5`` for such entries) written once
  the file's checksum has been verified. While the file keeps that size and modification
  time, later calls trust the record instead of hashing the file again (so multi-gigabyte
  files are hashed once). Touching or replacing the file makes it be hashed again;
- ``<name>.lock``: an empty file used to stop two processes downloading the same file at
  once (POSIX ``flock``; on systems without ``fcntl`` there is no locking).

A download is written to the ``.part`` file and renamed onto the final name only after its
checksum matches, so a file under its final name is always complete and correct.

Checksums
---------
SHA-256 is the default and preferred. Some publishers give only another digest: Brain-Score
publishes the SHA-1 of its assemblies, and OpenNeuro's git-annex keys (``MD5E-s<size>--<md5>``)
carry an MD5. A :class:`RemoteFile` takes exactly one of ``sha256=``, ``sha1=`` or ``md5=``,
so the catalogue can use the publisher's own checksum rather than one computed here.

Offline mode
------------
With ``offline=True`` or the environment variable ``BRAINALIGN_OFFLINE=1`` (also ``true``,
``yes``, ``on``), nothing is downloaded: a file missing from the cache raises
:class:`NotInCacheError` at once, naming the file, the exact path to put it at and the URL
to get it from. The Hugging Face variable ``HF_HUB_OFFLINE`` is deliberately *not* read:
it concerns model weights, and test sessions set it while still serving dataset files
from a local server.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import logging
import os
import re
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from brainalign._io import atomic_path, disk_full_message, is_disk_full

logger = logging.getLogger(__name__)

CACHE_ENV = "BRAINALIGN_DATA"
OFFLINE_ENV = "BRAINALIGN_OFFLINE"
PART_SUFFIX = ".part"
VERIFIED_SUFFIX = ".verified"
LOCK_SUFFIX = ".lock"
EXTRACTED_MARKER = ".brainalign-extracted.json"
CHUNK_BYTES = 1 << 20
TIMEOUT_SECONDS = 60.0
USER_AGENT = "brainalign (+https://github.com/brainalign)"
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar", ".zip")
_RESERVED_SUFFIXES = (PART_SUFFIX, VERIFIED_SUFFIX, LOCK_SUFFIX)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}
#: Supported checksum algorithms and their number of hex digits.
CHECKSUM_DIGITS = {"sha256": 64, "sha1": 40, "md5": 32}
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


class DownloadError(OSError):
    """A file of the catalogue could not be downloaded (HTTP error, no connection, ...)."""

    def __str__(self) -> str:
        return str(self.args[0])


class DownloadInterruptedError(DownloadError):
    """The transfer stopped early; the partial file is kept and the next fetch resumes it."""


class ChecksumMismatchError(DownloadError):
    """A file's checksum (SHA-256, or the SHA-1/MD5 an entry gives) is not the expected one.

    Attributes
    ----------
    url : str
        Where the file came from.
    expected, got : str
        The expected and the actual checksum (hex).
    """

    def __init__(self, message: str, *, url: str, expected: str, got: str) -> None:
        super().__init__(message)
        self.url = url
        self.expected = expected
        self.got = got


class NotInCacheError(DownloadError, FileNotFoundError):
    """Offline mode is on and a file is not in the cache."""


class ArchiveError(ValueError):
    """An archive cannot be unpacked (corrupt, unknown format, or unsafe member paths)."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset that is downloaded on demand.

    Parameters
    ----------
    url : str
        ``http://`` or ``https://`` address of the file.
    sha256 : str, optional
        Expected SHA-256 of the file's bytes, 64 hex digits (case-insensitive; stored lower).
        Give exactly one of ``sha256``, ``sha1`` and ``md5``.
    filename : str
        Path of the file inside the cache, relative, with ``/`` separators (for example
        ``"ds003020/sub-01_bold.nii.gz"``); no ``..``, no absolute paths.
    size : int, optional
        Expected size in bytes. When given, a server announcing another size is reported
        before anything is transferred, and a short transfer is recognised even when the
        server sends no ``Content-Length``.
    licence : str, optional
        Licence of the file (for example ``"CC0"``), shown to users; not enforced.
    notes : str, optional
        Free text (citation, what the file holds).
    sha1 : str, optional
        Expected SHA-1, 40 hex digits, for files whose publisher gives only that (Brain-Score).
    md5 : str, optional
        Expected MD5, 32 hex digits (e.g. from an OpenNeuro git-annex ``MD5E`` key).

    Attributes
    ----------
    algorithm : str
        ``"sha256"``, ``"sha1"`` or ``"md5"``: the checksum given.
    digest : str
        The expected checksum, lower-case hex.
    """

    url: str
    sha256: str | None = None
    filename: str = None  # type: ignore[assignment]  # required; checked in __post_init__
    size: int | None = None
    licence: str | None = None
    notes: str | None = None
    sha1: str | None = None
    md5: str | None = None

    @property
    def algorithm(self) -> str:
        """Name of the checksum algorithm (``sha256``, ``sha1`` or ``md5``)."""
        return next(name for name in CHECKSUM_DIGITS if getattr(self, name) is not None)

    @property
    def digest(self) -> str:
        """The expected checksum (lower-case hex) in :attr:`algorithm`."""
        return getattr(self, self.algorithm)

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url.lower().startswith(
            ("http://", "https://")
        ):
            raise ValueError(
                f"RemoteFile url={self.url!r} is not an http:// or https:// address; "
                "give the full download URL"
            )
        self._check_checksum()
        _check_relative_path(self.filename, "filename")
        if self.size is not None and (
            isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0
        ):
            raise ValueError(
                f"RemoteFile size={self.size!r} (for {self.url}) must be a non-negative "
                "integer number of bytes, or None when unknown"
            )

    def _check_checksum(self) -> None:
        given = [name for name in CHECKSUM_DIGITS if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                f"RemoteFile for {self.url} needs exactly one checksum, got "
                f"{given or 'none'}; give sha256= (e.g. from `sha256sum FILE`), or sha1= / "
                "md5= where that is the checksum the publisher gives"
            )
        name = given[0]
        value = getattr(self, name)
        digits = CHECKSUM_DIGITS[name]
        lowered = value.lower() if isinstance(value, str) else value
        if not isinstance(lowered, str) or not re.fullmatch(rf"[0-9a-f]{{{digits}}}", lowered):
            raise ValueError(
                f"RemoteFile {name}={value!r} (for {self.url}) is not {digits} hex digits; "
                f"give the file's {name.upper()} (e.g. from `{name}sum FILE`)"
            )
        object.__setattr__(self, name, lowered)


def _check_relative_path(name: Any, argument: str) -> None:
    """Raise ValueError unless ``name`` is a safe relative POSIX path inside the cache."""
    if not isinstance(name, str) or not name or "\\" in name:
        raise ValueError(
            f"{argument}={name!r} must be a non-empty relative path with '/' separators"
        )
    path = PurePosixPath(name)
    if path.is_absolute() or any(part in ("..", ".", "") for part in name.split("/")):
        raise ValueError(
            f"{argument}={name!r} must be a relative path inside the cache "
            "(no leading '/', no '.' or '..' parts, no empty parts)"
        )
    if name.endswith(_RESERVED_SUFFIXES) or path.name == EXTRACTED_MARKER:
        raise ValueError(
            f"{argument}={name!r} ends with a suffix the cache uses for its own files "
            f"({', '.join(_RESERVED_SUFFIXES)}); rename it"
        )


def default_cache_dir() -> Path:
    """The cache root used when no ``cache_dir`` is given.

    Returns
    -------
    Path
        ``$BRAINALIGN_DATA`` if set, else ``$XDG_CACHE_HOME/brainalign`` if
        ``XDG_CACHE_HOME`` is set, else ``~/.cache/brainalign`` (user-expanded, not created).
    """
    configured = os.environ.get(CACHE_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path("~/.cache").expanduser()
    return base / "brainalign"


def _cache_root(cache_dir: str | os.PathLike | None) -> Path:
    root = default_cache_dir() if cache_dir is None else Path(cache_dir).expanduser()
    return root.absolute()


def cache_path(remote: RemoteFile, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where ``remote`` is (or will be) stored in the cache.

    Parameters
    ----------
    remote : RemoteFile
        The file.
    cache_dir : str or path-like, optional
        Cache root; default :func:`default_cache_dir`.

    Returns
    -------
    Path
        Absolute path ``<cache root>/<remote.filename>``.
    """
    return _cache_root(cache_dir) / remote.filename


def is_offline(offline: bool | None = None) -> bool:
    """Whether downloads are forbidden.

    Parameters
    ----------
    offline : bool, optional
        Explicit choice; ``None`` reads the environment variable ``BRAINALIGN_OFFLINE``
        (``1``/``true``/``yes``/``on`` mean offline; unset, empty, ``0``/``false``/``no``/
        ``off`` mean online). ``HF_HUB_OFFLINE`` is not consulted.

    Returns
    -------
    bool

    Raises
    ------
    ValueError
        If ``BRAINALIGN_OFFLINE`` holds another value.
    """
    if offline is not None:
        return bool(offline)
    value = os.environ.get(OFFLINE_ENV, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"environment variable {OFFLINE_ENV}={os.environ[OFFLINE_ENV]!r} is not understood; "
        "use 1 (offline) or 0 (downloads allowed)"
    )


def _offline_source(offline: bool | None) -> str:
    return "offline=True" if offline is not None else f"{OFFLINE_ENV}=1"


def fetch(
    remote: RemoteFile,
    *,
    cache_dir: str | os.PathLike | None = None,
    offline: bool | None = None,
    progress: bool = True,
) -> Path:
    """Return the local path of ``remote``, downloading it into the cache if needed.

    A cached file whose checksum was verified before (see the ``.verified`` record in the
    module documentation) is returned without any network access or hashing; a cached
    file without a record is hashed once. A missing file is downloaded into
    ``<name>.part`` (resuming an earlier partial download with an HTTP ``Range`` request
    when the server supports it), checked against the checksum while streaming, and
    renamed onto its final name only when the checksum matches.

    Parameters
    ----------
    remote : RemoteFile
        The file to obtain.
    cache_dir : str or path-like, optional
        Cache root; default :func:`default_cache_dir` (``BRAINALIGN_DATA``, then
        ``$XDG_CACHE_HOME/brainalign``, then ``~/.cache/brainalign``).
    offline : bool, optional
        Forbid downloads; ``None`` reads ``BRAINALIGN_OFFLINE``.
    progress : bool, default True
        Show a tqdm progress bar (only when standard error is a terminal).

    Returns
    -------
    Path
        Absolute path of the verified file in the cache.

    Raises
    ------
    NotInCacheError
        Offline and the file is not cached (the message gives the path and the URL).
    ChecksumMismatchError
        The downloaded (or, offline, the cached) file has another checksum; nothing is left
        under the final name or as ``.part``.
    DownloadInterruptedError
        The transfer stopped early; the ``.part`` file is kept, rerunning resumes it.
    DownloadError
        HTTP error status or no connection (the message gives the URL and the reason).
    """
    if not isinstance(remote, RemoteFile):
        raise TypeError(f"remote must be a RemoteFile, got {type(remote).__name__}")
    offline_now = is_offline(offline)
    target = cache_path(remote, cache_dir)
    if _is_verified(target, remote):
        return target
    if target.is_file():
        if _verify_existing(target, remote, offline_now):
            return target
    if offline_now:
        raise NotInCacheError(_missing_message([remote], [target], _offline_source(offline)))
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target):
        if _is_verified(target, remote):  # another process finished it while we waited
            return target
        _download(remote, target, progress)
    return target


def fetch_many(
    remotes: Iterable[RemoteFile],
    *,
    cache_dir: str | os.PathLike | None = None,
    offline: bool | None = None,
    progress: bool = True,
) -> list[Path]:
    """Fetch several files (one after the other), see :func:`fetch`.

    Parameters
    ----------
    remotes : iterable of RemoteFile
        The files, shape (n_files,). File names must be unique.
    cache_dir, offline, progress
        As in :func:`fetch`.

    Returns
    -------
    list of Path
        Local paths, shape (n_files,), in the order of ``remotes``.

    Raises
    ------
    ValueError
        If two entries share a file name.
    NotInCacheError
        Offline and some files are missing: one error lists every missing file, its path
        and its URL.
    """
    remotes = list(remotes)
    seen: dict[str, RemoteFile] = {}
    for remote in remotes:
        if not isinstance(remote, RemoteFile):
            raise TypeError(f"remotes must hold RemoteFile objects, got {type(remote).__name__}")
        if remote.filename in seen and seen[remote.filename] != remote:
            raise ValueError(
                f"two entries share filename={remote.filename!r} ({seen[remote.filename].url} "
                f"and {remote.url}); give each file its own name"
            )
        seen[remote.filename] = remote
    if is_offline(offline):
        return _fetch_all_offline(remotes, cache_dir, offline)
    return [fetch(r, cache_dir=cache_dir, offline=False, progress=progress) for r in remotes]


def _fetch_all_offline(
    remotes: list[RemoteFile], cache_dir: str | os.PathLike | None, offline: bool | None
) -> list[Path]:
    paths, missing = [], []
    for remote in remotes:
        try:
            paths.append(fetch(remote, cache_dir=cache_dir, offline=True))
        except NotInCacheError:
            missing.append(remote)
    if missing:
        targets = [cache_path(r, cache_dir) for r in missing]
        raise NotInCacheError(_missing_message(missing, targets, _offline_source(offline)))
    return paths


def _missing_message(remotes: list[RemoteFile], targets: list[Path], source: str) -> str:
    lines = [
        f"offline mode ({source}): {len(remotes)} file(s) not in the brainalign cache; "
        "download each from its URL and save it at the path shown (or allow downloads):"
    ]
    for remote, target in zip(remotes, targets, strict=True):
        line = f"  {remote.filename}: get {remote.url} and save it as {target}"
        line += f" ({remote.algorithm} {remote.digest})"
        part = _part_path(target)
        if part.exists():
            line += f"; a partial download exists at {part}, go online to resume it"
        lines.append(line)
    return "\n".join(lines)


# --- cache records -------------------------------------------------------------------


def _part_path(target: Path) -> Path:
    return target.with_name(target.name + PART_SUFFIX)


def _record_path(target: Path) -> Path:
    return target.with_name(target.name + VERIFIED_SUFFIX)


def _is_verified(target: Path, remote: RemoteFile) -> bool:
    """True if a record says ``target`` (same size and mtime) has ``remote``'s checksum."""
    try:
        stat = target.stat()
        record = json.loads(_record_path(target).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(record, dict)
        and record.get(remote.algorithm) == remote.digest
        and record.get("size") == stat.st_size
        and record.get("mtime_ns") == stat.st_mtime_ns
        and (remote.size is None or remote.size == stat.st_size)
    )


def _write_record(target: Path, algorithm: str, digest: str) -> None:
    """Record that ``target`` has ``digest`` (best effort: a read-only cache just re-hashes)."""
    stat = target.stat()
    record = {algorithm: digest, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    try:
        with atomic_path(_record_path(target)) as temp:
            temp.write_text(json.dumps(record), encoding="utf-8")
    except OSError as error:
        logger.debug("cannot write %s (%s); the file will be hashed again", target, error)


def _hash_file(path: Path, algorithm: str = "sha256") -> Any:
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            hasher.update(chunk)
    return hasher


def _verify_existing(target: Path, remote: RemoteFile, offline: bool) -> bool:
    """Hash a cached file without a record; record it if right.

    Returns False (so the caller downloads afresh) when it is wrong and we are online;
    raises :class:`ChecksumMismatchError` when it is wrong and we are offline.
    """
    got = _hash_file(target, remote.algorithm).hexdigest()
    if got == remote.digest:
        _write_record(target, remote.algorithm, got)
        return True
    if offline:
        raise ChecksumMismatchError(
            f"cached file {target} has {remote.algorithm} {got}, expected {remote.digest}; "
            f"replace it "
            f"with the file from {remote.url} (or delete it and allow downloads)",
            url=remote.url,
            expected=remote.digest,
            got=got,
        )
    logger.warning(
        "cached file %s has %s %s, expected %s; downloading it again from %s",
        target,
        remote.algorithm,
        got,
        remote.digest,
        remote.url,
    )
    return False


@contextlib.contextmanager
def _locked(target: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<target>.lock`` (POSIX only; no-op elsewhere)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(target.with_name(target.name + LOCK_SUFFIX), "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


# --- HTTP ----------------------------------------------------------------------------


def _download(remote: RemoteFile, target: Path, progress: bool) -> None:
    """Download ``remote`` into ``<target>.part``, verify, rename onto ``target``.

    A resumed download whose checksum does not match is retried once from scratch (the
    partial file may come from an older version of the file).
    """
    part = _part_path(target)
    offset = _usable_part_size(part, remote)
    if remote.size is not None and offset == remote.size:
        hasher, resumed = (
            _hash_file(part, remote.algorithm),
            True,
        )  # finished earlier, stopped before the rename
    else:
        hasher, resumed = _transfer(remote, part, offset, progress)
    got = hasher.hexdigest()
    if got != remote.digest and resumed:
        logger.warning(
            "resumed download of %s has the wrong checksum; starting again from scratch",
            remote.url,
        )
        part.unlink(missing_ok=True)
        got = _transfer(remote, part, 0, progress)[0].hexdigest()
    if got != remote.digest:
        part.unlink(missing_ok=True)
        raise ChecksumMismatchError(
            f"checksum mismatch for {remote.url}: expected {remote.algorithm} {remote.digest}, "
            f"got {got}; "
            "the download was deleted. The file on the server differs from the one the "
            "catalogue describes (changed upstream, or a corrupted transfer): try again, and "
            "report it if it persists",
            url=remote.url,
            expected=remote.digest,
            got=got,
        )
    os.replace(part, target)
    _write_record(target, remote.algorithm, got)


def _usable_part_size(part: Path, remote: RemoteFile) -> int:
    """Size of an earlier partial download to resume from (0 if none or unusable)."""
    try:
        size = part.stat().st_size
    except FileNotFoundError:
        return 0
    if remote.size is not None and size > remote.size:
        part.unlink()
        return 0
    return size


def _transfer(remote: RemoteFile, part: Path, offset: int, progress: bool) -> tuple[Any, bool]:
    """Stream the file into ``part`` from byte ``offset``.

    Returns the hasher (``remote.algorithm``) of the whole file and whether an earlier
    partial file was resumed (False when the server sent the whole file again and ``part``
    was truncated).
    """
    response = _open(remote, part, offset)
    start, total = _response_range(response, offset)
    if response.status == 206 and start != offset:
        response.close()
        if offset == 0:
            raise DownloadError(
                f"the server sent an unusable partial response (HTTP 206, Content-Range "
                f"{response.headers.get('Content-Range')!r}) for {remote.url}"
            )
        logger.info("server did not resume %s at byte %d; restarting", remote.url, offset)
        part.unlink(missing_ok=True)
        return _transfer(remote, part, 0, progress)
    if start != offset:
        logger.info("server ignored the range request for %s; restarting", remote.url)
    offset = start
    with response:
        _check_announced_size(remote, total)
        expected_total = total if total is not None else remote.size
        hasher = _hash_file(part, remote.algorithm) if offset > 0 else hashlib.new(remote.algorithm)
        try:
            with open(part, "ab" if offset > 0 else "wb") as handle:
                written = _stream(
                    response, handle, hasher, offset, expected_total, remote, progress
                )
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as error:
            if isinstance(error, DownloadError) or not is_disk_full(error):
                raise
            raise DownloadError(_disk_full(remote, part, expected_total)) from error
    if expected_total is not None and written < expected_total:
        raise _interrupted(remote, part, written, expected_total, "connection closed early")
    return hasher, offset > 0


def _disk_full(remote: RemoteFile, part: Path, total: int | None) -> str:
    """The message of a download that filled the disk (the ``.part`` file is kept)."""
    try:
        have = part.stat().st_size
    except OSError:
        have = 0
    of_total = f" of {total}" if total is not None else ""
    return f"download of {remote.url} stopped: " + disk_full_message(
        part,
        "partial download",
        kept=f"the partial file ({have}{of_total} bytes) is kept there on purpose, so the "
        "next run resumes it",
    )


def _open(remote: RemoteFile, part: Path, offset: int) -> Any:
    """Send the GET (with ``Range`` when resuming); map failures to DownloadError."""
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset > 0:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(remote.url, headers=headers)
    opener = urllib.request.build_opener()
    try:
        return opener.open(request, timeout=TIMEOUT_SECONDS)
    except urllib.error.HTTPError as error:
        error.close()
        if error.code == 416 and offset > 0:  # our partial file is not a prefix of theirs
            part.unlink(missing_ok=True)
            return _open(remote, part, 0)
        raise DownloadError(
            f"HTTP error {error.code} ({error.reason}) downloading {remote.url}; "
            + _http_hint(error.code)
        ) from error
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", None) or error
        target = part.with_name(part.name[: -len(PART_SUFFIX)])
        raise DownloadError(
            f"cannot download {remote.url}: {reason}. Check the network connection; to work "
            f"without it, put the file at {target} and set {OFFLINE_ENV}=1"
        ) from error


def _http_hint(code: int) -> str:
    if code == 404:
        return "the file is not at this address (moved or removed upstream); report it"
    if code in (401, 403):
        return "the server refuses access; the dataset may need registration or a licence"
    if code >= 500:
        return "the server failed; try again later"
    return "see the status code"


def _response_range(response: Any, offset: int) -> tuple[int, int | None]:
    """(first byte of the body, total file size or None) from the response headers."""
    length_header = response.headers.get("Content-Length")
    length = int(length_header) if length_header and length_header.isdigit() else None
    if response.status == 206:
        match = _CONTENT_RANGE.fullmatch((response.headers.get("Content-Range") or "").strip())
        if match is None:
            return -1, None  # unusable: treat as a restart (the caller rewinds)
        start, _, total = match.groups()
        total_size = int(total) if total != "*" else None
        if total_size is None and length is not None:
            total_size = int(start) + length
        return int(start), total_size
    return 0, length


def _check_announced_size(remote: RemoteFile, total: int | None) -> None:
    if remote.size is not None and total is not None and total != remote.size:
        raise DownloadError(
            f"the server announces {total} bytes for {remote.url}, the catalogue expects "
            f"{remote.size}; the file changed upstream or the catalogue entry is wrong; "
            "nothing was downloaded"
        )


def _stream(
    response: Any,
    handle: IO[bytes],
    hasher: Any,
    offset: int,
    total: int | None,
    remote: RemoteFile,
    progress: bool,
) -> int:
    """Copy the body into ``handle`` and ``hasher``; return the bytes now in the file."""
    written = offset
    with _progress_bar(remote, offset, total, progress) as bar:
        while True:
            try:
                chunk = response.read(CHUNK_BYTES)
            except (http.client.IncompleteRead, OSError) as error:
                handle.flush()
                raise _interrupted(
                    remote, Path(handle.name), written, total, str(error) or type(error).__name__
                ) from error
            if not chunk:
                return written
            handle.write(chunk)
            hasher.update(chunk)
            written += len(chunk)
            bar.update(len(chunk))


def _interrupted(
    remote: RemoteFile, part: Path, written: int, total: int | None, reason: str
) -> DownloadInterruptedError:
    of_total = f" of {total}" if total is not None else ""
    return DownloadInterruptedError(
        f"download of {remote.url} was interrupted after {written}{of_total} bytes ({reason}); "
        f"the partial file is kept at {part}; run again to resume"
    )


def _progress_bar(remote: RemoteFile, offset: int, total: int | None, progress: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=offset,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=PurePosixPath(remote.filename).name,
        disable=not progress or not _is_terminal(sys.stderr),
        leave=False,
    )


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


# --- archives ------------------------------------------------------------------------


def fetch_archive(
    remote: RemoteFile,
    *,
    cache_dir: str | os.PathLike | None = None,
    offline: bool | None = None,
    progress: bool = True,
    extract_dir: str | None = None,
) -> Path:
    """Fetch a zip or tar archive (see :func:`fetch`) and unpack it into the cache.

    The checksum is that of the archive. Unpacking goes into a temporary folder next to
    the destination, which is renamed onto the destination only when complete; the
    finished folder holds a marker (``.brainalign-extracted.json``, with the archive's
    checksum), so a later call returns it without network access, even offline and even
    if the archive itself was deleted to save space. A destination with a marker for
    another checksum (the catalogue moved to a new version) is replaced.

    Parameters
    ----------
    remote : RemoteFile
        The archive; its ``filename`` must end with ``.zip``, ``.tar``, ``.tar.gz``,
        ``.tgz``, ``.tar.bz2`` or ``.tar.xz``.
    cache_dir, offline, progress
        As in :func:`fetch`.
    extract_dir : str, optional
        Destination folder, relative to the cache root; default: the archive's path
        without its archive suffix (``ds000001.tar.gz`` -> ``ds000001/``). Members are
        unpacked as they are in the archive (a top-level folder in the archive stays).

    Returns
    -------
    Path
        Absolute path of the unpacked folder.

    Raises
    ------
    ArchiveError
        Unknown archive type, corrupt archive, or a member that would land outside the
        destination (absolute paths, ``..``, links pointing outside).
    NotInCacheError, ChecksumMismatchError, DownloadInterruptedError, DownloadError
        As in :func:`fetch`.
    """
    kind = _archive_kind(remote.filename)
    if extract_dir is None:
        extract_dir = remote.filename[: -len(kind)]
    _check_relative_path(extract_dir, "extract_dir")
    if extract_dir == remote.filename:
        raise ValueError(f"extract_dir={extract_dir!r} is the archive's own path; choose another")
    destination = _cache_root(cache_dir) / extract_dir
    if _extracted_for(destination, remote):
        return destination
    archive = fetch(remote, cache_dir=cache_dir, offline=offline, progress=progress)
    destination.parent.mkdir(parents=True, exist_ok=True)
    with _locked(destination):
        if not _extracted_for(destination, remote):
            _extract_atomically(archive, kind, destination, remote)
    return destination


def _archive_kind(filename: str) -> str:
    lowered = filename.lower()
    for suffix in ARCHIVE_SUFFIXES:
        if lowered.endswith(suffix) and len(lowered) > len(suffix):
            return suffix
    raise ArchiveError(
        f"cannot tell the archive type of filename={filename!r}; it must end with one of "
        f"{', '.join(ARCHIVE_SUFFIXES)} (use fetch() for files that are not archives)"
    )


def _extracted_for(destination: Path, remote: RemoteFile) -> bool:
    try:
        marker = json.loads((destination / EXTRACTED_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and marker.get(remote.algorithm) == remote.digest


def _extract_atomically(archive: Path, kind: str, destination: Path, remote: RemoteFile) -> None:
    temp = Path(
        tempfile.mkdtemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".tmp")
    )
    try:
        _unpack(archive, kind, temp)
        marker = {remote.algorithm: remote.digest, "url": remote.url, "archive": remote.filename}
        (temp / EXTRACTED_MARKER).write_text(json.dumps(marker), encoding="utf-8")
        _replace_dir(temp, destination)
    except OSError as error:
        if isinstance(error, DownloadError) or not is_disk_full(error):
            raise
        raise DownloadError(
            f"cannot extract {archive}: "
            + disk_full_message(
                destination,
                "extracted folder",
                kept="the half-extracted folder was removed (the archive is kept)",
            )
        ) from error
    finally:
        if temp.exists():
            shutil.rmtree(temp, ignore_errors=True)


def _replace_dir(source: Path, destination: Path) -> None:
    """Rename ``source`` onto ``destination``, moving an older destination out of the way."""
    if not destination.exists():
        os.rename(source, destination)
        return
    old = Path(
        tempfile.mkdtemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".old")
    )
    os.rename(destination, old / "previous")
    os.rename(source, destination)
    shutil.rmtree(old, ignore_errors=True)


def _unpack(archive: Path, kind: str, into: Path) -> None:
    try:
        if kind == ".zip":
            _unpack_zip(archive, into)
        else:
            _unpack_tar(archive, into)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as error:
        raise ArchiveError(f"cannot unpack archive {archive}: {error}") from error


def _unpack_zip(archive: Path, into: Path) -> None:
    with zipfile.ZipFile(archive) as bundle:
        for name in bundle.namelist():
            _check_member(name, archive)
        bundle.extractall(into)


def _unpack_tar(archive: Path, into: Path) -> None:
    with tarfile.open(archive, "r:*") as bundle:
        members = bundle.getmembers()
        for member in members:
            _check_member(member.name, archive)
            if member.issym() or member.islnk():
                _check_link(member, archive)
        if hasattr(tarfile, "data_filter"):
            bundle.extractall(into, members=members, filter="data")
        else:  # pragma: no cover - Python without extraction filters
            bundle.extractall(into, members=members)


def _check_member(name: str, archive: Path) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", name):
        raise ArchiveError(
            f"archive {archive} holds member {name!r} that would be written outside the "
            "destination folder; refusing to unpack it"
        )


def _check_link(member: tarfile.TarInfo, archive: Path) -> None:
    link = PurePosixPath(member.linkname)
    base = PurePosixPath(member.name).parent if member.issym() else PurePosixPath()
    parts: list[str] = []
    for part in (base / link).parts:
        if part == "..":
            if not parts:
                raise ArchiveError(
                    f"archive {archive} holds link {member.name!r} -> {member.linkname!r} "
                    "pointing outside the destination folder; refusing to unpack it"
                )
            parts.pop()
        elif part != ".":
            parts.append(part)
    if link.is_absolute():
        raise ArchiveError(
            f"archive {archive} holds link {member.name!r} -> {member.linkname!r} with an "
            "absolute target; refusing to unpack it"
        )
