"""Shared checks of written pictures and drawn figures."""

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


def assert_no_clipped_text(figure) -> None:
    """Everything drawn (titles, axis labels, ticks, legends) lies inside the figure."""
    figure.canvas.draw()
    tight = figure.get_tightbbox(figure.canvas.get_renderer())  # inches
    width, height = figure.get_size_inches()
    inside = tight.x0 >= -0.01 and tight.y0 >= -0.01
    inside &= tight.x1 <= width + 0.01 and tight.y1 <= height + 0.01
    assert inside, f"drawn {tight} exceeds the figure ({width} x {height} inches)"


def legend_labels(figure) -> list[str]:
    """The labels of a figure's legends (wrapped lines joined by spaces)."""
    legends = [*figure.legends, *(a.get_legend() for a in figure.axes if a.get_legend())]
    return [" ".join(t.get_text().split()) for legend in legends for t in legend.get_texts()]


def band_labels(figure) -> list[str]:
    """The labels of every band (filled area or span, not a bar) on the figure's panels."""
    from matplotlib.collections import PolyCollection
    from matplotlib.container import BarContainer
    from matplotlib.patches import Polygon, Rectangle

    labels = []
    for panel in figure.axes:
        bars = {id(p) for c in panel.containers if isinstance(c, BarContainer) for p in c}
        for artist in [*panel.collections, *panel.patches]:
            if isinstance(artist, PolyCollection | Polygon) or (
                isinstance(artist, Rectangle) and id(artist) not in bars
            ):
                labels.append(" ".join(str(artist.get_label()).split()))
    return labels
