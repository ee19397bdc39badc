"""Analyses over models: scores against model properties, and paired model variants.

Every score here is the one of :mod:`brainalign.results.summary` (the median over units
of a layer, its best layer, the leaderboard); nothing is summarised another way.

Scores against a property (:func:`correlate_property`)
    Per benchmark, metric and ``weights`` (pretrained models and untrained twins are
    correlated **separately**, never pooled: one row each), the points are:

    - **model level** (a property with one value per model, such as ``n_parameters`` or
      a user property): one point per model, its score at ``depth``: ``"best"`` is its
      best layer (:func:`brainalign.results.best_layers`, the leaderboard's layer and
      ``median_score``), a number in [0, 1] is the scored layer whose ``relative_depth``
      (``layer / n_layers``, 0 = embeddings, 1 = last block) is nearest to it (the
      shallower one on a tie);
    - **head level** (a property given on per-head rows and missing on whole-layer rows,
      such as ``induction_score``): one point per head of every model, its score the
      median over units of that head's rows (:func:`brainalign.results.summarize`).

    ``score`` is ``median_score`` or ``normalized_score`` (median score over the units
    with a usable ceiling / their median ceiling). Pearson and Spearman r and their
    p-values are :func:`scipy.stats.pearsonr` and :func:`scipy.stats.spearmanr` of the
    points (NaN with fewer than 3 points or a constant property or score). Two
    percentile bootstrap intervals of each r: **over models** (points drawn with
    replacement, r recomputed, Spearman re-ranked per resample; resamples with a
    constant side are left out) and **over units** (within the benchmark, the
    resampling units of :func:`brainalign.results.median_interval`: subjects when the
    rows hold several, else rows; every model's layer medians recomputed on the drawn
    units, its best layer chosen again on them for ``depth="best"``, then r).

Paired variants (:func:`paired_differences`)
    A :class:`Pair` names a base model and a variant of it (an instruction-tuned or
    fine-tuned model). Per pair, benchmark and metric: each model at **its own best
    layer** (the leaderboard's ``best_layer``), the rows paired by ``subject, unit``
    (and ``session``); the differences variant - base are averaged per subject when the
    rows hold several subjects (the subjects are then what is tested), else each row is
    one unit. ``mean_difference`` is their mean, with a percentile bootstrap interval
    (:func:`brainalign.alignment.stats.bootstrap_difference`); the p-value comes from a
    sign-flip permutation test of the mean (:func:`scipy.stats.permutation_test`,
    ``permutation_type="samples"``: exact over all 2**n sign patterns when they are no
    more than ``n_resamples``) or, with ``test="bootstrap"``, the paired bootstrap's
    p-value. P-values are Benjamini-Hochberg adjusted across the benchmarks (and
    metrics) of each pair (:func:`brainalign.alignment.stats.fdr_bh`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainalign.results.properties import as_floats
from brainalign.results.schema import UNIT_KEYS
from brainalign.results.summary import best_layers, layer_summary, leaderboard, summarize

__all__ = [
    "CORRELATION_COLUMNS",
    "CORRELATION_NOTE",
    "PAIRS_FILE",
    "PAIRS_NOTE",
    "PAIR_COLUMNS",
    "SCORE_COLUMNS",
    "Pair",
    "correlate_property",
    "model_scores",
    "paired_differences",
    "property_level",
    "read_pairs",
    "relative_depths",
    "write_pairs",
]

SCORE_COLUMNS = ("median_score", "normalized_score")
"""Scores that can be correlated with a property (see :data:`brainalign.results.
SUMMARY_NOTE`)."""

CORRELATION_COLUMNS = (
    "benchmark",
    "metric",
    "weights",
    "level",
    "property",
    "depth",
    "score",
    "n_models",
    "n_points",
    "pearson_r",
    "pearson_p",
    "pearson_low",
    "pearson_high",
    "pearson_units_low",
    "pearson_units_high",
    "spearman_r",
    "spearman_p",
    "spearman_low",
    "spearman_high",
    "spearman_units_low",
    "spearman_units_high",
    "note",
)
"""Columns of :func:`correlate_property`: ``*_low``/``*_high`` the interval over models,
``*_units_low``/``*_units_high`` the one over units; ``note`` says why a number is
missing (``""`` when none is)."""

NUMERIC_CORRELATION_COLUMNS = CORRELATION_COLUMNS[9:-1]
"""The number columns of :data:`CORRELATION_COLUMNS` (r, p and the interval bounds)."""

PAIR_COLUMNS = (
    "pair",
    "base",
    "variant",
    "benchmark",
    "metric",
    "base_layer",
    "variant_layer",
    "base_score",
    "variant_score",
    "over",
    "n",
    "mean_difference",
    "low",
    "high",
    "test",
    "p_value",
    "p_fdr",
    "significant",
    "note",
)
"""Columns of :func:`paired_differences`; ``note`` says why a number is missing (``""`` when
none is)."""

CORRELATION_NOTE = (
    "Per benchmark, metric and weights (pretrained and untrained separately): Pearson and "
    "Spearman r (scipy) between the property and each model's best-layer median_score (per "
    "head: the head's median score and the head property); low/high: 95% percentile "
    "bootstrap over models; units_low/units_high: over units (subjects, else rows), each "
    "model's best layer chosen again on every resample."
)
"""What a row of :func:`correlate_property` says (captions and the CLI quote it)."""

PAIRS_NOTE = (
    "Per pair and benchmark: variant - base at each model's own best layer, paired by unit "
    "(averaged per subject when there are several subjects), mean difference with a 95% "
    "paired bootstrap interval; p_value from a sign-flip permutation test of the mean "
    "(exact when 2^n sign patterns are few enough), p_fdr Benjamini-Hochberg adjusted over "
    "the benchmarks of each pair."
)
"""What a row of :func:`paired_differences` says (captions and the CLI quote it)."""

PAIRS_FILE = "pairs.json"
"""The pairs a sweep saves in its results folder."""

_ENTITY = ["benchmark", "metric", "model", "weights"]


# ------------------------------------------------------------------ scores per model


def _model_rows(results: pd.DataFrame) -> pd.DataFrame:
    return results[results["control"] == ""]


def relative_depths(results: pd.DataFrame) -> pd.Series:
    """Each row's relative depth: the ``relative_depth`` card column, else
    ``layer / n_layers``.

    Returns
    -------
    pandas.Series of float, shape (n_rows,)
        NaN on layer-free rows.

    Raises
    ------
    ValueError
        When the table has neither ``relative_depth`` nor ``n_layers`` (the model card
        columns).
    """
    layer = as_floats(results["layer"])
    models = (results["control"] == "").to_numpy()
    if "relative_depth" in results.columns:
        depth = as_floats(results["relative_depth"])
        if np.isfinite(depth[models]).any():
            return pd.Series(depth, index=results.index)
    if "n_layers" in results.columns:
        n_layers = as_floats(results["n_layers"])
        with np.errstate(divide="ignore", invalid="ignore"):
            depth = np.where(n_layers > 0, layer / n_layers, np.nan)
        return pd.Series(depth, index=results.index)
    raise ValueError(
        "the results have no relative_depth (nor n_layers) column: the model card columns "
        "are needed for a depth; use depth='best', or add n_layers per model with "
        "--properties"
    )


def _check_score(score: str) -> str:
    if score not in SCORE_COLUMNS:
        raise ValueError(f"score={score!r}; use one of {', '.join(SCORE_COLUMNS)}")
    return score


def _check_depth(depth: str | float) -> str | float:
    if isinstance(depth, str) and depth == "best":
        return depth
    try:
        value = float(depth)
    except (TypeError, ValueError):
        raise ValueError(f"depth={depth!r}; use 'best' or a relative depth in [0, 1]") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"depth={depth!r} is outside [0, 1] (0 = embeddings, 1 = last block)")
    return value


def _depth_layers(results: pd.DataFrame, depth: float) -> pd.DataFrame:
    """Per model (and weights) and benchmark, the layer nearest to ``depth``."""
    rows = _model_rows(results)
    rows = rows[rows["head"].isna() & rows["layer"].notna()]
    table = rows.assign(relative_depth=relative_depths(rows).to_numpy())
    table = table.dropna(subset=["relative_depth"]).drop_duplicates([*_ENTITY, "layer"])
    distance = (table["relative_depth"] - depth).abs().round(9)  # 0.5 - 1/3 == 2/3 - 0.5
    table = table.assign(_distance=distance)
    table = table.sort_values([*_ENTITY, "_distance", "layer"], kind="stable")
    return table.drop_duplicates(_ENTITY)[[*_ENTITY, "layer", "relative_depth"]]


def model_scores(results: pd.DataFrame, *, depth: str | float = "best") -> pd.DataFrame:
    """Each model's score per benchmark and metric at its best layer or at a depth.

    Parameters
    ----------
    results : pandas.DataFrame, shape (n_rows, ...)
        A result table (model rows are used; controls are left out).
    depth : "best" or float in [0, 1], default "best"
        ``"best"``: :func:`brainalign.results.best_layers` (the leaderboard's layer);
        a number: the scored layer whose relative depth is nearest (shallower on a tie).

    Returns
    -------
    pandas.DataFrame
        ``benchmark, metric, model, weights, layer, relative_depth`` (NaN without the
        card columns and ``depth="best"``), then :data:`brainalign.results.
        SUMMARY_COLUMNS` of that layer.
    """
    depth = _check_depth(depth)
    rows = _model_rows(results)
    rows = rows[rows["head"].isna()]
    summary = layer_summary(rows).drop(columns=["control", "control_of"])
    if depth == "best":
        chosen = best_layers(rows).rename(columns={"best_layer": "layer"})
        chosen = chosen[[*_ENTITY, "layer"]]
        try:
            depths = rows.assign(relative_depth=relative_depths(rows).to_numpy())
            depths = depths.drop_duplicates([*_ENTITY, "layer"])[
                [*_ENTITY, "layer", "relative_depth"]
            ]
            chosen = chosen.merge(depths, on=[*_ENTITY, "layer"], how="left")
        except ValueError:
            chosen = chosen.assign(relative_depth=np.nan)
    else:
        chosen = _depth_layers(rows, depth)
    table = chosen.merge(summary, on=[*_ENTITY, "layer"], how="left")
    table["layer"] = table["layer"].astype("Int64")
    return table.reset_index(drop=True)


# ------------------------------------------------------------------ property values


def property_level(results: pd.DataFrame, by: str) -> str:
    """``"head"`` when ``by`` is given on per-head model rows and missing on every
    whole-layer model row, else ``"model"``.

    Raises
    ------
    ValueError
        When the table has no column ``by`` (the model property columns are named).
    """
    if by not in results.columns:
        from brainalign.results.properties import CARD_COLUMNS

        present = [c for c in results.columns if c in CARD_COLUMNS]
        raise ValueError(
            f"the results have no column {by!r}; model properties there: "
            f"{', '.join(present) or 'none'} (add your own with --properties FILE.csv)"
        )
    rows = _model_rows(results)
    heads = rows["head"].notna()
    if rows.loc[heads, by].notna().any() and rows.loc[~heads, by].isna().all():
        return "head"
    return "model"


def _numeric(values: pd.Series, by: str) -> np.ndarray:
    try:
        return as_floats(values)
    except (TypeError, ValueError):
        example = values.dropna().iloc[0]
        raise ValueError(
            f"property {by!r} is not numeric (e.g. {example!r}); a correlation needs "
            "numbers or true/false"
        ) from None


def _property_values(rows: pd.DataFrame, by: str, keys: list[str]) -> pd.DataFrame:
    """One value of ``by`` per group of ``keys`` (an error where it varies within one)."""
    counts = rows.groupby(keys, sort=False, dropna=False)[by].nunique(dropna=True)
    if (counts > 1).any():
        where = dict(zip(keys, counts[counts > 1].index[0], strict=True))
        raise ValueError(
            f"property {by!r} takes several values within {where}; it must be one value per "
            f"{'head' if 'head' in keys else 'model'}"
        )
    first = rows.dropna(subset=[by]).drop_duplicates(keys)[[*keys, by]]
    return first.assign(**{by: _numeric(first[by], by)})


# ------------------------------------------------------------------ correlations


def _rowwise_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r of each row pair of (n_resamples, n) arrays; NaN for a constant row."""
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    denominator = np.sqrt((xc**2).sum(axis=1) * (yc**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (xc * yc).sum(axis=1) / denominator
    tiny = denominator <= 1e-12 * np.maximum(1.0, np.abs(xc).max(axis=1) * np.abs(yc).max(axis=1))
    return np.where(tiny, np.nan, np.clip(r, -1.0, 1.0))


def _both_r(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise Pearson and Spearman (ranks within each row, ties averaged)."""
    from scipy.stats import rankdata

    return _rowwise_pearson(x, y), _rowwise_pearson(rankdata(x, axis=1), rankdata(y, axis=1))


def _interval(values: np.ndarray, confidence_level: float) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.nan, np.nan
    alpha = (1.0 - confidence_level) / 2.0
    low, high = np.quantile(finite, [alpha, 1.0 - alpha])
    return float(low), float(high)


def _point_statistics(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    from scipy.stats import pearsonr, spearmanr

    out = dict.fromkeys(("pearson_r", "pearson_p", "spearman_r", "spearman_p"), np.nan)
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return out
    pearson, spearman = pearsonr(x, y), spearmanr(x, y)
    out.update(
        pearson_r=float(pearson.statistic),
        pearson_p=float(pearson.pvalue),
        spearman_r=float(spearman.statistic),
        spearman_p=float(spearman.pvalue),
    )
    return out


def _missing_note(x: np.ndarray, y: np.ndarray, record: dict[str, Any]) -> str:
    """Why a correlation row holds NaN (the ``note`` column); ``""`` when nothing is."""
    if x.size < 3:
        return f"r needs 3 or more points with a score and a value of the property; {x.size} have"
    if np.ptp(x) == 0:
        return f"the property has one value ({x[0]:g}) across the {x.size} points: no correlation"
    if np.ptp(y) == 0:
        return f"every one of the {x.size} points has the same score: no correlation"
    if not np.isfinite(record.get("pearson_units_low", np.nan)):
        return (
            "no interval over units: one unit per layer (or every resample of units gave a "
            "constant side)"
        )
    return ""


def _model_bootstrap(
    x: np.ndarray, y: np.ndarray, n_resamples: int, confidence_level: float, seed: int
) -> dict[str, float]:
    from brainalign.alignment.stats import bootstrap_indices

    draws = bootstrap_indices(x.size, n_resamples, seed=seed)
    pearson, spearman = _both_r(x[draws], y[draws])
    low, high = _interval(pearson, confidence_level)
    s_low, s_high = _interval(spearman, confidence_level)
    return {
        "pearson_low": low,
        "pearson_high": high,
        "spearman_low": s_low,
        "spearman_high": s_high,
    }


@dataclass
class _UnitArrays:
    """Scores of every point x position x unit of one benchmark and metric."""

    scores: np.ndarray  # (n_points, n_positions, n_units), NaN where missing
    usable: np.ndarray  # scores where the ceiling is usable, else NaN
    ceilings: np.ndarray  # ceilings where usable, else NaN
    clusters: np.ndarray  # (n_units,) resampling cluster of each unit


def _unit_arrays(
    rows: pd.DataFrame, points: list[tuple], point_keys: list[str], position: str | None
) -> _UnitArrays:
    """Arrays of the rows of the points (``point_keys`` values), per ``position``
    (``layer``, or None for one position) and unit (``subject, unit[, session]``)."""
    keys = [c for c in UNIT_KEYS if c in rows.columns]
    unit_codes = rows.groupby(keys, sort=False, dropna=False).ngroup().to_numpy()
    n_units = int(unit_codes.max()) + 1 if len(rows) else 0
    numbered = pd.DataFrame(points, columns=point_keys).assign(_point=np.arange(len(points)))
    numbered = numbered.astype({k: rows[k].dtype for k in point_keys})
    merged = rows[point_keys].merge(numbered, on=point_keys, how="left")
    point_codes = merged["_point"].fillna(-1).to_numpy(dtype=np.int64)
    if position is None:
        position_codes, n_positions = np.zeros(len(rows), dtype=int), 1
    else:
        position_codes, positions = pd.factorize(rows[position])
        n_positions = len(positions)
    keep = point_codes >= 0
    shape = (len(points), n_positions, n_units)
    scores, ceilings = np.full(shape, np.nan), np.full(shape, np.nan)
    at = (point_codes[keep], position_codes[keep], unit_codes[keep])
    scores[at] = rows["score"].to_numpy(dtype=np.float64)[keep]
    usable_rows = (rows["ceiling_flag"].to_numpy().astype(str) == "ok")[keep]
    ceiling_values = np.where(usable_rows, rows["ceiling"].to_numpy(dtype=np.float64)[keep], np.nan)
    ceilings[at] = ceiling_values
    usable = np.where(np.isfinite(ceilings), scores, np.nan)
    ceilings = np.where(np.isfinite(scores), ceilings, np.nan)
    subjects = rows["subject"].astype(str).to_numpy()
    unit_subject = pd.Series(subjects).groupby(unit_codes).first().to_numpy()
    several = len(set(subjects)) > 1
    clusters = unit_subject if several else np.arange(n_units)
    return _UnitArrays(scores, usable, ceilings, clusters)


def _nanmedian(values: np.ndarray) -> np.ndarray:
    """Median over the last axis leaving NaN out (NaN where all are); np.median's speed
    when nothing is missing."""
    import warnings

    if not np.isnan(values).any():
        return np.median(values, axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: NaN, as _median
        return np.nanmedian(values, axis=-1)


def _resampled_points(
    arrays: _UnitArrays, columns: np.ndarray, score: str, fixed: np.ndarray | None
) -> np.ndarray:
    """Each point's score on the drawn unit columns: the best position by median score
    (``fixed`` None) or the fixed position of each point."""
    medians = _nanmedian(arrays.scores[:, :, columns])
    if score == "normalized_score":
        values = _nanmedian(arrays.usable[:, :, columns]) / _nanmedian(
            arrays.ceilings[:, :, columns]
        )
    else:
        values = medians
    if fixed is None:
        ranked = np.where(np.isfinite(medians), medians, -np.inf)
        fixed = np.argmax(ranked, axis=1)
    return values[np.arange(values.shape[0]), fixed]


def _unit_bootstrap(
    arrays: _UnitArrays,
    x: np.ndarray,
    score: str,
    fixed: np.ndarray | None,
    n_resamples: int,
    confidence_level: float,
    seed: int,
) -> dict[str, float]:
    from brainalign.alignment.stats import bootstrap_indices

    labels, codes = np.unique(arrays.clusters, return_inverse=True)
    out = dict.fromkeys(
        ("pearson_units_low", "pearson_units_high", "spearman_units_low", "spearman_units_high"),
        np.nan,
    )
    if len(labels) < 2:
        return out
    members = [np.flatnonzero(codes == k) for k in range(len(labels))]
    draws = bootstrap_indices(len(labels), n_resamples, seed=seed)
    ys = np.array(
        [
            _resampled_points(arrays, np.concatenate([members[k] for k in draw]), score, fixed)
            for draw in draws
        ]
    )
    finite = np.isfinite(ys).all(axis=1)
    pearson, spearman = np.full(n_resamples, np.nan), np.full(n_resamples, np.nan)
    if finite.any():
        xs = np.broadcast_to(x, ys.shape)[finite]
        pearson[finite], spearman[finite] = _both_r(xs, ys[finite])
    out["pearson_units_low"], out["pearson_units_high"] = _interval(pearson, confidence_level)
    out["spearman_units_low"], out["spearman_units_high"] = _interval(spearman, confidence_level)
    return out


def _units_interval(
    results: pd.DataFrame, group: pd.DataFrame, record: dict[str, Any], point_keys: list[str],
    position: str | None, depth: str | float, n_resamples: int, confidence_level: float,
    seed: int,
) -> dict[str, float]:  # fmt: skip
    """The interval over units of one benchmark, metric and weights (``record``'s)."""
    rows = results[
        (results["benchmark"] == record["benchmark"])
        & (results["metric"] == record["metric"])
        & (results["control"] == "")
        & (results["weights"] == record["weights"])
    ]
    head_level = record["level"] == "head"
    rows = rows[rows["head"].notna()] if head_level else rows[rows["head"].isna()]
    point_list = [tuple(p) for p in group[point_keys].itertuples(index=False)]
    arrays = _unit_arrays(rows, point_list, point_keys, position)
    fixed = None  # the best layer, chosen again on each resample
    if head_level:
        fixed = np.zeros(len(group), dtype=int)
    elif depth != "best":
        layers = list(pd.factorize(rows["layer"])[1])
        fixed = np.array([layers.index(layer) for layer in group["layer"]])
    x = group[record["property"]].to_numpy(dtype=np.float64)
    return _unit_bootstrap(arrays, x, record["score"], fixed, n_resamples, confidence_level, seed)


def _model_points(results: pd.DataFrame, by: str, depth: str | float) -> pd.DataFrame:
    scores = model_scores(results, depth=depth)
    rows = _model_rows(results)
    values = _property_values(rows[rows["head"].isna()], by, ["model", "weights"])
    return scores.merge(values, on=["model", "weights"], how="inner")


def _head_points(results: pd.DataFrame, by: str) -> pd.DataFrame:
    rows = _model_rows(results)
    rows = rows[rows["head"].notna() & rows["layer"].notna()]
    keys = [*_ENTITY, "layer", "head"]
    values = _property_values(rows, by, ["model", "weights", "layer", "head"])
    return summarize(rows, keys).merge(values, on=["model", "weights", "layer", "head"])


def correlate_property(
    results: pd.DataFrame,
    by: str,
    *,
    depth: str | float = "best",
    score: str = "median_score",
    n_resamples: int = 1000,
    confidence_level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Correlate scores across models (or heads) with a property.

    What is correlated, which layer is used and what the intervals resample are in the
    module documentation.

    Parameters
    ----------
    results : pandas.DataFrame, shape (n_rows, ...)
        A result table with a column ``by`` (a card column or a user property,
        :func:`brainalign.results.attach_properties`).
    by : str
        The property: numbers or true/false (counted as 1/0).
    depth : "best" or float in [0, 1], default "best"
        Model level only.
    score : {"median_score", "normalized_score"}, default "median_score"
    n_resamples : int, default 1000
        Bootstrap resamples of each interval.
    confidence_level : float, default 0.95
    seed : int, default 0
        Seeds both bootstraps (the same seed gives the same intervals).

    Returns
    -------
    pandas.DataFrame
        :data:`CORRELATION_COLUMNS`, one row per benchmark, metric and weights.

    Raises
    ------
    ValueError
        For a missing or non-numeric property, one that no model row has, one that
        varies within a model (or head), a bad ``depth`` or ``score``, or a depth without
        the card columns.
    """
    from brainalign.alignment._checks import check_int

    score = _check_score(score)
    depth = _check_depth(depth)
    n_resamples = check_int("n_resamples", n_resamples, minimum=1)
    level = property_level(results, by)
    if level == "head":
        points = _head_points(results, by)
        point_keys, position = ["model", "weights", "layer", "head"], None
    else:
        points = _model_points(results, by, depth)
        point_keys, position = ["model", "weights"], "layer"
    if points.empty:
        raise ValueError(
            f"no scored model row has a value of {by!r} (it is missing on every one); add it "
            "with --properties FILE.csv"
        )
    records = []
    for (benchmark, metric, weights), group in points.groupby(
        ["benchmark", "metric", "weights"], sort=False
    ):
        group = group[
            np.isfinite(group[score].to_numpy(dtype=np.float64))
            & np.isfinite(group[by].to_numpy(dtype=np.float64))
        ]
        x = group[by].to_numpy(dtype=np.float64)
        y = group[score].to_numpy(dtype=np.float64)
        record = {
            "benchmark": benchmark,
            "metric": metric,
            "weights": weights,
            "level": level,
            "property": by,
            "depth": "best" if level == "head" else str(depth),
            "score": score,
            "n_models": int(group["model"].nunique()),
            "n_points": int(len(group)),
            **_point_statistics(x, y),
        }
        if np.isfinite(record["pearson_r"]):
            record |= _model_bootstrap(x, y, n_resamples, confidence_level, seed)
            record |= _units_interval(
                results, group, record, point_keys, position, depth, n_resamples,
                confidence_level, seed,
            )  # fmt: skip
        record["note"] = _missing_note(x, y, record)
        records.append(record)
    return pd.DataFrame.from_records(records, columns=list(CORRELATION_COLUMNS))


# ------------------------------------------------------------------ paired variants


@dataclass(frozen=True)
class Pair:
    """A base model and a variant of it, compared unit by unit.

    Attributes
    ----------
    base, variant : str
        Model ids as in the results' ``model`` column.
    name : str
        What the variant changes (``"instruction-tuning"``); default ``"VARIANT vs BASE"``.
    """

    base: str
    variant: str
    name: str = ""

    @property
    def label(self) -> str:
        """The name, or ``"VARIANT vs BASE"``."""
        return self.name or f"{self.variant} vs {self.base}"


def write_pairs(pairs: Sequence[Pair], folder: str | os.PathLike) -> Path | None:
    """Save pairs as ``FOLDER/pairs.json`` atomically (None or empty: remove a stale one)."""
    from brainalign._io import atomic_path

    path = Path(folder) / PAIRS_FILE
    if not pairs:
        path.unlink(missing_ok=True)
        return None
    with atomic_path(path) as temp:
        temp.write_text(json.dumps([asdict(p) for p in pairs], indent=2) + "\n")
    return path


def read_pairs(folder: str | os.PathLike) -> list[Pair]:
    """The pairs a sweep saved in a results folder (empty when it saved none).

    Raises
    ------
    ValueError
        When ``pairs.json`` is not a list of ``{base, variant, name}`` objects.
    """
    path = Path(folder) / PAIRS_FILE
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [Pair(str(p["base"]), str(p["variant"]), str(p.get("name", ""))) for p in data]
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise ValueError(
            f"{str(path)!r} is not a list of {{base, variant, name}} objects ({error}); "
            "rerun the sweep to write it again"
        ) from None


def _paired_units(results: pd.DataFrame, base: Any, variant: Any) -> tuple[np.ndarray, ...]:
    """Scores of base and variant at their best layers on shared units; per subject
    (mean of its units) when there are several subjects. Returns (a, b, over)."""

    def at(entry: Any) -> pd.DataFrame:
        rows = results[
            (results["control"] == "")
            & (results["model"] == entry.model)
            & (results["weights"] == entry.weights)
            & results["head"].isna()
            & (results["benchmark"] == entry.benchmark)
            & (results["metric"] == entry.metric)
        ]
        rows = rows[rows["layer"].astype("Float64") == float(entry.best_layer)]
        return rows[np.isfinite(rows["score"].to_numpy(dtype=np.float64))]

    keys = [c for c in UNIT_KEYS if c in results.columns]
    merged = at(variant)[[*keys, "score"]].merge(
        at(base)[[*keys, "score"]], on=keys, suffixes=("_variant", "_base")
    )
    if merged["subject"].nunique() > 1:
        merged = merged.groupby("subject", sort=True)[["score_variant", "score_base"]].mean()
        over = "subjects"
    else:
        over = "units"
    return (
        merged["score_variant"].to_numpy(np.float64),
        merged["score_base"].to_numpy(np.float64),
        over,
    )


def _sign_flip_p(differences: np.ndarray, n_resamples: int, alternative: str, seed: int) -> float:
    from scipy.stats import permutation_test

    result = permutation_test(
        (differences,),
        np.mean,
        permutation_type="samples",
        vectorized=True,
        n_resamples=n_resamples,
        alternative=alternative,
        rng=np.random.default_rng(seed),
    )
    return float(result.pvalue)


def _pair_test(
    a: np.ndarray,
    b: np.ndarray,
    test: str,
    n_resamples: int,
    confidence_level: float,
    alternative: str,
    seed: int,
) -> dict[str, float]:
    from brainalign.alignment.stats import bootstrap_difference

    out = {
        "n": int(a.size),
        "mean_difference": float(np.mean(a - b)) if a.size else np.nan,
        "low": np.nan,
        "high": np.nan,
        "p_value": np.nan,
        "note": "",
    }
    if a.size < 2:
        out["note"] = (
            f"a paired test needs 2 or more units or subjects scored by both models; {a.size} "
            "are (e.g. one score per layer): no interval or p-value"
        )
        return out
    boot = bootstrap_difference(
        a, b, n_resamples=n_resamples, confidence_level=confidence_level, seed=seed
    )
    out["low"], out["high"] = float(boot.low), float(boot.high)
    if test == "bootstrap":
        out["p_value"] = float(boot.p_value)
    else:
        out["p_value"] = _sign_flip_p(a - b, n_resamples, alternative, seed)
    return out


def _check_pairs(pairs: Iterable[Pair | Sequence[str]], known: set[str]) -> list[Pair]:
    checked = []
    for index, pair in enumerate(pairs):
        if not isinstance(pair, Pair):
            if isinstance(pair, str) or len(pair) != 2:
                raise ValueError(f"pair {index + 1}: give Pair(base, variant) or (base, variant)")
            pair = Pair(str(pair[0]), str(pair[1]))
        for model in (pair.base, pair.variant):
            if model not in known:
                raise ValueError(
                    f"pair {index + 1} ({pair.label}): model {model!r} is not in the results; "
                    f"their models are {', '.join(sorted(known)) or 'none'}"
                )
        if pair.base == pair.variant:
            raise ValueError(f"pair {index + 1}: base and variant are both {pair.base!r}")
        checked.append(pair)
    return checked


def paired_differences(
    results: pd.DataFrame,
    pairs: Iterable[Pair | Sequence[str]],
    *,
    test: str = "permutation",
    n_resamples: int = 9999,
    confidence_level: float = 0.95,
    alternative: str = "two-sided",
    alpha: float = 0.05,
    seed: int = 0,
) -> pd.DataFrame:
    """Variant - base per unit (or subject) at each model's best layer, tested.

    See the module documentation for what is paired and tested.

    Parameters
    ----------
    results : pandas.DataFrame, shape (n_rows, ...)
    pairs : iterable of Pair or (base, variant)
    test : {"permutation", "bootstrap"}, default "permutation"
        Sign-flip permutation test of the mean difference, or the paired bootstrap.
    n_resamples : int, default 9999
        Sign flips (exact enumeration when 2**n is no more) or bootstrap resamples; the
        bootstrap interval uses the same number.
    confidence_level : float, default 0.95
    alternative : {"two-sided", "greater", "less"}, default "two-sided"
        Of the permutation test (``"greater"``: the variant scores higher).
    alpha : float, default 0.05
        FDR level of ``significant``.
    seed : int, default 0

    Returns
    -------
    pandas.DataFrame
        :data:`PAIR_COLUMNS`, one row per pair, benchmark and metric both models were
        scored on; ``p_value`` NaN with fewer than 2 paired units.

    Raises
    ------
    ValueError
        For a model of a pair that the results do not hold, or a bad option.
    """
    if test not in ("permutation", "bootstrap"):
        raise ValueError(f"test={test!r}; use 'permutation' or 'bootstrap'")
    if alternative not in ("two-sided", "greater", "less"):
        raise ValueError(f"alternative={alternative!r}; use two-sided, greater or less")
    from brainalign.alignment.stats import fdr_bh

    models = _model_rows(results)
    pairs = _check_pairs(pairs, set(models["model"]))
    board = leaderboard(results[results["head"].isna()])
    records = []
    for pair in pairs:
        base_rows = board[board["model"] == pair.base]
        variant_rows = board[board["model"] == pair.variant]
        joined = base_rows.merge(
            variant_rows, on=["benchmark", "metric"], suffixes=("_base", "_variant")
        )
        first = len(records)
        for entry in joined.itertuples(index=False):
            base = _entry(entry, "_base")
            variant = _entry(entry, "_variant")
            a, b, over = _paired_units(results, base, variant)
            records.append(
                {
                    "pair": pair.label,
                    "base": pair.base,
                    "variant": pair.variant,
                    "benchmark": entry.benchmark,
                    "metric": entry.metric,
                    "base_layer": base.best_layer,
                    "variant_layer": variant.best_layer,
                    "base_score": base.median_score,
                    "variant_score": variant.median_score,
                    "over": over,
                    "test": test,
                    **_pair_test(a, b, test, n_resamples, confidence_level, alternative, seed),
                }
            )
        p_values = np.array([r["p_value"] for r in records[first:]], dtype=np.float64)
        if p_values.size:
            rejected, adjusted = fdr_bh(p_values, alpha=alpha)
            for record, q, flag in zip(records[first:], adjusted, rejected, strict=True):
                record["p_fdr"], record["significant"] = float(q), bool(flag)
    table = pd.DataFrame.from_records(records, columns=list(PAIR_COLUMNS))
    for column in ("base_layer", "variant_layer"):
        table[column] = table[column].astype("Int64")
    return table


@dataclass(frozen=True)
class _Entry:
    benchmark: str
    metric: str
    model: str
    weights: str
    best_layer: Any
    median_score: float


def _entry(row: Any, suffix: str) -> _Entry:
    return _Entry(
        row.benchmark,
        row.metric,
        getattr(row, "model" + suffix),
        getattr(row, "weights" + suffix),
        getattr(row, "best_layer" + suffix),
        getattr(row, "median_score" + suffix),
    )
