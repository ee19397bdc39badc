"""Feature store: round trips, crashes, provenance, and zero recomputation on re-runs."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from brainalign.encoders.features import Features
from brainalign.encoders.store import (
    ENTRY_COLUMNS,
    EntryExistsError,
    FeatureStore,
    FeatureStoreError,
    IncompleteEntryError,
    ProvenanceMismatchError,
    feature_key,
    key_sha256,
    stimulus_hash,
    text_encoder_key,
)

REPO = Path(__file__).resolve().parents[2]


def _key(**changes) -> dict:
    fields = {
        "model": "org/tiny-model",
        "weights": {"kind": "untrained", "seed": 0},
        "tokenizer": {"class": "T", "vocab_size": 10},
        "layers": ["0", "1", "1.heads"],
        "pooling": "last",
        "context": {"mode": "causal-window", "max_length": 64, "stride": 32},
        "dtype": "float32",
        "stimuli": stimulus_hash(["a", "b", "c", "d", "e"]),
    }
    fields.update(changes)
    return feature_key(**fields)


def _features(n_items: int = 5) -> Features:
    rng = np.random.default_rng(0)
    return Features(
        layers={
            "0": rng.normal(size=(n_items, 3)).astype(np.float32),
            "1": rng.normal(size=(n_items, 4)),  # float64
            "1.heads": rng.normal(size=(n_items, 2, 3)).astype(np.float16),
        },
        stimulus_ids=np.array([f"w{i}" for i in range(n_items)]),
        onsets=np.arange(n_items) * 0.25,
        provenance={"model": "org/tiny-model", "n": np.int64(n_items)},
    )


class Counter:
    def __init__(self, make):
        self.calls = 0
        self.make = make

    def __call__(self):
        self.calls += 1
        return self.make()


# --------------------------------------------------------------------------- round trip


def test_round_trip_memory_mapped_dtypes_and_layout(tmp_path):
    store = FeatureStore(tmp_path / "store")
    key, original = _key(), _features()
    assert not store.has(key)
    path = store.put(key, original)
    assert path == store.key_path(key)
    assert path.parent == tmp_path / "store"
    assert path.name == f"org-tiny-model-{key_sha256(key)[:16]}"
    assert json.loads((path / "key.json").read_text()) == key
    assert store.has(key) and store.verify(key)

    loaded = store.load(key)
    assert loaded.layer_names == ["0", "1", "1.heads"]
    for name in loaded.layer_names:
        assert isinstance(loaded[name], np.memmap)
        assert loaded[name].dtype == original[name].dtype
        np.testing.assert_array_equal(loaded[name], original[name])
    assert loaded["1.heads"].shape == (5, 2, 3)
    assert loaded.stimulus_ids.tolist() == original.stimulus_ids.tolist()
    np.testing.assert_array_equal(loaded.onsets, original.onsets)
    assert loaded.provenance == {"model": "org/tiny-model", "n": 5}
    assert not isinstance(store.load(key, mmap=False)["0"], np.memmap)

    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["key"] == key and manifest["format_version"] == 1
    assert [a["dtype"] for a in manifest["arrays"]] == ["<f4", "<f8", "<f2"]
    assert all(len(f["sha256"]) == 64 for f in manifest["files"].values())
    assert not [p for p in (tmp_path / "store").iterdir() if ".tmp-" in p.name]

    [entry] = store.entries().to_dict("records")
    assert entry["complete"] and entry["model"] == "org/tiny-model" and entry["n_items"] == 5
    assert entry["arrays"] == ["0", "1", "1.heads"] and entry["bytes"] > 0
    with pytest.raises(EntryExistsError, match="already complete"):
        store.put(key, original)
    assert store.remove(key) and not store.has(key) and not store.remove(key)


def test_writer_streams_chunks_and_refuses_bad_input(tmp_path):
    store = FeatureStore(tmp_path)
    key = _key()
    with store.writer(key, 6, {"a": ((2,), "int32")}, stimulus_ids=[5, 4, 3, 2, 1, 0]) as w:
        w.write("a", slice(0, 4), np.arange(8).reshape(4, 2))
        w.write("a", 4, [8, 9])
        w.write("a", np.array([5]), [[10, 11]])
        with pytest.raises(ValueError, match="expected \\(2, 2\\)"):
            w.write("a", slice(0, 2), np.zeros((3, 2), dtype=np.int32))
        with pytest.raises(ValueError, match="cannot store float64"):
            w.write("a", 0, np.zeros(2))
        with pytest.raises(KeyError, match="arrays are \\['a'\\]"):
            w.write("b", 0, [1, 2])
    loaded = store.load(key)
    np.testing.assert_array_equal(loaded["a"], np.arange(12).reshape(6, 2))
    assert loaded["a"].dtype == np.int32 and loaded.stimulus_ids.tolist() == [5, 4, 3, 2, 1, 0]
    assert loaded.onsets is None

    other = _key(pooling="mean")
    with pytest.raises(ValueError, match="1 of 3 rows were never written"):
        with store.writer(other, 3, {"a": ((1,), "float32")}) as w:
            w.write("a", slice(0, 2), np.ones((2, 1)))
    assert not store.has(other) and not store.key_path(other).exists()
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    with pytest.raises(RuntimeError, match="boom"):  # an error inside the block: nothing kept
        with store.writer(other, 1, {"a": ((1,), "float32")}) as w:
            w.write("a", 0, [1.0])
            raise RuntimeError("boom")
    assert not store.has(other) and not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    for spec, match in [(((), "f4"), "at least one axis"), (((2,), object), "not numeric")]:
        with pytest.raises(ValueError, match=match):
            store.writer(other, 3, {"a": spec})
    with pytest.raises(ValueError, match="expected \\(3,\\)"):
        store.writer(other, 3, {"a": ((1,), "f4")}, onsets=[0.0, 1.0])


# --------------------------------------------------------------------------- crashes

KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from brainalign.encoders.store import FeatureStore
    key = {"model": "org/killed", "stimuli": "x"}
    writer = FeatureStore(sys.argv[1]).writer(key, 1000, {"0": ((64,), "float32")})
    writer.__enter__()
    for start in range(0, 500, 100):
        writer.write("0", slice(start, start + 100), np.ones((100, 64), dtype=np.float32))
    print("ready", flush=True)
    time.sleep(60)
    """
)


def test_killed_writer_is_never_served_and_is_cleaned(tmp_path):
    store = FeatureStore(tmp_path)
    key = {"model": "org/killed", "stimuli": "x"}
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(tmp_path)],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        ready, _, _ = select.select([process.stdout], [], [], 60)
        assert ready, "the writer did not start within 60 s"
        assert process.stdout.readline().strip() == "ready"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    [temp] = [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    assert temp.name.startswith(f".{store.key_path(key).name}.tmp-{process.pid}-")

    assert not store.has(key)
    with pytest.raises(IncompleteEntryError, match="no entry directory"):
        store.load(key)
    assert store.entries().empty

    def compute():
        return Features(
            layers={"0": np.full((1000, 64), 2, np.float32)}, stimulus_ids=np.arange(1000)
        )

    counter = Counter(compute)
    features = store.get_or_compute(key, counter)
    assert counter.calls == 1 and store.has(key)
    assert float(features["0"].sum()) == 2 * 1000 * 64
    assert not temp.exists()  # the dead writer's directory was cleaned on the next write


def test_damaged_entries_are_incomplete_and_rewritten(tmp_path):
    store = FeatureStore(tmp_path)
    key = _key()
    counter = Counter(_features)
    store.get_or_compute(key, counter)
    path = store.key_path(key)

    with open(path / "array-001.npy", "r+b") as handle:  # truncate an array
        handle.truncate(path.joinpath("array-001.npy").stat().st_size - 8)
    assert not store.has(key)
    with pytest.raises(IncompleteEntryError, match="array-001.npy has .* bytes.*truncated"):
        store.load(key)
    [entry] = store.entries().to_dict("records")
    assert not entry["complete"] and "truncated" in entry["reason"]
    loaded = store.get_or_compute(key, counter)  # the damaged entry is replaced
    assert counter.calls == 2 and store.verify(key)
    np.testing.assert_array_equal(loaded["1"], _features()["1"])

    (path / "manifest.json").unlink()
    assert not store.has(key)
    with pytest.raises(IncompleteEntryError, match="manifest.json is missing"):
        store.load(key)
    store.get_or_compute(key, counter)
    assert counter.calls == 3 and store.has(key)

    manifest = json.loads((path / "manifest.json").read_text())
    (path / "manifest.json").write_text(json.dumps({**manifest, "format_version": 99}))
    assert not store.has(key)

    (path / "manifest.json").write_text(json.dumps(manifest))
    with open(path / "array-000.npy", "r+b") as handle:  # same size, different bytes
        handle.seek(-4, os.SEEK_END)
        handle.write(b"\x00\x00\xc0\x7f")
    assert store.has(key) and not store.verify(key)


def test_stale_temp_dirs_are_cleaned_and_live_ones_kept(tmp_path):
    store = FeatureStore(tmp_path)
    key = _key()
    name = store.key_path(key).name
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    dead_pid = int(dead.stdout)
    from brainalign.encoders.store.files import _host

    stale = tmp_path / f".{name}.tmp-{dead_pid}-deadbeef-{_host()}"
    live = tmp_path / f".{name}.tmp-{os.getpid()}-cafebabe-{_host()}"
    foreign = tmp_path / f".{name}.tmp-1-abcd0123-another_host"
    trash = tmp_path / f".{name}.trash-0000"
    other_key = tmp_path / f".other-0123.tmp-{dead_pid}-deadbeef-{_host()}"
    for directory in (stale, live, foreign, trash, other_key):
        directory.mkdir()
        (directory / "array-000.npy").write_bytes(b"partial")
    store.put(key, _features())
    assert not stale.exists() and not trash.exists()
    assert live.exists() and foreign.exists() and other_key.exists()
    os.utime(foreign, (0, 0))  # another host's, a day old: abandoned
    assert store.remove(key)
    assert not foreign.exists() and live.exists()


# --------------------------------------------------------------------------- conflicts


def test_provenance_mismatch_under_same_path_is_an_error(tmp_path):
    store = FeatureStore(tmp_path)
    key = _key()
    store.put(key, _features())
    path = store.key_path(key)
    stored = json.loads((path / "key.json").read_text())
    stored["pooling"] = "mean"  # tampering, or a hash collision
    (path / "key.json").write_text(json.dumps(stored))
    counter = Counter(_features)
    for action in (
        lambda: store.has(key),
        lambda: store.load(key),
        lambda: store.get_or_compute(key, counter),
        lambda: store.put(key, _features()),
        lambda: store.remove(key),
    ):
        with pytest.raises(ProvenanceMismatchError, match="different provenance under the same"):
            action()
    assert counter.calls == 0 and path.exists()


def test_concurrent_writers_of_one_key_first_complete_wins(tmp_path):
    store = FeatureStore(tmp_path)
    key = _key()
    spec = {"a": ((2,), "float32")}
    first = store.writer(key, 2, spec)
    second = store.writer(key, 2, spec)
    with first:
        first.write("a", slice(None), np.ones((2, 2)))
        with second:
            second.write("a", slice(None), np.full((2, 2), 7.0))
        assert store.has(key)  # the second finished first
    np.testing.assert_array_equal(store.load(key)["a"], np.full((2, 2), 7.0))
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == [
        store.key_path(key).name
    ]

    # get_or_compute losing the race keeps the winner's entry and returns it
    other = _key(dtype="float16")

    def compute():
        store.put(other, _features())  # another process finishes meanwhile
        return _features()

    assert store.get_or_compute(other, compute).n_items == 5


def test_bad_roots_are_clear_errors(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(FeatureStoreError, match="is not a directory"):
        FeatureStore(a_file)
    with pytest.raises(FeatureStoreError, match="cannot write to feature store root"):
        FeatureStore(a_file / "store").put(_key(), _features())
    missing = FeatureStore(tmp_path / "missing")
    assert not missing.has(_key()) and missing.entries().empty
    if os.geteuid() != 0:  # root ignores permissions
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(FeatureStoreError, match="cannot write"):
            FeatureStore(locked).put(_key(), _features())


# --------------------------------------------------------------------------- names, table


def test_entries_is_a_table_and_its_names_open_the_entries(tmp_path):
    store = FeatureStore(tmp_path / "store")
    assert list(store.entries().columns) == list(ENTRY_COLUMNS) and store.entries().empty
    pretrained = _key(weights={"kind": "pretrained", "sha256": "ab" * 32})
    store.put(_key(), _features(5))
    store.put(pretrained, _features(7))
    damaged = _key(dtype="float16")
    store.put(damaged, _features(3))
    (store.key_path(damaged) / "manifest.json").unlink()

    table = store.entries()
    assert isinstance(table, pd.DataFrame) and list(table.columns) == list(ENTRY_COLUMNS)
    assert table["name"].tolist() == sorted(table["name"])
    rows = {row["weights"]: row for row in table.to_dict("records") if row["complete"]}
    assert table["complete"].tolist().count(False) == 1
    untrained = rows["untrained"]
    assert untrained["name"] == store.key_path(_key()).name
    assert untrained["model"] == "org/tiny-model" and untrained["n_items"] == 5
    assert untrained["layers"] == ["0", "1"] and untrained["n_layers"] == 2  # not "1.heads"
    assert untrained["arrays"] == ["0", "1", "1.heads"]
    assert untrained["pooling"] == "last" and untrained["context"] == "causal-window"
    assert untrained["dtype"] == "float32" and untrained["reason"] == ""
    files = [p for p in store.key_path(_key()).iterdir() if p.name != "manifest.json"]
    assert untrained["bytes"] == sum(p.stat().st_size for p in files)
    manifest = json.loads((store.key_path(_key()) / "manifest.json").read_text())
    assert untrained["created"] == pd.Timestamp(manifest["created"])
    assert str(table["created"].dt.tz) == "UTC" and str(table["n_items"].dtype) == "Int64"
    assert rows["pretrained"]["n_items"] == 7
    broken = table[~table["complete"]].iloc[0]
    assert "manifest.json is missing" in broken["reason"] and broken["bytes"] == 0
    assert broken["layers"] == ["0", "1", "1.heads"]  # from its key
    assert pd.isna(broken["created"])

    # a name (or the entry's path) opens what the key opens
    for entry in (untrained["name"], store.root / untrained["name"], _key()):
        loaded = store.load(entry)
        np.testing.assert_array_equal(loaded["1"], _features(5)["1"])
        assert store.has(entry) and store.verify(entry)
        assert store.try_load(entry).n_items == 5
    with pytest.raises(IncompleteEntryError, match=r"manifest.json is missing"):
        store.load(broken["name"])
    assert not store.has(broken["name"]) and store.try_load(broken["name"]) is None

    with pytest.raises(IncompleteEntryError, match=r"no entry named 'nope' in .*its entries: "):
        store.load("nope")
    assert not store.has("nope") and store.try_load("nope") is None and not store.verify("nope")
    with pytest.raises(FeatureStoreError, match=r"is not in the feature store .*FeatureStore\("):
        store.load(tmp_path / "elsewhere" / untrained["name"])
    with pytest.raises(IncompleteEntryError, match="is not an entry name"):
        store.load("..")

    # a renamed directory is never served under its new name
    renamed = store.root / "org-tiny-model-0000000000000000"
    shutil.copytree(store.key_path(pretrained), renamed)
    with pytest.raises(IncompleteEntryError, match=r"hashes to .*not to this name"):
        store.load(renamed.name)
    assert "does not hash" in store.entries().set_index("name").loc[renamed.name, "reason"]

    # remove by name, even an entry whose key.json is damaged
    (renamed / "key.json").write_text("{")
    with pytest.raises(IncompleteEntryError, match="no readable key.json"):
        store.load(renamed.name)
    assert store.remove(renamed.name) and not renamed.exists()
    assert store.remove(untrained["name"]) and not store.has(_key())
    assert not store.remove(untrained["name"])
    assert len(store.entries()) == 2


def test_features_repr_is_one_short_line_without_values(tmp_path):
    store = FeatureStore(tmp_path)
    features = _features(5)
    store.put(_key(), features)
    loaded = store.load(_key())
    text = repr(loaded)
    assert text == (
        "<Features org/tiny-model: 2 layers x 3-4 dims, 5 items, float16/float32/float64, "
        "with onsets; heads: 1 layer x (2, 3)>"
    )
    assert "memmap" not in text and "\n" not in text


# --------------------------------------------------------------------------- keys


def test_keys_are_canonical_and_checked():
    key = _key()
    reordered = dict(reversed(list(key.items())))
    assert key_sha256(reordered) == key_sha256(key)
    assert key_sha256({**key, "layers": tuple(key["layers"])}) == key_sha256(key)
    assert key_sha256(_key(pooling="mean")) != key_sha256(key)
    with pytest.raises(ValueError, match="does not identify the weights"):
        _key(weights={"kind": "pretrained"})
    with pytest.raises(ValueError, match="stimulus_hash"):
        _key(stimuli="abc")
    with pytest.raises(TypeError, match="no canonical JSON form"):
        key_sha256({"model": "m", "x": object()})
    with pytest.raises(ValueError, match="finite"):
        key_sha256({"model": "m", "x": float("nan")})
    with pytest.raises(ValueError, match="model"):
        key_sha256({"stimuli": "x"})


def test_stimulus_hash_is_canonical_and_sensitive(alice_words):
    words = alice_words[:50]
    onsets = np.arange(50) * 0.3
    base = stimulus_hash(words)
    assert len(base) == 64
    assert stimulus_hash(list(words)) == base == stimulus_hash(np.array(words))
    assert stimulus_hash({"stimulus_id": range(50), "text": words}) == base
    table = pd.DataFrame({"stimulus_id": range(50), "text": words, "onset": onsets})
    timed = stimulus_hash(table)
    assert timed != base
    assert stimulus_hash(table[["onset", "text", "stimulus_id"]]) == timed  # column order
    assert stimulus_hash({"onset": onsets, "text": words}) == timed  # dict key order
    assert stimulus_hash(table.assign(extra=1)) == timed  # unhashed column
    assert stimulus_hash(table.assign(table="x")) == timed  # a column named like Stimuli.table
    from brainalign.stimuli import Stimuli

    stimuli = Stimuli(table.assign(group="alice-ch1"))
    assert stimulus_hash(stimuli) == stimulus_hash(stimuli.table) != timed  # group is hashed
    # stable across processes (no salted hash(), no memory addresses)
    code = (
        "import sys, json; from brainalign.encoders.store import stimulus_hash; "
        "print(stimulus_hash(json.loads(sys.argv[1])))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    other = subprocess.run(
        [sys.executable, "-c", code, json.dumps({"text": words, "onset": onsets.tolist()})],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert other.stdout.strip() == timed

    changed_word = [*words[:10], words[10] + "x", *words[11:]]
    shifted = onsets.copy()
    shifted[20] += 1e-9
    variants = [
        stimulus_hash(changed_word),
        stimulus_hash(words[:-1]),
        stimulus_hash(words[::-1]),
        stimulus_hash(table.assign(onset=shifted)),
        stimulus_hash(table.assign(stimulus_id=[f"w{i}" for i in range(50)])),
        stimulus_hash(table.assign(space_before=[True] * 49 + [False])),
    ]
    assert len({base, timed, *variants}) == 2 + len(variants)
    with pytest.raises(TypeError, match="single string"):
        stimulus_hash("Alice was")
    with pytest.raises(ValueError, match="differ in length"):
        stimulus_hash({"text": words, "onset": onsets[:3]})


# --------------------------------------------------------------------------- real encoder


@pytest.fixture(scope="module")
def gpt2_encoder(tiny_gpt2_dir):
    from brainalign.encoders.text import TextEncoder

    return TextEncoder(tiny_gpt2_dir, progress=False)


def test_rerun_does_zero_forward_passes(tmp_path, tiny_gpt2_dir, gpt2_encoder, alice_words):
    from brainalign.encoders.text import TextEncoder

    store = FeatureStore(tmp_path)
    words = alice_words[:60]
    passes = []
    hook = gpt2_encoder.model.register_forward_hook(lambda *_: passes.append(1))
    try:

        def run(encoder, words, **kwargs):
            key = text_encoder_key(encoder, words, **kwargs)
            return store.get_or_compute(key, lambda: encoder.encode_words(words, **kwargs))

        first = run(gpt2_encoder, words)
        assert len(passes) > 0
        passes.clear()
        second = run(gpt2_encoder, words)
        assert passes == []  # zero forward passes on the re-run
        assert second.layer_names == first.layer_names == ["0", "1", "2"]
        for name in first.layer_names:
            assert isinstance(second[name], np.memmap)
            np.testing.assert_array_equal(second[name], first[name])
        direct = gpt2_encoder.encode_words(words)
        np.testing.assert_array_equal(second["2"], direct["2"])
        assert second.provenance["model"] == gpt2_encoder.model_id
        passes.clear()

        run(gpt2_encoder, alice_words[1:61])  # different words
        run(gpt2_encoder, words, onsets=np.arange(60.0))  # different onsets
        run(gpt2_encoder, words, layers=[2])  # different layers
        assert len(passes) >= 3
    finally:
        hook.remove()

    for changed in (
        TextEncoder(tiny_gpt2_dir, pooling="mean", progress=False),
        TextEncoder(tiny_gpt2_dir, dtype="bfloat16", progress=False),
        TextEncoder(tiny_gpt2_dir, weights="untrained", seed=3, progress=False),
    ):
        key = text_encoder_key(changed, words)
        assert not store.has(key)
        counter = Counter(lambda changed=changed: changed.encode_words(words))
        store.get_or_compute(key, counter)
        assert counter.calls == 1
    entries = store.entries()
    assert entries["path"].nunique() == 7 and entries["complete"].all()
