"""The alice2016 study reads features from the store on a second run."""

import pandas as pd

from brainalign.benchmarks.alice2016 import run_alice2016
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
    options = {"layers": [0, 2], "subjects": ["s18", "s22"], "context_words": 4, "progress": False}
    first = run_alice2016(str(tiny_bert_dir), feature_store=tmp_path / "store", **options)
    assert calls, "the first run extracts"
    calls.clear()
    second = run_alice2016(str(tiny_bert_dir), feature_store=tmp_path / "store", **options)
    assert calls == []  # zero forward passes: pretrained and untrained features both reused
    pd.testing.assert_frame_equal(first, second)
    assert len(list((tmp_path / "store").iterdir())) >= 2
