"""``brainalign report RESULTS_DIR``: one self-contained HTML file of a run.

The report holds everything inline: the figures as base64 ``data:`` URIs, the CSS in a
``<style>`` element, no script and no external request, so it opens offline, can be
mailed or archived as one file, and renders the same in any browser. Every string that
comes from the data (model names, benchmark ids, metadata) is HTML-escaped.

Sections: a header (when the results were written, the brainalign version, models,
controls, benchmarks), the leaderboard (:func:`brainalign.results.leaderboard`, the
numbers of ``brainalign compare``, its caption quoting
:data:`brainalign.results.SUMMARY_NOTE`), the analyses across models (scores against
each model property with :data:`~brainalign.report.scaling.MIN_DISTINCT` or more values,
their correlations, layer curves by relative depth, the paired variants a sweep saved;
each absent part says why), one section per benchmark (its figures, each shown once, and
its :func:`brainalign.results.layer_summary` table), other figures found in the folder,
and the provenance (the results file's checksum; the run record
``run.json`` of :mod:`brainalign.runs` as tables: versions, settings, models with their
weight hashes, cells with their seconds, invocations; any other ``*.json`` as text).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import html
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainalign._io import atomic_path
from brainalign.report.figures import benchmark_stems, write_benchmark_figures
from brainalign.results import (
    LEADERBOARD_COLUMNS,
    SUMMARY_NOTE,
    find_results_file,
    layer_summary,
    leaderboard,
    read_results,
)
from brainalign.runs import FIGURES_DIR, RUN_FILE

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

LEADERBOARD_NOTE = (
    "One row per benchmark, metric and scored model at its best layer: the numbers of "
    "brainalign compare (brainalign.results.leaderboard). "
    + SUMMARY_NOTE
    + " untrained_score: the median_score of the model's untrained twin (same "
    "architecture, seeded random weights) at the twin's own best layer. control, "
    "control_score: the strongest of the controls computed for this model (highest "
    "median_score, at its own best layer)."
)
"""Caption of the leaderboard table."""

LAYER_NOTE = (
    "One row per model (or control) and layer: brainalign.results.layer_summary, whole "
    "layers (rows of single heads are left out; layer-free controls have no layer). "
    "n_units: units (rows) of the layer with a finite score. " + SUMMARY_NOTE
)
"""Caption of each benchmark's per-layer table (after the benchmark's name)."""

FIGURE_NOTES = {
    "_by_layer.png": (
        "Score by layer, one panel per unit: each curve is layer_summary(by_unit=True)'s "
        "median_score; bands are interquartile ranges; the grey band is the noise ceiling "
        "(median and IQR of the units with a usable ceiling)."
    ),
    "_heads.png": "Layers x heads: each cell is the median score of its rows.",
    "_models.png": (
        "Each model and control at its best layer: the bar is the leaderboard's "
        "median_score; error bars (when drawn) a bootstrap interval of that median; stars "
        "mark a difference from the model's own strongest control (BH-adjusted)."
    ),
}
"""Captions of the figures, by the end of their file name."""

MODEL_FIGURES_DIR = "across-models"
"""Subfolder of ``figures/`` with the figures over models (drawn at each report)."""

SCALING_NOTE = (
    "Each model at its best layer (the leaderboard's median_score) against the property; "
    "error bars: 95% bootstrap interval of that median (median_interval); filled circles "
    "pretrained models, open squares untrained twins; log x axis where the values are "
    "positive and span a factor of 10 or more."
)
DEPTH_NOTE = (
    "Every model's layer curve (layer_summary's median over units) against relative depth "
    "(layer / n_layers: 0 = embeddings, 1 = last block); untrained twins dashed."
)

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
caption { caption-side: top; text-align: left; font-size: 0.85rem; color: #333;
  padding-bottom: 0.3rem; max-width: 1000px; }
h3 { margin-top: 1.4rem; }
div.wide { overflow-x: auto; }
"""


# ------------------------------------------------------------------ reading a run


def _figures(results: pd.DataFrame, folder: Path, results_file: Path) -> list[Path]:
    """The PNGs of the run: ``figures/*.png``, drawn first when absent or older than
    the results, then any other PNG in the folder; each path once."""
    figures_dir = folder / FIGURES_DIR
    drawn = sorted(figures_dir.glob("*.png")) if figures_dir.is_dir() else []
    stale = any(p.stat().st_mtime < results_file.stat().st_mtime for p in drawn)
    if not drawn or stale:
        for old in drawn:
            old.unlink()
        drawn = write_benchmark_figures(results, figures_dir)
    return list(dict.fromkeys([*drawn, *sorted(folder.glob("*.png"))]))


def _assign_figures(
    figures: Sequence[Path], results: pd.DataFrame
) -> tuple[dict[str, list[Path]], list[Path]]:
    """Each figure to one benchmark section (the longest stem its name starts with), or
    to the other figures: every figure is shown exactly once."""
    stems = benchmark_stems(results)
    sections: dict[str, list[Path]] = {benchmark: [] for benchmark in stems}
    others = []
    for path in figures:
        owners = [
            b for b, stem in stems.items()
            if path.parent.name == FIGURES_DIR and path.name.startswith(stem + "_")
        ]  # fmt: skip
        if owners:
            sections[max(owners, key=lambda b: len(stems[b]))].append(path)
        else:
            others.append(path)
    return sections, others


def _read_json(path: Path) -> tuple[Any, str | None]:
    """The parsed JSON of a file, or None and why it could not be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return None, f"not readable as JSON: {error}"


# ------------------------------------------------------------------ HTML pieces


def _e(value: object) -> str:
    """HTML-escaped text of a value; missing values as an en dash."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "\u2013"
    return html.escape(str(value), quote=True)


def _number(value: object) -> str:
    """A number to 3 decimals (an en dash for missing or infinite values)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return _e(value)
    return "\u2013" if not np.isfinite(number) else f"{number:.3f}"


def _table(
    frame: pd.DataFrame,
    numeric: Iterable[str],
    caption: str,
    *,
    greyed: Sequence[bool] | None = None,
    **attributes: str,
) -> str:
    """An HTML table of a DataFrame: escaped cells, ``numeric`` columns right-aligned
    to 3 decimals, the rows where ``greyed`` is true in grey (controls); scrolled
    sideways when wider than the page."""
    numeric = set(numeric)
    extra = "".join(f' {key}="{_e(value)}"' for key, value in attributes.items())
    head = "".join(f"<th>{_e(column)}</th>" for column in frame.columns)
    greyed = [False] * len(frame) if greyed is None else list(greyed)
    rows = []
    for grey, record in zip(greyed, frame.itertuples(index=False), strict=True):
        cells = "".join(
            f'<td class="num">{_number(v)}</td>' if c in numeric else f"<td>{_e(v)}</td>"
            for c, v in zip(frame.columns, record, strict=True)
        )
        css = ' class="control"' if grey else ""
        rows.append(f"<tr{css}>{cells}</tr>")
    return (
        f'<div class="wide"><table{extra}><caption>{_e(caption)}</caption><thead><tr>{head}'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>\n"
    )


def _image(path: Path, note: str | None = None) -> str:
    """A ``<figure>`` with the PNG embedded as a data URI and what it shows (``note``, or
    the caption of :data:`FIGURE_NOTES` its name ends with)."""
    data = path.read_bytes()
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError(f"figure {str(path)!r} is not a PNG file; delete or replace it")
    encoded = base64.b64encode(data).decode("ascii")
    if note is None:
        note = next((n for end, n in FIGURE_NOTES.items() if path.name.endswith(end)), "")
    caption = f"{path.name}: {note}" if note else path.name
    return (
        f'<figure><img src="data:image/png;base64,{encoded}" alt="{_e(path.stem)}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>\n"
    )


_SCORES = ("median_score", "median_ceiling", "normalized_score", "untrained_score",
           "control_score")  # fmt: skip


def _cell(value: Any) -> Any:
    """A JSON value for a table cell: strings and numbers as they are, null as missing,
    the rest (true, false, lists, objects) as compact JSON."""
    if value is None or isinstance(value, str) or type(value) in (int, float):
        return value
    return json.dumps(value, sort_keys=True)


def _records_table(records: Sequence[Mapping[str, Any]], caption: str, **attributes: str) -> str:
    """A table of JSON objects: one row each, the union of their keys as columns."""
    columns = list(dict.fromkeys(key for record in records for key in record))
    frame = pd.DataFrame(
        [[_cell(record.get(c)) for c in columns] for record in records], columns=columns
    )
    return _table(frame.astype(object), (), caption, **attributes)


def _mapping_table(mapping: Mapping[str, Any], names: tuple[str, str], caption: str) -> str:
    """A two-column table of a JSON object (key, value)."""
    frame = pd.DataFrame(
        [(key, _cell(value)) for key, value in mapping.items()], columns=list(names)
    ).astype(object)
    return _table(frame, (), caption)


# ------------------------------------------------------------------ the document


def _header(results: pd.DataFrame, results_file: Path) -> str:
    from brainalign import __version__

    written = datetime.datetime.fromtimestamp(results_file.stat().st_mtime, datetime.UTC)
    built = datetime.datetime.now(datetime.UTC)
    items = {
        "results written": written.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "report built": built.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "report built with brainalign": __version__,
        "models": ", ".join(m for m in dict.fromkeys(results["model"]) if m),
        "controls": ", ".join(c for c in dict.fromkeys(results["control"]) if c) or "none",
        "benchmarks": ", ".join(dict.fromkeys(results["benchmark"])),
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
    if table.empty:
        body = '<p class="note">No scored model in the results (only controls).</p>'
    else:
        body = _table(table[list(LEADERBOARD_COLUMNS)], _SCORES, LEADERBOARD_NOTE, id="leaderboard")
    return f'<section id="leaderboard-section"><h2>Leaderboard</h2>{body}</section>\n'


def _absent(reason: str) -> str:
    return f'<p class="note">Not shown: {_e(reason)}.</p>'


def _across_models_section(results: pd.DataFrame, folder: Path) -> str:
    """Scores against model properties, by relative depth, and paired variants."""
    from brainalign.report.scaling import write_model_figures
    from brainalign.results import (
        CARD_COLUMNS,
        CORRELATION_COLUMNS,
        CORRELATION_NOTE,
        NUMERIC_CORRELATION_COLUMNS,
        PAIR_COLUMNS,
        PAIRS_NOTE,
        attach_properties,
        correlate_property,
        paired_differences,
        read_pairs,
        read_run_properties,
    )

    user = read_run_properties(folder)
    results = attach_properties(results, user)
    names = [] if user is None else [c for c in user.columns if c not in ("model", "weights")]
    pairs = read_pairs(folder)
    pair_table = paired_differences(results, pairs) if pairs else None
    out = folder / FIGURES_DIR / MODEL_FIGURES_DIR
    for old in out.glob("*.png") if out.is_dir() else []:
        old.unlink()
    drawn = write_model_figures(
        results, out, properties=list(dict.fromkeys([*CARD_COLUMNS, *names])), pairs=pair_table
    )
    parts = ['<section id="across-models"><h2>Across models</h2>\n',
             "<h3>Scores against model properties</h3>\n"]  # fmt: skip
    if drawn.properties:
        table = pd.concat([correlate_property(results, name) for name in drawn.properties])
        parts.append(_table(table[list(CORRELATION_COLUMNS)], NUMERIC_CORRELATION_COLUMNS,
                            CORRELATION_NOTE, id="correlations"))  # fmt: skip
        parts += [_image(path, SCALING_NOTE) for path in drawn.scaling]
    else:
        parts.append(_absent(drawn.absent["scaling"]))
    parts.append("<h3>Score by relative depth</h3>\n")
    parts += [_image(path, DEPTH_NOTE) for path in drawn.depth] or [_absent(drawn.absent["depth"])]
    parts.append(_head_properties_part(results))
    parts.append("<h3>Paired variants</h3>\n")
    if pair_table is not None and not pair_table.empty:
        parts.append(_table(pair_table[list(PAIR_COLUMNS)], PAIR_COLUMNS[7:9] + PAIR_COLUMNS[11:14]
                            + PAIR_COLUMNS[15:17], PAIRS_NOTE, id="pairs"))  # fmt: skip
    parts += [_image(path, PAIRS_NOTE) for path in drawn.pairs] or [_absent(drawn.absent["pairs"])]
    parts.append("</section>\n")
    return "".join(parts)


def _head_properties_part(results: pd.DataFrame) -> str:
    """Per-head scores against the heads' own properties (induction, previous-token, ...)."""
    from brainalign.encoders.head_cards import HEAD_PROPERTY_MEASURES
    from brainalign.results import (
        CORRELATION_COLUMNS,
        CORRELATION_NOTE,
        NUMERIC_CORRELATION_COLUMNS,
        correlate_property,
    )

    part = "<h3>Head scores against head properties</h3>\n"
    present = [name for name in HEAD_PROPERTY_MEASURES if name in results.columns]
    if not present:
        return part + _absent("no per-head rows of a text model (run with --heads)")
    table = pd.concat([correlate_property(results, name) for name in present])
    return part + _table(table[list(CORRELATION_COLUMNS)], NUMERIC_CORRELATION_COLUMNS,
                         CORRELATION_NOTE, id="head-properties")  # fmt: skip


def _benchmark_sections(results: pd.DataFrame, figures: dict[str, list[Path]]) -> Iterator[str]:
    for index, (benchmark, paths) in enumerate(figures.items()):
        rows = results[results["benchmark"] == benchmark]
        yield f'<section class="benchmark" id="benchmark-{index}"><h2>{_e(benchmark)}</h2>\n'
        for path in paths:
            yield _image(path)
        summary = layer_summary(rows).drop(columns="benchmark")
        yield _table(
            summary,
            _SCORES,
            f"{benchmark}: summary per layer. {LAYER_NOTE}",
            greyed=(summary["control"] != "").tolist(),
            **{"class": "layers"},
        )
        yield "</section>\n"


def _other_figures(others: list[Path]) -> Iterator[str]:
    if others:
        yield '<section id="other-figures"><h2>Other figures</h2>\n'
        for path in others:
            yield _image(path)
        yield "</section>\n"


def _run_record(record: Any) -> str:
    """The run record (``run.json``) as tables: versions, settings, models, cells,
    invocations."""
    if not isinstance(record, dict):
        return f'<p class="note">{_e(RUN_FILE)} is not a JSON object; shown as text below.</p>'
    parts = []
    dates = {k: record[k] for k in ("created", "updated") if k in record}
    if dates:
        meta = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in dates.items())
        parts.append(f'<dl class="meta">{meta}</dl>')
    if isinstance(record.get("versions"), dict):
        parts.append(
            _mapping_table(record["versions"], ("library", "version"), "Versions of the run")
        )
    if isinstance(record.get("settings"), dict):
        parts.append(
            _mapping_table(
                record["settings"], ("setting", "value"),
                "Settings: every setting that changes scores (the run's fingerprint)",
            )
        )  # fmt: skip
    if isinstance(record.get("models"), dict):
        rows = []
        for model, identity in record["models"].items():
            identity = identity if isinstance(identity, dict) else {}
            hashes = identity.get("weights_sha256") or {"": ""}
            hashes = hashes if isinstance(hashes, dict) else {"": hashes}
            for file, digest in hashes.items():
                rows.append(
                    {"model": model, "source": identity.get("source"),
                     "revision": identity.get("revision"), "weights file": file,
                     "sha256": digest}
                )  # fmt: skip
        parts.append(_records_table(rows, "Models: source, revision and weight hashes"))
    for key, caption in (
        ("cells", "Cells: one model on one benchmark each, with what it cost (seconds)"),
        ("invocations", "Invocations: each command that computed or reused cells"),
    ):
        entries = record.get(key)
        if isinstance(entries, list) and entries and all(isinstance(e, dict) for e in entries):
            parts.append(_records_table(entries, caption, **{"class": f"run-{key}"}))
    return "".join(parts)


def _provenance(folder: Path, results_file: Path) -> str:
    digest = hashlib.sha256(results_file.read_bytes()).hexdigest()
    parts = [
        '<section id="provenance"><h2>Provenance</h2>',
        f"<p>Results file <code>{_e(results_file.name)}</code>, SHA-256 "
        f"<code>{_e(digest)}</code>.</p>",
    ]
    record_path = folder / RUN_FILE
    if record_path.is_file():
        record, problem = _read_json(record_path)
        parts.append(f"<h3>Run record ({_e(RUN_FILE)})</h3>")
        if problem is not None:
            parts.append(f'<p class="note">{_e(RUN_FILE)} is {_e(problem)}.</p>')
        else:
            parts.append(_run_record(record))
            if not isinstance(record, dict):
                parts.append(f"<pre>{_e(json.dumps(record, indent=2))}</pre>")
    else:
        parts.append(
            f'<p class="note">No run record ({_e(RUN_FILE)}) in the results folder: '
            "versions, settings and model hashes are unknown.</p>"
        )
    for path in sorted(folder.glob("*.json")):
        if path.name == RUN_FILE:
            continue
        value, problem = _read_json(path)
        text = f"({problem})" if problem is not None else json.dumps(value, indent=2)
        parts.append(f"<h3>{_e(path.name)}</h3><pre>{_e(text)}</pre>")
    parts.append("</section>\n")
    return "".join(parts)


def _document(results: pd.DataFrame, folder: Path, results_file: Path) -> Iterator[str]:
    """The report, piece by piece (written as it is produced, into a temporary file)."""
    sections, others = _assign_figures(_figures(results, folder, results_file), results)
    yield _header(results, results_file)
    yield "<main>\n"
    yield _leaderboard_section(results)
    yield _across_models_section(results, folder)
    yield from _benchmark_sections(results, sections)
    yield from _other_figures(others)
    yield _provenance(folder, results_file)
    yield "</main></body></html>\n"


def build_report(results_dir: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Write one self-contained HTML report of a results folder.

    Reads ``results.parquet`` (else ``results.csv``) with
    :func:`brainalign.results.read_results`, draws the figures into
    ``RESULTS_DIR/figures`` with
    :func:`~brainalign.report.figures.write_benchmark_figures` when that folder has no
    PNG or older ones than the results, and embeds them (each once) and any other PNG of
    the folder as base64 data URIs. The file needs no network and no JavaScript. It is
    written atomically: on any error no (partial) report is left and an earlier one is
    kept.

    Parameters
    ----------
    results_dir : path-like
        The ``--out`` folder of ``brainalign score`` or ``brainalign sweep``.
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
        If the results file lacks result columns (named), has no rows, or a PNG in the
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
