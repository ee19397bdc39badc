"""Score-by-layer figures."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from brainalign._io import atomic_path


def plot_score_by_layer(
    results: pd.DataFrame,
    path: str | os.PathLike,
    *,
    untrained_suffix: str = "@untrained",
    nuisance_prefix: str = "nuisance:",
) -> Path:
    """Draw score by layer, one panel per ROI, with the ceiling and the controls.

    For each model: the median over subjects per layer, with the interquartile range
    shaded. Its untrained twin is drawn dashed in the same colour; layer-free controls
    (the nuisance regressors) as a dotted horizontal line; the median noise ceiling as a
    grey band from its lower to upper quartile with the median drawn solid.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results with ``model, layer, subject, roi, metric, score, ceiling``.
    path : path-like
        Output PNG, written atomically.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    scores = results[results["metric"] == "pearson_r"]
    rois = list(dict.fromkeys(scores["roi"]))
    n_columns = min(3, len(rois))
    n_rows = int(np.ceil(len(rois) / n_columns))
    figure, axes = plt.subplots(
        n_rows, n_columns, figsize=(4.2 * n_columns, 3.3 * n_rows), squeeze=False, sharey=True
    )
    layered = scores[scores["layer"].notna()]
    models = [m for m in dict.fromkeys(layered["model"]) if not m.endswith(untrained_suffix)]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for panel, roi in zip(axes.flat, rois, strict=False):
        in_roi = scores[scores["roi"] == roi]
        ceiling = in_roi.drop_duplicates("subject")["ceiling"].astype(float)
        if ceiling.notna().any():
            q1, median, q3 = np.nanpercentile(ceiling, [25, 50, 75])
            panel.axhspan(q1, q3, color="0.85", zorder=0)
            panel.axhline(median, color="0.4", lw=1.2, label="noise ceiling (median, IQR)")
        for index, model in enumerate(models):
            colour = colours[index % len(colours)]
            for name, style in ((model, "-"), (model + untrained_suffix, "--")):
                rows = in_roi[in_roi["model"] == name]
                if rows.empty:
                    continue
                by_layer = rows.groupby("layer")["score"]
                layer_ids = np.asarray(by_layer.median().index, dtype=int)
                panel.plot(
                    layer_ids,
                    by_layer.median().to_numpy(),
                    style,
                    marker="o",
                    ms=3,
                    color=colour,
                    label=name,
                )
                if style == "-":
                    panel.fill_between(
                        layer_ids,
                        by_layer.quantile(0.25).to_numpy(),
                        by_layer.quantile(0.75).to_numpy(),
                        color=colour,
                        alpha=0.15,
                    )
        controls = in_roi[in_roi["model"].str.startswith(nuisance_prefix)]
        for model, rows in controls.groupby("model", sort=False):
            panel.axhline(rows["score"].median(), color="black", ls=":", lw=1.2, label=model)
        panel.axhline(0, color="0.6", lw=0.6)
        panel.set_title(roi)
        panel.set_xlabel("layer (0 = embeddings)")
    figure.supylabel("held-out Pearson r (median over subjects)", fontsize=10)
    for panel in list(axes.flat)[len(rois) :]:
        panel.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(
        handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=8, frameon=False
    )
    dataset = ", ".join(map(str, dict.fromkeys(scores["dataset"])))
    figure.suptitle(f"{dataset}: encoding score by layer")
    figure.tight_layout(rect=(0, 0.08, 1, 0.97))
    path = Path(path)
    with atomic_path(path) as temp:
        figure.savefig(temp, format="png", dpi=110)
    plt.close(figure)
    return path
