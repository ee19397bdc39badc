"""Atomic file writing: a result file either appears whole or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


class OutputDirectoryError(OSError):
    """Raised when an output directory cannot be created or written."""


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
