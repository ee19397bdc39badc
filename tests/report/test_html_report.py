"""``brainalign report``: the self-contained HTML report, checked in headless Chromium.

The browser is driven through the DevTools protocol over ``--remote-debugging-pipe``
(standard library only): it loads the report from disk, and the test reads back the
rendered DOM, the tables as the reader sees them (caption, header, cell texts), whether
every image decoded, a full-page screenshot, and every console message, uncaught
exception, log error and network request of the page. The numbers of the rendered tables
are checked against the result rows recomputed independently with plain pandas.
"""

import base64
import io
import json
import os
import select
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from brainalign.cli import main
from brainalign.report import html as report_html
from brainalign.report.html import LAYER_NOTE, LEADERBOARD_NOTE, build_report
from brainalign.results import (
    LEADERBOARD_COLUMNS,
    SUMMARY_NOTE,
    leaderboard,
    read_results,
    write_results_csv,
    write_results_parquet,
)
from tests.datasets.catalogue_helpers import TESTS_DATA, place_in_cache
from tests.report.pictures import PNG_SIGNATURE
from tests.report.test_figures import CONTROL, EVIL, HEADS, RSA, synthetic_results

CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium binary on PATH (Debian: apt-get install -y chromium)",
)


# ------------------------------------------------------------------ the browser


class DevToolsPipe:
    """Headless Chromium driven over the DevTools protocol on fds 3 (in) and 4 (out)."""

    def __init__(self, profile: Path, width: int = 1280, height: int = 1600, timeout=30.0):
        self.timeout = timeout
        child_in, self._send = os.pipe()
        self._receive, child_out = os.pipe()

        def wire():
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        command = [
            CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--remote-debugging-pipe", "--no-default-browser-check", "--disable-extensions",
            f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),
            preexec_fn=wire,
        )
        os.close(child_in)
        os.close(child_out)
        self._buffer, self._id, self.events = b"", 0, []

    def _message(self) -> dict:
        """The next message; a hang guard: silence for ``timeout`` seconds is an error."""
        while b"\0" not in self._buffer:
            if not select.select([self._receive], [], [], self.timeout)[0]:
                raise TimeoutError("chromium did not answer within the timeout")
            chunk = os.read(self._receive, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict | None = None, session: str | None = None):
        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._send, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._message()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method: str) -> dict:
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._message()
            self.events.append(event)
            if event.get("method") == method:
                return event

    def close(self) -> None:
        try:
            self.send("Browser.close")
            self.process.wait(10)
        except (RuntimeError, TimeoutError, OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        finally:
            os.close(self._send)
            os.close(self._receive)


TABLES = """Array.from(document.querySelectorAll("table"), t => ({
  id: t.id, class: t.className, caption: t.caption ? t.caption.innerText : "",
  head: Array.from(t.tHead.rows[0].cells, c => c.innerText),
  rows: Array.from(t.tBodies[0].rows, r => Array.from(r.cells, c => c.innerText)),
}))"""
"""Every rendered table as the reader sees it: caption, header and cell texts."""


def render(url: str, profile: Path) -> dict:
    """Load ``url``; the DOM, rendered tables, image states, a screenshot and the page's
    problems."""
    browser = DevToolsPipe(profile)
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.send(f"{domain}.enable", session=session)
        browser.send("Page.navigate", {"url": url}, session=session)
        browser.wait_for("Page.loadEventFired")

        def evaluate(expression):
            result = browser.send(
                "Runtime.evaluate",
                {"expression": expression, "returnByValue": True},
                session=session,
            )
            return result["result"]["value"]

        dom = evaluate("document.documentElement.outerHTML")
        images = evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
        tables = evaluate(TABLES)
        captions = evaluate("Array.from(document.querySelectorAll('figcaption'), c => c.innerText)")
        shot = browser.send(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True},
            session=session,
        )
    finally:
        browser.close()
    return {
        "dom": dom,
        "images": images,
        "tables": tables,
        "figure_captions": captions,
        "screenshot": base64.b64decode(shot["data"]),
        "problems": _problems(browser.events),
        "requests": [
            e["params"]["request"]["url"]
            for e in browser.events
            if e.get("method") == "Network.requestWillBeSent"
        ],
    }


def _problems(events: list[dict]) -> list[str]:
    """Console errors and warnings, uncaught exceptions and log errors of a page."""
    found = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "warning"):
            found.append(f"console.{params['type']}: {params['args']}")
        elif method == "Runtime.exceptionThrown":
            found.append(f"exception: {params['exceptionDetails']}")
        elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
            found.append(f"log {params['entry']['level']}: {params['entry']['text']}")
    return found


class _Collector(HTMLParser):
    """Images, table ids and table cell texts of an HTML document."""

    def __init__(self):
        super().__init__()
        self.images, self.tables, self.cells, self.scripts = [], [], [], 0
        self._cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        elif tag == "table":
            self.tables.append(attrs.get("id") or attrs.get("class"))
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "script":
            self.scripts += 1

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.cells.append("".join(self._cell))
            self._cell = None


def _parsed(document: str) -> _Collector:
    collector = _Collector()
    collector.feed(document)
    return collector


def _pixels(png: bytes) -> np.ndarray:
    import matplotlib.image

    return matplotlib.image.imread(io.BytesIO(png), format="png")


# ------------------------------------------------------------------ runs to report

SHA = {"vit-tiny": "a" * 64, EVIL: "b" * 64, "gpt2": "c" * 64}

RUN_RECORD = {
    "settings": {
        "weights": "pretrained", "untrained_twin": True, "seed": 0, "layers": "all",
        "heads": True, "options": {"note": "<script>alert(1)</script>"},
    },
    "versions": {"python": "3.11.7", "brainalign": "0.1.0", "torch": "2.5.1",
                 "transformers": "4.46.3", "numpy": "2.1.0"},
    "models": {
        model: {"source": "hub", "revision": f"rev-{i}",
                "weights_sha256": {"model.safetensors": sha}}
        for i, (model, sha) in enumerate(SHA.items())
    },
    "cells": [
        {"model": "vit-tiny", "benchmark": RSA, "finished": "2025-01-01T10:00:00+00:00",
         "n_rows": 80, "seconds": 12.5, "forward_passes": 3, "device": "cuda"},
        {"model": EVIL, "benchmark": RSA, "finished": "2025-01-01T10:01:00+00:00",
         "n_rows": 40, "seconds": 7.25, "forward_passes": 3, "device": "cuda"},
        {"model": "gpt2", "benchmark": HEADS, "finished": "2025-01-01T10:02:00+00:00",
         "n_rows": 93, "seconds": 31.75, "forward_passes": 9, "device": "cuda"},
    ],
    "invocations": [
        {"started": "2025-01-01T09:59:00+00:00", "host": "node-7", "device": "cuda",
         "batch_size": 32, "engine": "local", "cells_computed": 3, "cells_reused": 0,
         "seconds": 52.0, "finished": "2025-01-01T10:02:00+00:00"},
    ],
    "created": "2025-01-01T09:59:00+00:00",
    "updated": "2025-01-01T10:02:00+00:00",
}  # fmt: skip
"""A run record as brainalign.runs writes it (a settings value holds markup to escape)."""


@pytest.fixture
def real_run(isolated_cache, monkeypatch, tiny_bert_dir, tmp_path) -> Path:
    """``brainalign score`` of a tiny random BERT on two real word-similarity subsets."""
    monkeypatch.setenv("BRAINALIGN_OFFLINE", "1")
    for name, file in (("simlex999", "EN-SIMLEX-999.txt"), ("men3k", "EN-MEN-TR-3k.txt")):
        place_in_cache(monkeypatch, name, "pairs", TESTS_DATA / "behaviour" / file, subset=True)
    out = tmp_path / "run"
    args = ["score", "--model", str(tiny_bert_dir), "--benchmark", "simlex999", "men3k"]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    return out


@pytest.fixture
def neural_run(tmp_path) -> Path:
    """A realistic neural run (RSA ceilings, sessions, heads) with its run record."""
    out = tmp_path / "neural"
    out.mkdir()
    write_results_parquet(synthetic_results(), out / "results.parquet")
    (out / "run.json").write_text(json.dumps(RUN_RECORD))
    return out


def _check_in_browser(report: Path, tmp_path: Path) -> tuple[dict, _Collector]:
    page = render(report.resolve().as_uri(), tmp_path / "profile")
    assert page["problems"] == []
    # nothing but the file itself and its own data: URIs is requested
    assert page["requests"][0] == report.resolve().as_uri()
    assert all(url.startswith("data:image/png;base64,") for url in page["requests"][1:])
    dom = _parsed(page["dom"])
    assert dom.images and len(page["images"]) == len(dom.images)
    assert len(set(dom.images)) == len(dom.images), "a figure is shown twice"
    assert all(complete and width > 0 for complete, width in page["images"])  # decoded
    for source in dom.images:
        assert source.startswith("data:image/png;base64,")
        png = base64.b64decode(source.removeprefix("data:image/png;base64,"), validate=True)
        assert png.startswith(PNG_SIGNATURE) and _pixels(png)[..., :3].var() > 1e-3
    screenshot = _pixels(page["screenshot"])
    assert screenshot.shape[0] > 1600 and screenshot.shape[1] > 1200  # the whole page
    colours = screenshot[..., :3]
    assert colours.var() > 1e-3 and (colours < 0.9).any(axis=-1).mean() > 0.01  # not blank
    assert dom.scripts == 0
    return page, dom


def _table(page: dict, **where: str) -> list[dict]:
    """The rendered tables with the given id or class, each row as {header: text}."""
    key, value = next(iter(where.items()))
    found = [t for t in page["tables"] if t[key] == value]
    return [
        {"caption": t["caption"], "rows": [dict(zip(t["head"], r, strict=True)) for r in t["rows"]]}
        for t in found
    ]


def _text(value: float) -> str:
    """A number as the report prints it."""
    return "\u2013" if not np.isfinite(value) else f"{value:.3f}"


def _usable(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows whose ceiling can divide (finite, at least 0.1), written out by hand."""
    ceiling = rows["ceiling"].to_numpy(dtype=float)
    return rows[np.isfinite(ceiling) & (ceiling >= 0.1) & np.isfinite(rows["score"])]


def _expected_summary(rows: pd.DataFrame) -> dict[str, float]:
    """median_score, median_ceiling, normalized_score of rows, with plain pandas."""
    usable = _usable(rows)
    ceiling = usable["ceiling"].median() if len(usable) else np.nan
    return {
        "median_score": rows["score"].median(),
        "median_ceiling": ceiling,
        "normalized_score": usable["score"].median() / ceiling if len(usable) else np.nan,
        "n_units": int(rows["score"].notna().sum()),
    }


def _best(rows: pd.DataFrame) -> tuple[object, pd.DataFrame]:
    """The layer with the highest median score and its rows (layer-free rows as they are)."""
    if rows["layer"].isna().all():
        return None, rows
    medians = rows.groupby("layer")["score"].median()
    return medians.idxmax(), rows[rows["layer"] == medians.idxmax()]


def _check_leaderboard(page: dict, results: pd.DataFrame) -> None:
    """Every leaderboard cell against the result rows, recomputed with pandas."""
    (board,) = _table(page, id="leaderboard")
    assert SUMMARY_NOTE in board["caption"] and "median over units" in board["caption"]
    whole = results[results["head"].isna()]
    assert len(board["rows"]) == len(whole.loc[whole["weights"] == "pretrained"].groupby(
        ["benchmark", "model"]))  # fmt: skip
    for row in board["rows"]:
        of = whole[(whole["benchmark"] == row["benchmark"]) & (whole["model"] == row["model"])]
        layer, at = _best(of[of["weights"] == row["weights"]])
        expected = _expected_summary(at)
        assert row["best_layer"] == str(layer)
        assert row["n_units"] == str(expected["n_units"])
        for column in ("median_score", "median_ceiling", "normalized_score"):
            assert row[column] == _text(expected[column]), (row["model"], column)
        _, twin = _best(of[of["weights"] == "untrained"]) if (
            of["weights"] == "untrained").any() else (None, of.iloc[:0])  # fmt: skip
        assert row["untrained_score"] == _text(twin["score"].median() if len(twin) else np.nan)
        controls = whole[(whole["benchmark"] == row["benchmark"])
                         & (whole["control_of"] == row["model"])]  # fmt: skip
        scores = {name: _best(c)[1]["score"].median() for name, c in controls.groupby("control")}
        strongest = max(scores, key=scores.get)
        assert (row["control"], row["control_score"]) == (strongest, _text(scores[strongest]))


def _check_layer_tables(page: dict, results: pd.DataFrame) -> None:
    """Every per-layer table cell against the result rows, recomputed with pandas."""
    tables = _table(page, **{"class": "layers"})
    assert len(tables) == results["benchmark"].nunique()
    for benchmark, table in zip(dict.fromkeys(results["benchmark"]), tables, strict=True):
        assert table["caption"].startswith(benchmark) and LAYER_NOTE in table["caption"]
        for column in ("median_score", "median_ceiling", "normalized_score", "n_units",
                       "n_ceiling_excluded"):  # fmt: skip
            assert f"{column}: " in table["caption"]
        whole = results[(results["benchmark"] == benchmark) & results["head"].isna()]
        assert len(table["rows"]) == len(
            whole.groupby(["model", "weights", "control", "control_of", "layer"], dropna=False)
        )
        for row in table["rows"]:
            rows = whole[(whole["model"] == row["model"]) & (whole["weights"] == row["weights"])
                         & (whole["control"] == row["control"])
                         & (whole["control_of"] == row["control_of"])]  # fmt: skip
            layer = rows["layer"].isna() if row["layer"] == "\u2013" else (
                rows["layer"].astype("Float64") == float(row["layer"]))  # fmt: skip
            expected = _expected_summary(rows[layer.to_numpy(dtype=bool)])
            for column in ("median_score", "median_ceiling", "normalized_score"):
                assert row[column] == _text(expected[column])
            assert row["n_units"] == str(expected["n_units"])


# ------------------------------------------------------------------ browser tests


@needs_chromium
def test_report_of_a_real_run_renders_in_chromium(real_run, tiny_bert_dir, tmp_path, capsys):
    capsys.readouterr()
    assert main(["report", str(real_run)]) == 0
    report = real_run / "report.html"
    assert capsys.readouterr().out.strip() == f"wrote {report}"
    page, dom = _check_in_browser(report, tmp_path)
    assert dom.tables[0] == "leaderboard" and dom.tables.count("layers") == 2
    for name in ("simlex999@1", "men3k@1", str(tiny_bert_dir), "untrained"):
        assert name in dom.cells
    assert "random-word-vectors" in dom.cells
    # per benchmark: by-layer curves and model bars (no heads, no head heatmap)
    assert len(dom.images) == 4
    results = read_results(real_run)
    _check_leaderboard(page, results)
    _check_layer_tables(page, results)
    # the run record of the real run, as tables
    record = json.loads((real_run / "run.json").read_text())
    for library in ("brainalign", "torch", "transformers"):
        assert record["versions"][library] in dom.cells
    for digest in record["models"][str(tiny_bert_dir)]["weights_sha256"].values():
        assert digest in dom.cells
    (cells,) = _table(page, **{"class": "run-cells"})
    assert [(r["benchmark"], r["seconds"]) for r in cells["rows"]] == [
        (c["benchmark"], str(c["seconds"])) for c in record["cells"]
    ]
    assert "No run record" not in page["dom"]


@needs_chromium
def test_report_captions_match_the_numbers_in_chromium(neural_run, tmp_path):
    """What the reader sees: each caption names its statistic, each number follows it."""
    page, dom = _check_in_browser(build_report(neural_run), tmp_path)
    results = read_results(neural_run)
    _check_leaderboard(page, results)
    _check_layer_tables(page, results)
    (board,) = _table(page, id="leaderboard")
    assert [r["model"] for r in board["rows"]] == ["vit-tiny", EVIL, "gpt2"]
    assert board["rows"][0]["control"] == CONTROL  # the model's own, not the other model's
    assert board["rows"][1]["control_score"] != board["rows"][0]["control_score"]
    assert len(page["figure_captions"]) == 6
    for caption in page["figure_captions"]:
        assert "median" in caption
    for caption in page["figure_captions"]:
        if caption.split(":")[0].endswith("_models.png"):
            assert "leaderboard's median_score" in caption


@needs_chromium
def test_report_of_a_neural_run_renders_in_chromium(neural_run, tmp_path):
    report = build_report(neural_run)
    page, dom = _check_in_browser(report, tmp_path)
    assert len(dom.images) == 6  # 2 curves, 2 bars, 2 head heatmaps
    for name in (RSA, HEADS, EVIL, "vit-tiny", "gpt2"):
        assert name in dom.cells
    assert "<script>alert(1)</script>" in page["dom"].replace("&lt;", "<").replace("&gt;", ">")
    (invocations,) = _table(page, **{"class": "run-invocations"})
    assert invocations["rows"][0]["host"] == "node-7"


@needs_chromium
def test_the_browser_check_sees_errors_and_external_requests(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<html><body><img src="http://example.invalid/x.png">'
        '<script>console.error("boom"); missing();</script></body></html>'
    )
    page = render(bad.as_uri(), tmp_path / "profile")
    kinds = [problem.split(":")[0] for problem in page["problems"]]
    assert "console.error" in kinds and "exception" in kinds and "log error" in kinds
    assert "http://example.invalid/x.png" in page["requests"]
    assert page["images"] == [[True, 0]]  # a broken image is seen as such


# ------------------------------------------------------------------ build_report


def test_report_content_escaping_and_the_leaderboard_of_compare(neural_run):
    report = build_report(neural_run, neural_run / "custom.html")
    text = report.read_text(encoding="utf-8")
    assert "<script" not in text and "<b>evil" not in text
    assert "org/&lt;b&gt;evil&lt;/b&gt;&amp;model" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text  # the run record, escaped
    assert "http://" not in text and "https://" not in text  # nothing external
    assert not (neural_run / "report.html").exists()
    assert (report.stat().st_mode & 0o777) == 0o644
    assert LEADERBOARD_NOTE.replace("'", "&#x27;") in text

    dom = _parsed(text)
    board = leaderboard(read_results(neural_run))  # what brainalign compare prints
    start = dom.cells.index("benchmark")
    header = dom.cells[start : start + len(LEADERBOARD_COLUMNS)]
    assert header == list(LEADERBOARD_COLUMNS)
    cells = dom.cells[start + len(header) : start + len(header) * (len(board) + 1)]
    for index, record in enumerate(board.itertuples(index=False)):
        row = cells[index * len(header) : (index + 1) * len(header)]
        for column, cell in zip(LEADERBOARD_COLUMNS, row, strict=True):
            value = getattr(record, column)
            if isinstance(value, float):
                assert cell == _text(value), column
            else:
                assert cell == ("\u2013" if pd.isna(value) else str(value)), column


def test_the_run_record_is_rendered_as_tables(neural_run, tmp_path):
    text = build_report(neural_run).read_text(encoding="utf-8")
    dom = _parsed(text)
    assert "Run record (run.json)" in text and "No run record" not in text
    for library, version in RUN_RECORD["versions"].items():
        assert [library, version] == dom.cells[dom.cells.index(library) :][:2]
    for sha in SHA.values():
        assert sha in dom.cells
    for cell in RUN_RECORD["cells"]:
        assert str(cell["seconds"]) in dom.cells
    assert '{"note": "<script>alert(1)</script>"}' in dom.cells  # nested: JSON, escaped
    assert "true" in dom.cells  # JSON values as JSON (untrained_twin)
    (neural_run / "run.json").unlink()
    text = build_report(neural_run).read_text(encoding="utf-8")
    assert "No run record (run.json)" in text
    (neural_run / "run.json").write_text("{not json")
    assert "run.json is not readable as JSON" in build_report(neural_run).read_text()


def test_each_figure_is_shown_once(neural_run, tmp_path):
    """Benchmarks whose stems are prefixes of each other: each figure in one section."""
    results = read_results(neural_run)
    nested = results[results["benchmark"] == HEADS].assign(benchmark="toy-heads@1_b")
    folder = tmp_path / "nested"
    folder.mkdir()
    write_results_parquet(
        pd.concat([results, nested], ignore_index=True), folder / "results.parquet"
    )
    text = build_report(folder).read_text(encoding="utf-8")
    sources = _parsed(text).images
    assert len(sources) == len(list((folder / "figures").glob("*.png"))) == 10
    assert len(set(sources)) == len(sources)
    sections = text.split('<section class="benchmark"')[1:]
    assert [s.count("<img ") for s in sections] == [2, 4, 4]
    assert 'id="other-figures"' not in text


def test_figures_are_drawn_once_and_redrawn_when_stale(neural_run):
    build_report(neural_run)
    figures = sorted((neural_run / "figures").glob("*.png"))
    assert len(figures) == 6
    stamps = [p.stat().st_mtime_ns for p in figures]
    build_report(neural_run)
    assert [p.stat().st_mtime_ns for p in figures] == stamps  # reused
    results = neural_run / "results.parquet"
    later = results.stat().st_mtime + 100  # the results file rewritten after the figures
    os.utime(results, (later, later))
    build_report(neural_run)
    assert [p.stat().st_mtime_ns for p in figures] != stamps  # the results changed


def test_csv_results_and_other_figures(neural_run, tmp_path):
    folder = tmp_path / "csv"
    folder.mkdir()
    write_results_csv(pd.read_parquet(neural_run / "results.parquet"), folder / "results.csv")
    (folder / "meta.json").write_text(json.dumps({"note": "made by hand"}))
    build_report(neural_run)  # draws figures there
    extra = next((neural_run / "figures").glob("*models.png"))
    shutil.copy(extra, folder / "extra.png")  # a picture someone put in the folder
    text = build_report(folder).read_text(encoding="utf-8")
    assert 'id="other-figures"' in text and "extra.png" in text
    assert text.count("<img ") == 7
    assert "<h3>meta.json</h3>" in text and "made by hand" in text


def test_bad_folders_and_tables_are_clear_errors(tmp_path, neural_run):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_report(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match=r"no results.parquet or results.csv"):
        build_report(tmp_path)
    table = pd.read_parquet(neural_run / "results.parquet").drop(columns=["ceiling", "unit"])
    write_results_csv(table, tmp_path / "results.csv")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['unit', 'ceiling'\]"):
        build_report(tmp_path)
    write_results_csv(table.iloc[:0].assign(unit=[], ceiling=[]), tmp_path / "results.csv")
    with pytest.raises(ValueError, match="has no rows"):
        build_report(tmp_path)
    with pytest.raises(FileNotFoundError, match="create it first"):
        build_report(neural_run, tmp_path / "nowhere" / "r.html")
    assert not list(tmp_path.glob("*.html")) and not list(tmp_path.glob(".*.tmp"))


def test_a_failure_leaves_no_partial_report(neural_run, monkeypatch, capsys):
    build_report(neural_run)  # figures drawn
    (neural_run / "report.html").write_text("the earlier report")
    (neural_run / "broken.png").write_bytes(b"not a png")
    written = []
    original = report_html._image
    monkeypatch.setattr(report_html, "_image", lambda p: written.append(p) or original(p))
    with pytest.raises(ValueError, match="broken.png.*is not a PNG"):
        build_report(neural_run)
    assert len(written) == 7  # it failed late, after the benchmark sections
    assert (neural_run / "report.html").read_text() == "the earlier report"
    assert not list(neural_run.glob(".*.tmp"))
    (neural_run / "report.html").unlink()
    assert main(["report", str(neural_run)]) == 2
    assert "is not a PNG" in capsys.readouterr().err
    assert not (neural_run / "report.html").exists() and not list(neural_run.glob(".*.tmp"))
