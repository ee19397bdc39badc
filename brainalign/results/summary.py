"""Summaries of result tables: per layer, the best layer, the leaderboard.

One definition of each summarised number, used by the CLI tables, ``brainalign
compare``, the HTML report and the figures alike:

- the summary statistic is the **median over units** (:data:`SUMMARY_STATISTIC`): the
  rows of one model, benchmark, metric and layer (subjects x ROIs, rating dimensions,
  subject sessions, ...), NaN scores left out;
- ``median_score``: the median of the scores over those rows;
- ``median_ceiling``: the median of the ceilings over the rows whose ceiling is usable
  (``ceiling_flag == "ok"``, see :func:`brainalign.alignment.ceiling.ceiling_flags`);
- ``normalized_score``: the median score over the rows with a usable ceiling divided by
  ``median_ceiling`` (the summary score over the summary ceiling, both over the same
  rows); rows with an unusable ceiling are left out of both and counted in
  ``n_ceiling_excluded``. NaN when no row has a usable ceiling;
- the best layer of a model: the layer with the highest ``median_score`` (whole layers,
  not heads), chosen on the data it is reported on (an optimistic estimate);
- :func:`median_interval`: the 95 % percentile-bootstrap interval of a median score,
  resampling subjects (all rows of a drawn subject together) when there are several,
  else rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from brainalign.results.schema import ENTITY_COLUMNS, UNIT_KEYS

__all__ = [
    "LEADERBOARD_COLUMNS",
    "MIN_TEST_UNITS",
    "SUMMARY_COLUMNS",
    "SUMMARY_NOTE",
    "SUMMARY_STATISTIC",
    "best_layers",
    "layer_summary",
    "leaderboard",
    "median_interval",
    "summarize",
]

SUMMARY_STATISTIC = "median"
"""The statistic every summary of units uses (named in the summary columns)."""

SUMMARY_COLUMNS = (
    "n_units",
    "median_score",
    "median_ceiling",
    "normalized_score",
    "n_ceiling_excluded",
)
"""Columns :func:`summarize` adds to its group columns."""

SUMMARY_NOTE = (
    "median_score: median over units (the rows of a layer: subjects x ROIs, dimensions, "
    "sessions), n_units of them with a finite score; median_ceiling: median over the "
    "units whose ceiling is usable (finite and at least the floor); normalized_score: "
    "median score over those same units / median_ceiling; n_ceiling_excluded: units left "
    "out of both for an unusable ceiling. Best layer: the highest median_score, chosen on "
    "these data (optimistic)."
)
"""What the summary columns mean, in one sentence each (captions quote it)."""

LEADERBOARD_COLUMNS = (
    "benchmark",
    "metric",
    "rank",
    "model",
    "weights",
    "best_layer",
    "n_layers",
    "n_units",
    "median_score",
    "median_ceiling",
    "normalized_score",
    "n_ceiling_excluded",
    "untrained_score",
    "control",
    "control_score",
)
"""Columns of :func:`leaderboard`, in order."""

MIN_TEST_UNITS = 5
"""Resampling units (subjects, else rows) a paired bootstrap p-value needs."""

_LAYER_KEYS = ("benchmark", "metric", *ENTITY_COLUMNS, "layer")


def _median(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else float("nan")


def _summary_of(rows: pd.DataFrame) -> dict[str, float | int]:
    score = rows["score"].to_numpy(dtype=np.float64)
    ceiling = rows["ceiling"].to_numpy(dtype=np.float64)
    scored = np.isfinite(score)
    usable = scored & (rows["ceiling_flag"].to_numpy().astype(str) == "ok")
    median_ceiling = _median(ceiling[usable])
    with np.errstate(divide="ignore", invalid="ignore"):
        normalized = _median(score[usable]) / median_ceiling if usable.any() else np.nan
    unusable = scored & ~usable & (rows["ceiling_flag"].to_numpy().astype(str) != "none")
    return {
        "n_units": int(scored.sum()),
        "median_score": _median(score),
        "median_ceiling": median_ceiling,
        "normalized_score": float(normalized),
        "n_ceiling_excluded": int(unusable.sum()),
    }


def summarize(results: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """The summary columns (:data:`SUMMARY_COLUMNS`) of each group of rows.

    Parameters
    ----------
    results : pandas.DataFrame, shape (n_rows, ...)
        A result table (:func:`brainalign.results.make_results`).
    by : sequence of str
        Group columns (missing values form their own group, e.g. layer-free controls).

    Returns
    -------
    pandas.DataFrame, shape (n_groups, len(by) + 5)
        The group columns, then :data:`SUMMARY_COLUMNS`, groups in table order.
    """
    keys = list(by)
    records = []
    for values, rows in results.groupby(keys, sort=False, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        records.append({**dict(zip(keys, values, strict=True)), **_summary_of(rows)})
    table = pd.DataFrame.from_records(records, columns=[*keys, *SUMMARY_COLUMNS])
    for column in ("layer", "head"):
        if column in table.columns:
            table[column] = table[column].astype("Int64")
    return table


def _whole_layers(results: pd.DataFrame) -> pd.DataFrame:
    return results[results["head"].isna()]


def layer_summary(results: pd.DataFrame, *, by_unit: bool = False) -> pd.DataFrame:
    """Per benchmark, metric, model or control and layer (whole layers, not heads).

    Parameters
    ----------
    results : pandas.DataFrame
    by_unit : bool, default False
        Also per ``unit`` (e.g. per ROI: the median over subjects).

    Returns
    -------
    pandas.DataFrame
        ``benchmark, metric, model, weights, control, control_of, layer[, unit]``, then
        :data:`SUMMARY_COLUMNS`.
    """
    keys = [*_LAYER_KEYS, "unit"] if by_unit else list(_LAYER_KEYS)
    return summarize(_whole_layers(results), keys)


def best_layers(results: pd.DataFrame) -> pd.DataFrame:
    """Each model's (and control's) best layer per benchmark and metric.

    Returns
    -------
    pandas.DataFrame
        ``benchmark, metric, model, weights, control, control_of, best_layer,
        n_layers``, then :data:`SUMMARY_COLUMNS` of the best layer (of the layer-free
        rows, ``best_layer`` missing, for a control without layers).
    """
    summary = layer_summary(results)
    keys = ["benchmark", "metric", *ENTITY_COLUMNS]
    records = []
    for _, rows in summary.groupby(keys, sort=False):
        layered = rows[rows["layer"].notna() & np.isfinite(rows["median_score"])]
        if len(layered):
            best = layered.loc[layered["median_score"].idxmax()]
        else:
            best = rows.iloc[0]
        record = best.to_dict()
        record["n_layers"] = int(rows["layer"].notna().sum())
        records.append(record)
    table = pd.DataFrame.from_records(records)
    table = table.rename(columns={"layer": "best_layer"})
    order = [*keys, "best_layer", "n_layers", *SUMMARY_COLUMNS]
    table = table[order]
    table["best_layer"] = table["best_layer"].astype("Int64")
    return table.reset_index(drop=True)


def leaderboard(results: pd.DataFrame) -> pd.DataFrame:
    """One row per benchmark, metric and scored model, with its controls.

    Model rows of the table (``control`` empty) at their best layer
    (:func:`best_layers`); a model's untrained twin (the same ``model`` with ``weights``
    ``"untrained"``, scored next to the pretrained one) is reported in
    ``untrained_score`` at its own best layer rather than as a row of its own; the
    strongest of the controls computed for the model (highest ``median_score``) in
    ``control`` and ``control_score``. Sorted by benchmark (table order), then
    ``median_score``, best first; ``rank`` within the benchmark and metric.

    Returns
    -------
    pandas.DataFrame, shape (n_entries, 15)
        :data:`LEADERBOARD_COLUMNS`.
    """
    best = best_layers(results)
    controls = best[best["control"] != ""]
    models = best[best["control"] == ""]
    keys = ["benchmark", "metric", "model"]
    twins = models[models["weights"] == "untrained"].set_index(keys)["median_score"]
    pretrained = set(models.loc[models["weights"] == "pretrained", keys].itertuples(index=False))
    rows = []
    for record in models.itertuples(index=False):
        key = (record.benchmark, record.metric, record.model)
        if record.weights == "untrained" and key in pretrained:
            continue  # the twin of a pretrained model: its untrained_score
        own = controls[
            (controls["benchmark"] == record.benchmark)
            & (controls["metric"] == record.metric)
            & (controls["control_of"] == record.model)
        ]
        strongest = None
        if own["median_score"].notna().any():
            strongest = own.loc[own["median_score"].idxmax()]
        rows.append(
            {
                **{c: getattr(record, c) for c in ("benchmark", "metric", "model", "weights")},
                "best_layer": record.best_layer,
                "n_layers": record.n_layers,
                **{c: getattr(record, c) for c in SUMMARY_COLUMNS},
                "untrained_score": (
                    float(twins[key]) if record.weights == "pretrained" and key in twins else np.nan
                ),
                "control": "" if strongest is None else strongest["control"],
                "control_score": np.nan if strongest is None else strongest["median_score"],
            }
        )
    table = pd.DataFrame(rows, columns=[c for c in LEADERBOARD_COLUMNS if c != "rank"])
    if table.empty:
        return table.reindex(columns=list(LEADERBOARD_COLUMNS))
    order = {b: i for i, b in enumerate(dict.fromkeys(table["benchmark"]))}
    table = table.assign(_order=table["benchmark"].map(order)).sort_values(
        ["_order", "metric", "median_score"], ascending=[True, True, False], kind="stable"
    )
    table = table.drop(columns="_order").reset_index(drop=True)
    table.insert(2, "rank", table.groupby(["benchmark", "metric"]).cumcount() + 1)
    table["best_layer"] = table["best_layer"].astype("Int64")
    return table


def _cluster_resamples(clusters: np.ndarray, n_resamples: int, seed: int) -> list[np.ndarray]:
    """Row indices of bootstrap resamples that draw whole clusters with replacement."""
    labels, codes = np.unique(clusters, return_inverse=True)
    draws = np.random.default_rng(seed).integers(0, len(labels), size=(n_resamples, len(labels)))
    if len(labels) == len(clusters):  # one row per cluster: index the rows directly
        row_of = np.empty(len(labels), dtype=np.intp)
        row_of[codes] = np.arange(len(clusters))
        return list(row_of[draws])
    members = [np.flatnonzero(codes == k) for k in range(len(labels))]
    return [np.concatenate([members[k] for k in draw]) for draw in draws]


def median_interval(
    rows: pd.DataFrame,
    *,
    confidence_level: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
    reference: pd.DataFrame | None = None,
) -> dict[str, float]:
    """The median score of ``rows`` with a percentile-bootstrap confidence interval.

    Resampling units: subjects (each drawn subject brings all its rows) when the rows
    hold several subjects, else single rows. With ``reference`` (the rows of another
    model or control on the same units), also a two-sided paired bootstrap p-value of
    the difference of medians (``rows`` minus ``reference``, the same units drawn for
    both): twice the smaller tail of the resampled differences around 0, at least
    ``1 / (n_resamples + 1)``, and only with :data:`MIN_TEST_UNITS` or more resampling
    units (with fewer, the resamples are too few to distinguish to give a p-value).

    Parameters
    ----------
    rows : pandas.DataFrame
        Result rows (finite scores are used) with ``subject`` and ``score``.
    confidence_level : float, default 0.95
    n_resamples : int, default 1000
    seed : int, default 0
    reference : pandas.DataFrame, optional
        Rows paired with ``rows`` on :data:`~brainalign.results.schema.UNIT_KEYS`
        (``subject``, ``unit``, and ``session`` and ``time`` when present).

    Returns
    -------
    dict
        ``estimate`` (the median, as :func:`summarize`'s ``median_score``), ``low`` and
        ``high`` (NaN with fewer than 2 resampling units), ``p_value`` (NaN without a
        reference or with fewer than :data:`MIN_TEST_UNITS` shared resampling units),
        ``n_units``.
    """
    finite = rows[np.isfinite(rows["score"].to_numpy(dtype=np.float64))]
    values = finite["score"].to_numpy(dtype=np.float64)
    result = {"estimate": _median(values), "low": np.nan, "high": np.nan, "p_value": np.nan,
              "n_units": int(values.size)}  # fmt: skip
    by_subject = finite["subject"].nunique() > 1
    clusters = finite["subject"].to_numpy() if by_subject else np.arange(len(finite))
    alpha = (1.0 - confidence_level) / 2.0
    if len(np.unique(clusters)) >= 2:
        medians = [np.median(values[i]) for i in _cluster_resamples(clusters, n_resamples, seed)]
        result["low"], result["high"] = (float(q) for q in np.quantile(medians, [alpha, 1 - alpha]))
    if reference is not None:
        keys = [c for c in UNIT_KEYS if c in finite.columns]
        paired = finite.merge(
            reference[np.isfinite(reference["score"].to_numpy(dtype=np.float64))],
            on=keys,
            suffixes=("", "_reference"),
        )
        groups = paired["subject"].to_numpy() if by_subject else np.arange(len(paired))
        if len(np.unique(groups)) >= MIN_TEST_UNITS:
            a = paired["score"].to_numpy(np.float64)
            b = paired["score_reference"].to_numpy(np.float64)
            differences = np.array(
                [np.median(a[i]) - np.median(b[i])
                 for i in _cluster_resamples(groups, n_resamples, seed)]
            )  # fmt: skip
            tail = min(np.mean(differences <= 0), np.mean(differences >= 0))
            result["p_value"] = float(min(1.0, max(2.0 * tail, 1.0 / (n_resamples + 1))))
    return result
