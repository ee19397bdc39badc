"""``brainalign report RESULTS_DIR``: one self-contained HTML file of a run.

The report holds everything inline: the figures as base64 ``data:`` URIs, the CSS in a
``<style>`` element, no script and no external request, so it opens offline, can be
mailed or archived as one file, and renders the same in any browser. Every string that
comes from the data (model names, benchmark ids, metadata) is HTML-escaped.

Sections: a header (when the results were written, the brainalign version, models,
benchmarks), a leaderboard (per benchmark and model: best layer, its score, ceiling,
normalised score, and the scores of the untrained twin and the content-free
controls), one section per benchmark (its figures and a per-layer table), other
figures found in the folder, and the provenance (the results file's checksum and any
``*.json`` run metadata in the folder).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import html
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from brainalign._io import atomic_path
from brainalign.report.figures import (
    benchmark_column,
    best_layer_table,
    control_kind,
    slug,
    write_benchmark_figures,
)
from brainalign.results import RESULT_COLUMNS, make_results

REQUIRED_COLUMNS = tuple(c for c in RESULT_COLUMNS if c != "normalized_score")
"""Columns a results file must hold (``normalized_score`` is recomputed when absent)."""

RESULT_FILES = ("results.parquet", "results.csv")
"""Results files looked for in the folder, in this order."""

FIGURES_DIR = "figures"
"""Sub-folder of the figures :func:`build_report` draws when there are none."""

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
  max-width: 1100px; padding: 0 1rem; color: #1d1d1f; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2rem; margin-top: 2.2rem; }
dl.meta { display: grid; grid-template-columns: max-content auto; gap: 0.2rem 1rem; }
dl.meta dt { font-weight: 600; }
dl.meta dd { margin: 0; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #d0d0d0; padding: 0.25rem 0.55rem; text-align: left; }
th { background: #f2f2f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.control td { color: #666; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85rem; color: #555; }
pre { background: #f6f6f8; padding: 0.8rem; overflow-x: auto; font-size: 0.8rem; }
p.note { font-size: 0.85rem; color: #555; }
"""


# ------------------------------------------------------------------ reading a run


def find_results_file(results_dir: str | os.PathLike) -> Path:
    """The results file of a run folder: ``results.parquet``, else ``results.csv``.

    Parameters
    ----------
    results_dir : path-like

    Returns
    -------
    Path

    Raises
    ------
    FileNotFoundError
        If the folder does not exist, is not a folder, or holds neither file.
    """
    folder = Path(results_dir)
    if not folder.exists():
        raise FileNotFoundError(
            f"results folder {str(folder)!r} does not exist; give the --out folder of "
            "brainalign score"
        )
    if not folder.is_dir():
        raise FileNotFoundError(f"{str(folder)!r} is not a folder; give a results folder")
    for name in RESULT_FILES:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(
        f"no {' or '.join(RESULT_FILES)} in {str(folder)!r}; run brainalign score --out "
        f"{folder} first"
    )


def read_results(path: str | os.PathLike) -> pd.DataFrame:
    """Read a results file (Parquet or CSV) and check its columns.

    Parameters
    ----------
    path : path-like
        ``.parquet`` or ``.csv`` as written by ``brainalign score``.

    Returns
    -------
    pandas.DataFrame, shape (n_rows, n_columns)
        Typed as :func:`brainalign.results.make_results` types it (nullable ``layer``,
        ``normalized_score`` = score / ceiling).

    Raises
    ------
    ValueError
        If the file cannot be read, lacks required columns (all missing ones named) or
        has no rows.
    """
    path = Path(path)
    try:
        if path.suffix == ".parquet":
            table = pd.read_parquet(path)
        else:
            table = pd.read_csv(path)
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read results file {str(path)!r}: {error}") from error
    missing = [column for column in REQUIRED_COLUMNS if column not in table.columns]
    if missing:
        raise ValueError(
            f"results file {str(path)!r} lacks required column(s) {missing}; it has "
            f"{list(table.columns)} (see brainalign.results.RESULT_COLUMNS)"
        )
    if table.empty:
        raise ValueError(f"results file {str(path)!r} has no rows: nothing to report")
    for column in ("head", "session"):
        if column in table.columns and pd.api.types.is_float_dtype(table[column]):
            table[column] = table[column].astype("Int64")  # CSV reads integers with NaN as float
    return make_results(table)


def _figures(results: pd.DataFrame, folder: Path, results_file: Path) -> list[Path]:
    """The PNGs of the run: ``figures/*.png``, drawn first when absent or older than
    the results, then any other PNG in the folder."""
    figures_dir = folder / FIGURES_DIR
    drawn = sorted(figures_dir.glob("*.png")) if figures_dir.is_dir() else []
    stale = any(p.stat().st_mtime < results_file.stat().st_mtime for p in drawn)
    if not drawn or stale:
        for old in drawn:
            old.unlink()
        drawn = write_benchmark_figures(results, figures_dir)
    return list(drawn) + sorted(folder.glob("*.png"))


def _metadata(folder: Path) -> list[tuple[str, str]]:
    """(file name, pretty JSON or a note) of each ``*.json`` file in the folder."""
    entries = []
    for path in sorted(folder.glob("*.json")):
        try:
            text = json.dumps(json.loads(path.read_text(encoding="utf-8")), indent=2)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            text = f"(not readable as JSON: {error})"
        entries.append((path.name, text))
    return entries


# ------------------------------------------------------------------ HTML pieces


def _e(value: object) -> str:
    """HTML-escaped text of a value; missing values as an en dash."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "\u2013"
    return html.escape(str(value), quote=True)


def _number(value: object) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return _e(value)
    return "\u2013" if not np.isfinite(number) else f"{number:.3f}"


def _table(frame: pd.DataFrame, numeric: Iterable[str], caption: str, **attributes: str) -> str:
    """An HTML table of a DataFrame: escaped cells, numbers right-aligned to 3 decimals.

    A ``control`` column, when present, marks control rows (greyed) by its truthiness.
    """
    numeric = set(numeric)
    extra = "".join(f' {key}="{_e(value)}"' for key, value in attributes.items())
    head = "".join(f"<th>{_e(column)}</th>" for column in frame.columns)
    rows = []
    for record in frame.itertuples(index=False):
        values = dict(zip(frame.columns, record, strict=True))
        css = ' class="control"' if values.get("control") else ""
        cells = "".join(
            f'<td class="num">{_number(v)}</td>' if c in numeric else f"<td>{_e(v)}</td>"
            for c, v in values.items()
        )
        rows.append(f"<tr{css}>{cells}</tr>")
    return (
        f"<table{extra}><caption>{_e(caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>\n"
    )


def _image(path: Path) -> str:
    """A ``<figure>`` with the PNG embedded as a data URI."""
    data = path.read_bytes()
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError(f"figure {str(path)!r} is not a PNG file; delete or replace it")
    encoded = base64.b64encode(data).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{encoded}" alt="{_e(path.stem)}">'
        f"<figcaption>{_e(path.name)}</figcaption></figure>\n"
    )


def _controls_of(model: str, rows: pd.DataFrame) -> str:
    """Text of the twin's and the content-free controls' scores next to a model."""
    parts = []
    for other in rows.itertuples(index=False):
        is_twin = other.control == "untrained twin" and other.model == f"{model}@untrained"
        if is_twin or other.control == "content-free":
            where = "" if pd.isna(other.best_layer) else f" (layer {other.best_layer})"
            parts.append(f"{other.model}: {_number(other.score)}{where}")
    return "; ".join(parts)


def leaderboard(results: pd.DataFrame) -> pd.DataFrame:
    """Per benchmark and model: best layer, score, ceiling, normalised score, controls.

    Parameters
    ----------
    results : pandas.DataFrame, shape (n_rows, ...)
        Tidy results (see :func:`brainalign.report.figures.best_layer_table`).

    Returns
    -------
    pandas.DataFrame, shape (n_benchmarks x n_models, 9)
        ``benchmark, metric, model, best_layer, score, [ceiling_lower,] ceiling,
        normalized_score, n_units, controls`` (``ceiling_lower`` when a benchmark gives
        lower noise-ceiling bounds): one row per scored model (controls are in the ``controls``
        text of their model's row), best score first within a benchmark.
    """
    best = best_layer_table(results)
    rows = []
    for (benchmark, metric), group in best.groupby(["benchmark", "metric"], sort=False):
        for record in group[group["control"] == ""].itertuples(index=False):
            rows.append(
                {
                    "benchmark": benchmark,
                    "metric": metric,
                    "model": record.model,
                    "best_layer": record.best_layer,
                    "score": record.score,
                    "ceiling": record.ceiling,
                    "normalized_score": record.normalized_score,
                    "n_units": record.n_units,
                    "controls": _controls_of(record.model, group),
                }
            )
    table = pd.DataFrame(rows, columns=_LEADERBOARD_COLUMNS)
    if best["ceiling_lower"].notna().any():  # RSA noise ceiling: lower and upper bounds
        lower = best.set_index(["benchmark", "metric", "model"])["ceiling_lower"]
        keys = pd.MultiIndex.from_frame(table[["benchmark", "metric", "model"]])
        table.insert(5, "ceiling_lower", lower.reindex(keys).to_numpy())
    order = table.groupby("benchmark", sort=False).ngroup()
    table = table.assign(_order=order).sort_values(["_order", "score"], ascending=[True, False])
    return table.drop(columns="_order").reset_index(drop=True)


_LEADERBOARD_COLUMNS = [
    "benchmark", "metric", "model", "best_layer", "score", "ceiling", "normalized_score",
    "n_units", "controls",
]  # fmt: skip
_NUMERIC = {
    "score",
    "ceiling",
    "ceiling_lower",
    "normalized_score",
    "mean",
    "median",
    "ceiling_median",
}


def per_layer_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per model and layer of one benchmark: mean and median score, ceiling, units.

    Parameters
    ----------
    rows : pandas.DataFrame, shape (n_rows, ...)
        One benchmark's tidy results; per-head rows are left out when whole-layer rows
        exist.

    Returns
    -------
    pandas.DataFrame, shape (n_models x n_layers, 8)
        ``model, control, metric, layer, n_units, mean, median, ceiling_median,
        normalized_score`` (the mean of score / ceiling), in table order.
    """
    if "head" in rows.columns and rows["head"].isna().any():
        rows = rows[rows["head"].isna()]
    models = set(rows["model"].astype(str))
    grouped = rows.groupby(["model", "metric", "layer"], sort=False, dropna=False)
    table = grouped.agg(
        n_units=("score", "count"),
        mean=("score", "mean"),
        median=("score", "median"),
        ceiling_median=("ceiling", "median"),
        normalized_score=("normalized_score", "mean"),
    ).reset_index()
    table.insert(1, "control", [control_kind(m, models) for m in table["model"]])
    return table


# ------------------------------------------------------------------ the document


def _header(results: pd.DataFrame, results_file: Path) -> str:
    from brainalign import __version__

    key = benchmark_column(results)
    written = datetime.datetime.fromtimestamp(results_file.stat().st_mtime, datetime.UTC)
    built = datetime.datetime.now(datetime.UTC)
    items = {
        "results written": written.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "report built": built.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "brainalign version": __version__,
        "models": ", ".join(map(str, dict.fromkeys(results["model"]))),
        "benchmarks": ", ".join(map(str, dict.fromkeys(results[key].dropna()))),
        "rows": str(len(results)),
    }
    meta = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items.items())
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>brainalign report: {_e(results_file.parent.name)}</title>"
        f"<style>{CSS}</style></head><body>\n"
        f'<header><h1>brainalign report</h1><dl class="meta">{meta}</dl></header>\n'
    )


def _leaderboard_section(results: pd.DataFrame) -> str:
    table = leaderboard(results)
    note = (
        '<p class="note">Best layer: the layer with the highest mean score over units '
        "(subjects, sessions, ROIs), chosen on these data (an optimistic estimate). "
        "Ceiling: median over units; normalised score: mean of score / ceiling. Controls: "
        "the untrained twin (same architecture, random weights) and content-free "
        "baselines, each at its own best layer.</p>"
    )
    body = _table(table, _NUMERIC, "Leaderboard", id="leaderboard")
    return f'<section id="leaderboard-section"><h2>Leaderboard</h2>{note}{body}</section>\n'


def _benchmark_sections(results: pd.DataFrame, figures: list[Path]) -> Iterator[str]:
    key = benchmark_column(results)
    for index, benchmark in enumerate(dict.fromkeys(results[key].dropna().astype(str))):
        rows = results[results[key].astype(str) == benchmark]
        prefix = slug(benchmark) + "_"
        mine = [p for p in figures if p.parent.name == FIGURES_DIR and p.name.startswith(prefix)]
        yield f'<section class="benchmark" id="benchmark-{index}"><h2>{_e(benchmark)}</h2>\n'
        for path in mine:
            yield _image(path)
        yield _table(
            per_layer_table(rows), _NUMERIC, f"{benchmark}: score per layer", **{"class": "layers"}
        )
        yield "</section>\n"


def _other_figures(figures: list[Path], results: pd.DataFrame) -> Iterator[str]:
    key = benchmark_column(results)
    prefixes = tuple(slug(b) + "_" for b in dict.fromkeys(results[key].dropna().astype(str)))
    others = [
        p for p in figures if not (p.parent.name == FIGURES_DIR and p.name.startswith(prefixes))
    ]
    if others:
        yield '<section id="other-figures"><h2>Other figures</h2>\n'
        for path in others:
            yield _image(path)
        yield "</section>\n"


def _provenance(folder: Path, results_file: Path) -> str:
    digest = hashlib.sha256(results_file.read_bytes()).hexdigest()
    parts = [
        '<section id="provenance"><h2>Provenance</h2>',
        f"<p>Results file <code>{_e(results_file.name)}</code>, SHA-256 "
        f"<code>{_e(digest)}</code>.</p>",
    ]
    metadata = _metadata(folder)
    if not metadata:
        parts.append('<p class="note">No run metadata (*.json) in the results folder.</p>')
    for name, text in metadata:
        parts.append(f"<h3>{_e(name)}</h3><pre>{_e(text)}</pre>")
    parts.append("</section>\n")
    return "".join(parts)


def _document(results: pd.DataFrame, folder: Path, results_file: Path) -> Iterator[str]:
    """The report, piece by piece (written as it is produced, into a temporary file)."""
    figures = _figures(results, folder, results_file)
    yield _header(results, results_file)
    yield "<main>\n"
    yield _leaderboard_section(results)
    yield from _benchmark_sections(results, figures)
    yield from _other_figures(figures, results)
    yield _provenance(folder, results_file)
    yield "</main></body></html>\n"


def build_report(results_dir: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Write one self-contained HTML report of a results folder.

    Reads ``results.parquet`` (else ``results.csv``), draws the figures into
    ``RESULTS_DIR/figures`` with
    :func:`~brainalign.report.figures.write_benchmark_figures` when that folder has no
    PNG or older ones than the results, and embeds them and any other PNG of the folder
    as base64 data URIs. The file needs no network and no JavaScript. It is written
    atomically: on any error no (partial) report is left and an earlier one is kept.

    Parameters
    ----------
    results_dir : path-like
        The ``--out`` folder of ``brainalign score``.
    out : path-like, optional
        Output file; default ``RESULTS_DIR/report.html``. Its folder must exist.

    Returns
    -------
    Path
        The report written.

    Raises
    ------
    FileNotFoundError
        If the folder, its results file or the output's folder is missing.
    ValueError
        If the results file lacks required columns (named), has no rows, or a PNG in the
        folder is not a PNG.
    """
    folder = Path(results_dir)
    results_file = find_results_file(folder)
    target = Path(out) if out is not None else folder / "report.html"
    if not target.parent.is_dir():
        raise FileNotFoundError(
            f"folder {str(target.parent)!r} of the report {str(target)!r} does not exist; "
            "create it first"
        )
    results = read_results(results_file)
    with atomic_path(target) as temp:
        with temp.open("w", encoding="utf-8") as handle:
            for piece in _document(results, folder, results_file):
                handle.write(piece)
        temp.chmod(0o644)  # a report is for sharing (the temporary file is private)
    return target
