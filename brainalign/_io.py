"""Atomic file writing: a result file either appears whole or not at all."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


class OutputDirectoryError(OSError):
    """Raised when an output directory cannot be created or written."""


class DiskFullError(OutputDirectoryError):
    """Raised when a file cannot be written because its device is full (or over quota).

    The message names the file, the free space left and what to do; whatever was half
    written has been removed by the writer (``errno`` is ENOSPC).
    """

    def __init__(self, *args: object) -> None:
        # one message (and ENOSPC), or OSError's (errno, message) when unpickled
        super().__init__(*((errno.ENOSPC, *args) if len(args) == 1 else args))

    def __str__(self) -> str:
        return str(self.strerror)


#: errno values that mean "the device (or the user's quota) is full".
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` (or an error it was raised from) says the disk is full.

    Recognises ``OSError`` with errno ENOSPC/EDQUOT, also as pyarrow raises it (errno set,
    or only "[errno 28]" / "No space left on device" in the message).
    """
    seen = 0
    while error is not None and seen < 5:
        if isinstance(error, DiskFullError):
            return True
        if isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS:
            return True
        text = str(error)
        if isinstance(error, OSError) and (
            "No space left on device" in text or f"[errno {errno.ENOSPC}]" in text
        ):
            return True
        error = error.__cause__ or error.__context__
        seen += 1
    return False


def free_space(path: str | os.PathLike) -> int | None:
    """Bytes free on the device holding ``path`` (its nearest existing parent); None if
    it cannot be told."""
    place = Path(path).expanduser().absolute()
    for candidate in (place, *place.parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None


def _bytes(n_bytes: int) -> str:
    value = float(n_bytes)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n_bytes} B"  # pragma: no cover


def disk_full_message(path: str | os.PathLike, what: str, *, kept: str = "") -> str:
    """One line for a write that ran out of space: the file, the free space, what to do.

    Parameters
    ----------
    path : path-like
        The file (or folder) being written.
    what : str
        What was being written (``"results file"``).
    kept : str, optional
        What was kept on purpose (else: "nothing half-written was kept").
    """
    free = free_space(path)
    left = f" ({_bytes(free)} free there)" if free is not None else ""
    kept = kept or "nothing half-written was kept"
    return (
        f"no space left on the device while writing the {what} {str(path)!r}{left}; "
        f"{kept}. Free some disk space (or choose a folder on another disk) and run again"
    )


def raise_if_disk_full(error: BaseException, path: str | os.PathLike, what: str) -> None:
    """Raise :class:`DiskFullError` from ``error`` when it says the disk is full."""
    if is_disk_full(error) and not isinstance(error, DiskFullError):
        raise DiskFullError(disk_full_message(path, what)) from error


def ensure_writable_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` if needed and check that files can be written into it.

    Parameters
    ----------
    path : str or path-like
        Directory to create or reuse.

    Returns
    -------
    Path
        The directory, resolved.

    Raises
    ------
    OutputDirectoryError
        If the path exists and is not a directory, or cannot be created or written.
    """
    directory = Path(path).expanduser()
    if directory.exists() and not directory.is_dir():
        raise OutputDirectoryError(
            f"output path {str(directory)!r} exists and is not a directory; "
            "choose a directory path for --out"
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".write-test-"):
            pass
    except OSError as error:
        raise OutputDirectoryError(
            f"cannot write to output directory {str(directory)!r} ({error.strerror or error}); "
            "choose a directory you can write to"
        ) from error
    return directory.resolve()


def _new_file_mode() -> int:
    """The mode ``open()`` gives a new file: 0o666 less the process umask (read from
    /proc where it can be, as setting it to read it is not thread-safe)."""
    try:
        status = Path("/proc/self/status").read_text()
        umask = int(next(line for line in status.splitlines() if line.startswith("Umask:"))[6:], 8)
    except (OSError, StopIteration, ValueError):
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it onto ``target`` on success.

    If the body raises, the temporary file is removed and ``target`` is left untouched.

    Parameters
    ----------
    target : str or path-like
        Final file path.

    Yields
    ------
    Path
        Temporary path in the same directory (so the final rename is atomic).
    """
    target = Path(target)
    handle, temp_name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    os.close(handle)
    temp_path = Path(temp_name)
    try:
        yield temp_path
        if temp_path.exists():  # mkstemp makes it private (0600): give it a new file's mode
            os.chmod(temp_path, _new_file_mode())
        os.replace(temp_path, target)
    finally:
        if temp_path.exists():
            temp_path.unlink()
