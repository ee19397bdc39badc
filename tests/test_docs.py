"""The documentation site builds with ``mkdocs build --strict`` and its tutorials execute.

The build runs every ``exec="on"`` block of the tutorials (markdown-exec) on the bundled
data and the fixtures of tests/data; a block that raises, a broken link or anchor, a page
missing from the nav or a docstring griffe cannot parse fails the build. The checks below
make sure the built tutorials hold the *executed* output (numeric tables and embedded
PNGs), so a tutorial that silently stopped executing fails too, and that every public
function and class of every public module is in the API reference.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

for _module in (
    "mkdocs",
    "material",
    "mkdocstrings",
    "mkdocstrings_handlers.python",
    "markdown_exec",
):
    pytest.importorskip(_module, reason="the docs tools are not installed (pip install .[docs])")

pytestmark = pytest.mark.slow

TUTORIALS = ("benchmarks", "encoding_study", "model_comparison", "comparing_models", "meeg_time")
PNG = re.compile(r'<img alt="[^"]+" src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}"')
NUMBER_CELL = re.compile(r"<td>-?\d+\.\d{3}</td>")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site built with --strict into a temporary folder."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_MKDOCS_2_WARNING": "1", "MPLBACKEND": "Agg"}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stderr[-6000:]}"
    return out


def _page(site: Path, path: str) -> str:
    return (site / path / "index.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", TUTORIALS)
def test_tutorials_hold_their_executed_tables_and_figures(site, name):
    html = _page(site, f"tutorials/{name}")
    assert "Traceback" not in html
    assert "executed-table" in html and len(NUMBER_CELL.findall(html)) >= 5, name
    assert PNG.search(html), f"{name}: no embedded PNG written by the page's code"


def test_model_comparison_tutorial_shows_cards_analyses_units_heads_and_people(site):
    html = _page(site, "tutorials/comparing_models")
    for expected in ("<th>n_parameters</th>", "<th>relative_depth</th>", "<th>pearson_r</th>",
                     "<th>spearman_p</th>", "<td>reseeded</td>", "<td>random-units</td>",
                     "<th>n_model_units</th>", "<th>induction_score</th>", "<td>head</td>",
                     "<th>chance</th>", "<th>human_percentile</th>",
                     "score against relative depth"):  # fmt: skip
        assert expected in html, expected


def test_meeg_tutorial_recovers_the_planted_responses(site):
    html = _page(site, "tutorials/meeg_time")
    for expected in ("<th>held-out r</th>", "TRF kernels per sensor group", "<th>p</th>",
                     "time-resolved decoding with the significant clusters"):  # fmt: skip
        assert expected in html, expected


def test_benchmark_tutorial_shows_layers_heads_controls_and_the_report(site):
    html = _page(site, "tutorials/benchmarks")
    # the twin and the controls are told apart by columns, not by labels in the model name
    for expected in ("<td>untrained</td>", "<td>random-word-vectors</td>", "<th>control_of</th>",
                     "control: word-rate+sound-power", "control: position", "noise ceiling",
                     "<th>below_floor</th>", "simlex999@1", "report.html"):  # fmt: skip
        assert expected in html, expected
    for gone in ("@untrained", "control:random", "nuisance:", "<th>roi</th>"):
        assert gone not in html, gone
    assert len(PNG.findall(html)) == 3
    assert "<th>head</th>" in html
    assert "alice2016-encoding@2" in html and "layers, heads" in html  # the CLI's list


def test_results_page_renders_the_schema_flags_and_summaries_from_the_code(site):
    from brainalign.alignment.ceiling import CEILING_FLAGS
    from brainalign.results import COLUMN_DOCS, LEADERBOARD_COLUMNS, SUMMARY_NOTE

    html = _page(site, "concepts/results")
    for name in (*COLUMN_DOCS, *CEILING_FLAGS, *LEADERBOARD_COLUMNS):
        assert f"<code>{name}</code>" in html, name
    assert SUMMARY_NOTE.split(";")[0] in html
    assert "0 cells computed, 2 reused" in html and "RunFolderError" in html
    assert "executed-table" in html and len(NUMBER_CELL.findall(html)) >= 5


def test_scaling_page_runs_a_sweep_and_dataset_pages_render_the_catalogue(site):
    from brainalign.datasets.catalogue import available, info

    scaling = _page(site, "scaling")
    assert "finished cells" in scaling and "rerun: " in scaling and "2 reused" in scaling
    assert all(f"<th>{column}</th>" in scaling for column in ("untrained_score", "control_score"))
    for name in available():
        html = _page(site, f"datasets/{name}")
        assert "Licence" in html and "Citation" in html, name
        assert info(name).licence.split()[0] in html, name


def _public_names(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and not node.name.startswith("_")
    ]


def test_every_public_function_and_class_is_in_the_api_reference(site):
    missing = []
    modules = sorted(p for p in (ROOT / "brainalign").rglob("*.py") if p.name != "__init__.py")
    for path in modules:
        parts = path.relative_to(ROOT).with_suffix("").parts
        if any(part.startswith("_") for part in parts):
            continue
        module = ".".join(parts)
        page = site / "api" / module.removeprefix("brainalign.") / "index.html"
        if not page.is_file():
            missing.append(f"{module} (no page)")
            continue
        html = page.read_text(encoding="utf-8")
        missing += [
            f"{module}.{name}"
            for name in _public_names(path)
            if f'id="{module}.{name}"' not in html
        ]
    assert not missing, f"not in the API reference: {missing}"


def test_media_tutorial_shows_frames_clips_and_instructions(site):
    page = _page(site, "tutorials/media")
    assert "&lt;Features tiny-wav2vec2 (pretrained): 3 layers x 32 dims" in page
    assert "clip centres (s): [ 0.  2.  4.  6.  8. 10.]" in page
    assert "1 audio file, 549 frames from" in page and "1 video, 6 clips from" in page
    assert len(NUMBER_CELL.findall(page)) >= 4
    assert "mean |change| of layer 2 vs no instruction" in page
