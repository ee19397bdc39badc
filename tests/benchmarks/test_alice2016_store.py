"""alice2016-encoding reads features from the store on a second run."""

import pandas as pd

from brainalign.benchmarks.registry import get
from brainalign.encoders import text
from brainalign.encoders.store import FeatureStore


def test_second_run_reads_the_store_and_gives_the_same_scores(tiny_bert_dir, tmp_path, monkeypatch):
    calls = []
    original = text.TextEncoder._forward

    def counting_forward(self, batch, **kwargs):
        calls.append(len(batch))
        return original(self, batch, **kwargs)

    monkeypatch.setattr(text.TextEncoder, "_forward", counting_forward)

    def no_put(*args, **kwargs):
        raise AssertionError("scoring must stream its features into the store, not put() them")

    monkeypatch.setattr(FeatureStore, "put", no_put)
    settings = {
        "layers": [0, 2],
        "context_words": 4,
        "store": tmp_path / "store",
        "options": {"subjects": ["s18", "s22"]},
    }
    benchmark = get("alice2016-encoding")
    first = benchmark.run(str(tiny_bert_dir), **settings)
    assert calls, "the first run extracts"
    calls.clear()
    second = benchmark.run(str(tiny_bert_dir), **settings)
    assert calls == []  # zero forward passes: pretrained and untrained features both reused
    pd.testing.assert_frame_equal(first, second)
    assert len(list((tmp_path / "store").iterdir())) >= 2
