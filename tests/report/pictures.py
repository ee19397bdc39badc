"""Shared checks of written pictures."""

from pathlib import Path

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_picture(path: Path, returned: Path) -> np.ndarray:
    """A whole, non-blank PNG at ``path`` (returned by the plot), no temporary file left."""
    import matplotlib.image

    assert Path(returned) == Path(path)
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert pixels[..., :3].var() > 1e-3, "the picture is blank"
    assert not list(path.parent.glob(".*.tmp")), "a temporary file was left behind"
    return pixels
