"""``brainalign report``: the self-contained HTML report, checked in headless Chromium.

The browser is driven through the DevTools protocol over ``--remote-debugging-pipe``
(standard library only): it loads the report from disk, and the test reads back the
rendered DOM, whether every image decoded, a full-page screenshot, and every console
message, uncaught exception, log error and network request of the page.
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
from brainalign.report.figures import best_layer_table
from brainalign.report.html import REQUIRED_COLUMNS, build_report, leaderboard
from brainalign.results import write_results_csv, write_results_parquet
from tests.datasets.catalogue_helpers import TESTS_DATA, place_in_cache
from tests.report.pictures import PNG_SIGNATURE
from tests.report.test_figures import EVIL, HEADS, RSA, synthetic_results

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


def render(url: str, profile: Path) -> dict:
    """Load ``url``; the DOM, image states, a screenshot and the page's problems."""
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
    """A realistic neural run (RSA ceilings, sessions, heads) with run metadata."""
    out = tmp_path / "neural"
    out.mkdir()
    write_results_parquet(synthetic_results(), out / "results.parquet")
    metadata = {"command": "brainalign score vit-tiny", "note": "<script>alert(1)</script>"}
    (out / "run.json").write_text(json.dumps(metadata))
    return out


def _check_in_browser(report: Path, tmp_path: Path) -> tuple[dict, _Collector]:
    page = render(report.resolve().as_uri(), tmp_path / "profile")
    assert page["problems"] == []
    # nothing but the file itself and its own data: URIs is requested
    assert page["requests"][0] == report.resolve().as_uri()
    assert all(url.startswith("data:image/png;base64,") for url in page["requests"][1:])
    dom = _parsed(page["dom"])
    assert dom.images and len(page["images"]) == len(dom.images)
    assert all(complete and width > 0 for complete, width in page["images"])  # decoded
    for source in dom.images:
        assert source.startswith("data:image/png;base64,")
        png = base64.b64decode(source.removeprefix("data:image/png;base64,"), validate=True)
        assert png.startswith(PNG_SIGNATURE) and _pixels(png)[..., :3].var() > 1e-3
    screenshot = _pixels(page["screenshot"])
    assert screenshot.shape[0] > 1600 and screenshot.shape[1] > 1200  # the whole page
    colours = screenshot[..., :3]
    assert colours.var() > 1e-3 and (colours < 0.9).any(axis=-1).mean() > 0.01  # not blank
    return page, dom


# ------------------------------------------------------------------ browser tests


@needs_chromium
def test_report_of_a_real_run_renders_in_chromium(real_run, tiny_bert_dir, tmp_path, capsys):
    capsys.readouterr()
    assert main(["report", str(real_run)]) == 0
    report = real_run / "report.html"
    assert capsys.readouterr().out.strip() == f"wrote {report}"
    page, dom = _check_in_browser(report, tmp_path)
    assert dom.tables[0] == "leaderboard" and dom.tables.count("layers") == 2
    assert dom.scripts == 0
    model = str(tiny_bert_dir)
    for name in ("simlex999@1", "men3k@1", model, f"{model}@untrained"):
        assert name in dom.cells
    assert any("control:random-word-vectors" in cell for cell in dom.cells)
    # per benchmark: by-layer curves and model bars (no heads, no head heatmap)
    assert len(dom.images) == 4


@needs_chromium
def test_report_of_a_neural_run_renders_in_chromium(neural_run, tmp_path):
    report = build_report(neural_run)
    page, dom = _check_in_browser(report, tmp_path)
    assert len(dom.images) == 6  # 2 curves, 2 bars, 2 head heatmaps
    for name in (RSA, HEADS, EVIL, "vit-tiny", "gpt2"):
        assert name in dom.cells
    assert "<script>alert(1)</script>" in page["dom"].replace("&lt;", "<").replace("&gt;", ">")
    assert dom.scripts == 0


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


def test_report_content_escaping_and_leaderboard(neural_run):
    report = build_report(neural_run, neural_run / "custom.html")
    text = report.read_text(encoding="utf-8")
    assert "<script" not in text and "<b>evil" not in text
    assert "org/&lt;b&gt;evil&lt;/b&gt;&amp;model" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text  # the metadata, escaped
    assert "http://" not in text and "https://" not in text  # nothing external
    assert not (neural_run / "report.html").exists()
    assert (report.stat().st_mode & 0o777) == 0o644

    results = pd.read_parquet(neural_run / "results.parquet")
    board = leaderboard(results).set_index(["benchmark", "model"])
    assert list(board.index) == [(RSA, "vit-tiny"), (RSA, EVIL), (HEADS, "gpt2")]
    best = best_layer_table(results).set_index(["benchmark", "model"])
    for key in board.index:
        for column in ("best_layer", "score", "ceiling", "normalized_score"):
            assert board.loc[key, column] == best.loc[key, column]
    np.testing.assert_allclose(board.loc[(RSA, "vit-tiny"), "ceiling_lower"], 0.25)
    twin = best.loc[(RSA, "vit-tiny@untrained")]
    assert board.loc[(RSA, "vit-tiny"), "controls"] == (
        f"vit-tiny@untrained: {twin['score']:.3f} (layer {twin['best_layer']}); "
        f"control:random-image-features: {best.loc[(RSA, 'control:random-image-features'), 'score']:.3f}"  # noqa: E501
    )
    assert "vit-tiny@untrained" not in board.loc[(RSA, EVIL), "controls"]


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
    shutil.copy(next((neural_run.parent / "neural").glob("*.json")), folder / "meta.json")
    build_report(neural_run)  # draws figures there
    extra = next((neural_run / "figures").glob("*models.png"))
    shutil.copy(extra, folder / "score_by_layer.png")  # as plain brainalign score writes
    text = build_report(folder).read_text(encoding="utf-8")
    assert 'id="other-figures"' in text and "score_by_layer.png" in text
    assert text.count("<img ") == 7
    assert "<h3>meta.json</h3>" in text


def test_bad_folders_and_tables_are_clear_errors(tmp_path, neural_run):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_report(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match=r"no results.parquet or results.csv"):
        build_report(tmp_path)
    table = pd.read_parquet(neural_run / "results.parquet").drop(columns=["ceiling", "roi"])
    write_results_csv(table, tmp_path / "results.csv")
    with pytest.raises(ValueError, match=r"lacks required column\(s\) \['roi', 'ceiling'\]"):
        build_report(tmp_path)
    write_results_csv(table.iloc[:0].assign(roi=[], ceiling=[]), tmp_path / "results.csv")
    with pytest.raises(ValueError, match="has no rows"):
        build_report(tmp_path)
    assert set(REQUIRED_COLUMNS) == {
        "model", "dataset", "layer", "subject", "roi", "metric", "score", "ceiling",
    }  # fmt: skip
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
