"""``brainalign extract``: dataset words, word tables and images into the feature store.

Models are tiny random-weight configs (the session's BERT and GPT-2, a ViT built here
with its image processor); the words are alice2016's and the images are six real
photographs (tests/data/images).
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from brainalign.cli import main
from brainalign.encoders.store import FeatureStore

IMAGES = Path(__file__).resolve().parent / "data" / "images"
N_ALICE_WORDS = 2127


def _only_entry(root: Path) -> dict:
    entries = FeatureStore(root).entries().to_dict("records")
    assert len(entries) == 1 and entries[0]["complete"], entries
    return entries[0]


def _count_forward(monkeypatch, encoder_class) -> list[int]:
    """Count forward passes of an encoder class (wrapping its ``_forward``)."""
    calls: list[int] = []
    original = encoder_class._forward

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(encoder_class, "_forward", counting)
    return calls


@pytest.fixture()
def image_table(tmp_path) -> Path:
    """A CSV of the six images (paths relative to the CSV) with ids, in a copied folder."""
    folder = tmp_path / "stim"
    shutil.copytree(IMAGES, folder / "images")
    names = sorted(p.name for p in (folder / "images").glob("*.jpg"))
    lines = ["stimulus_id,image"] + [f"img{i},images/{name}" for i, name in enumerate(names)]
    (folder / "images.csv").write_text("\n".join(lines) + "\n")
    return folder / "images.csv"


# --------------------------------------------------------------------------- words


def test_dataset_words_are_stored_then_reused(tiny_bert_dir, tmp_path, capsys, monkeypatch):
    from brainalign.datasets.alice2016 import load_words
    from brainalign.encoders.store import text_encoder_key
    from brainalign.encoders.text import TextEncoder

    forward = _count_forward(monkeypatch, TextEncoder)
    out = tmp_path / "store"
    args = ["extract", "--model", str(tiny_bert_dir), "--dataset", "alice2016"]
    args += ["--layers", "0,2", "--context-words", "4", "--out", str(out), "--quiet"]

    assert main(args) == 0
    printed = capsys.readouterr().out
    entry = _only_entry(out)
    assert "computed and stored" in printed and f"entry: {entry['name']}\n" in printed
    assert "layers: 0, 2" in printed and "(2127, 32)" in printed
    assert entry["n_items"] == N_ALICE_WORDS and entry["arrays"] == ["0", "2"]
    assert forward, "the first run must run the model"
    features = FeatureStore(out).load(entry["key"])
    words = load_words().table
    assert features.layers["2"].shape == (N_ALICE_WORDS, 32)
    assert np.isfinite(np.asarray(features.layers["2"])).all()
    np.testing.assert_array_equal(features.stimulus_ids, words["stimulus_id"].to_numpy())
    np.testing.assert_allclose(features.onsets, words["onset"].to_numpy())
    assert entry["key"]["context"]["context_words"] == 4

    # the same key as the encoder's own for these words, so benchmarks reading the store
    # with the same settings find this entry
    encoder = TextEncoder(tiny_bert_dir, context_words=4, progress=False)
    key = text_encoder_key(
        encoder,
        words["text"].tolist(),
        layers=[0, 2],
        stimulus_ids=words["stimulus_id"].to_numpy(),
        onsets=words["onset"].to_numpy(),
        space_before=words["space_before"].to_numpy(),
    )
    assert key == entry["key"]

    manifest = Path(entry["path"]) / "manifest.json"
    written = manifest.stat().st_mtime_ns
    forward.clear()
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "reused existing entry (no forward pass)" in printed
    assert forward == [], "a re-run must not run the model"
    assert manifest.stat().st_mtime_ns == written
    assert _only_entry(out)["path"] == entry["path"]


def test_heads_and_blocks_add_arrays_in_their_own_entry(tiny_bert_dir, tmp_path, capsys):
    out = tmp_path / "store"
    args = ["extract", "--model", str(tiny_bert_dir), "--dataset", "alice2016", "--layers", "1"]
    args += ["--context-words", "3", "--out", str(out), "--quiet"]
    assert main(args) == 0
    assert main([*args, "--heads", "--blocks"]) == 0
    printed = capsys.readouterr().out
    lines = [line.split() for line in printed.splitlines()]
    assert ["1.heads", "(2127,", "2,", "16)", "float32"] in lines
    entries = {len(e["arrays"]): e for e in FeatureStore(out).entries().to_dict("records")}
    assert sorted(entries) == [1, 4]  # a separate entry, never served for the plain key
    captured = entries[4]
    assert captured["arrays"] == ["1", "1.attention", "1.mlp", "1.heads"]
    features = FeatureStore(out).load(captured["key"])
    assert features.layers["1.heads"].shape == (N_ALICE_WORDS, 2, 16)
    assert features.layers["1.mlp"].shape == (N_ALICE_WORDS, 32)
    plain = FeatureStore(out).load(entries[1]["key"])
    np.testing.assert_allclose(plain.layers["1"], features.layers["1"], atol=1e-6)


def test_word_table_matches_the_encoder(tiny_gpt2_dir, alice_words, tmp_path, capsys):
    from brainalign.encoders.text import TextEncoder

    words = [*alice_words[:60], "NA", "I", "'ll", "null"]
    space_before = [True] * len(words)
    space_before[words.index("'ll")] = False
    onsets = np.arange(len(words)) * 0.3
    lines = ["text\tonset\tspace_before"] + [
        f"{w}\t{t}\t{'true' if s else 'false'}"
        for w, t, s in zip(words, onsets, space_before, strict=True)
    ]
    table = tmp_path / "words.tsv"
    table.write_text("\n".join(lines) + "\n")
    out = tmp_path / "store"
    code = main(["extract", "--model", str(tiny_gpt2_dir), "--stimuli", str(table)] + [
        "--pooling", "mean", "--out", str(out), "--quiet"
    ])  # fmt: skip
    assert code == 0
    assert f"on {table}: {len(words)} words" in capsys.readouterr().out
    entry = _only_entry(out)
    stored = FeatureStore(out).load(entry["key"])

    encoder = TextEncoder(tiny_gpt2_dir, pooling="mean", progress=False)
    direct = encoder.encode_words(words, onsets=onsets, space_before=space_before)
    assert list(stored.layers) == ["0", "1", "2"]
    for name, array in direct.layers.items():
        np.testing.assert_allclose(stored.layers[name], array, atol=1e-6)
    np.testing.assert_array_equal(stored.stimulus_ids, np.arange(len(words)))
    np.testing.assert_allclose(stored.onsets, onsets)


def test_untrained_twin_gets_its_own_entry(tiny_gpt2_dir, tmp_path, capsys):
    table = _write(tmp_path, "words.csv", "text\nAlice\nwas\nbeginning\n")
    out = tmp_path / "store"
    args = ["extract", "--model", str(tiny_gpt2_dir), "--stimuli", str(table)]
    args += ["--out", str(out), "--quiet", "--layers", "2"]
    assert main(args) == 0
    assert main([*args, "--untrained", "--seed", "3"]) == 0
    weights = sorted(
        (e["key"]["weights"]["kind"], e["key"]["weights"]["seed"])
        for e in FeatureStore(out).entries().to_dict("records")
    )
    assert weights == [("pretrained", None), ("untrained", 3)]


# --------------------------------------------------------------------------- images


def test_image_table_matches_the_encoder_and_a_changed_image_misses(
    tiny_vit_dir, image_table, tmp_path, capsys, monkeypatch
):
    from brainalign.encoders.vision import VisionEncoder

    forward = _count_forward(monkeypatch, VisionEncoder)
    out = tmp_path / "store"
    args = ["extract", "--model", str(tiny_vit_dir), "--stimuli", str(image_table)]
    args += ["--out", str(out), "--quiet", "--batch-size", "4"]
    assert main(args) == 0
    assert "6 images, computed and stored" in capsys.readouterr().out
    entry = _only_entry(out)
    assert entry["arrays"] == ["0", "1", "2"] and entry["key"]["pooling"] == "cls"
    stored = FeatureStore(out).load(entry["key"])
    paths = sorted((image_table.parent / "images").glob("*.jpg"))
    direct = VisionEncoder(tiny_vit_dir, progress=False).encode_images(paths)
    for name, array in direct.layers.items():
        assert stored.layers[name].shape == (6, 16)
        np.testing.assert_allclose(stored.layers[name], array, atol=1e-6)
    assert stored.stimulus_ids.tolist() == [f"img{i}" for i in range(6)]

    forward.clear()
    assert main(args) == 0
    assert "reused existing entry" in capsys.readouterr().out and forward == []

    # same name, different bytes: a new entry, computed
    shutil.copyfile(paths[1], paths[0])
    assert main(args) == 0
    assert "computed and stored" in capsys.readouterr().out and forward
    assert len(FeatureStore(out).entries()) == 2


def test_image_folder_with_spatial_pooling(tiny_vit_dir, tmp_path, capsys):
    out = tmp_path / "store"
    code = main(["extract", "--model", str(tiny_vit_dir), "--stimuli", str(IMAGES)] + [
        "--pooling", "spatial", "--layers", "2", "--out", str(out), "--quiet"
    ])  # fmt: skip
    assert code == 0
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["2", "(6,", "64)", "float32"] in lines  # 16 channels x 2 x 2 cells
    stored = FeatureStore(out).load(_only_entry(out)["key"])
    assert stored.stimulus_ids.tolist() == [f"image_0{i}" for i in range(1, 7)]


def test_image_heads_and_blocks_stream_into_their_own_entry(tiny_vit_dir, tmp_path, capsys):
    from brainalign.encoders.store import FeatureStore as Store
    from brainalign.encoders.vision import VisionEncoder

    out = tmp_path / "store"
    base = ["extract", "--model", str(tiny_vit_dir), "--stimuli", str(IMAGES), "--quiet"]
    assert main([*base, "--out", str(out), "--layers", "1,2"]) == 0
    assert main([*base, "--out", str(out), "--layers", "1,2", "--heads", "--blocks"]) == 0
    entries = Store(out).entries().to_dict("records")
    assert len(entries) == 2 and all(e["complete"] for e in entries)
    captured = next(e for e in entries if "capture" in e["key"]["extra"])
    assert captured["key"]["extra"]["capture"] == {"heads": True, "blocks": True}
    stored = Store(out).load(captured["key"])
    assert stored.layer_names == ["1", "2", "1.attention", "1.mlp", "1.heads"] + [
        "2.attention", "2.mlp", "2.heads"
    ] or set(stored.layer_names) == {
        "1", "2", "1.attention", "1.mlp", "1.heads", "2.attention", "2.mlp", "2.heads"
    }  # fmt: skip
    assert isinstance(stored["2.heads"], np.memmap)
    direct = VisionEncoder(tiny_vit_dir, progress=False).encode_images(
        sorted(IMAGES.glob("*.jpg")), layers=[1, 2], heads=True, blocks=True
    )
    for name in direct.layer_names:
        np.testing.assert_allclose(stored[name], direct[name], atol=1e-6, err_msg=name)


# --------------------------------------------------------------------------- errors


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _zip(path: Path, files) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for file in files:
            archive.write(file, file.name)
    return path


def _printed_entry(printed: str) -> str:
    """The entry name that extract printed (the line ``entry: NAME``)."""
    [name] = [line.removeprefix("entry: ") for line in printed.splitlines() if "entry: " in line]
    return name


# --------------------------------------------------------------------------- sentences

SENTENCES = (
    "stimulus_id,group,text\n"
    "s1,story-a,Alice was beginning to get very tired.\n"
    "s2,story-a,She had peeped into the book her sister was reading.\n"
    "s3,story-b,The rabbit took a watch out of its waistcoat pocket.\n"
    's4,story-a,"And what is the use of a book," thought Alice.\n'
    "s5,story-b,It hurried across the field.\n"
)


@pytest.mark.parametrize("context", ["passage", "isolated"])
def test_sentence_table_matches_the_encoder_and_is_reused(
    tiny_gpt2_dir, tmp_path, capsys, monkeypatch, context
):
    import pandas as pd

    from brainalign.encoders.text import TextEncoder
    from brainalign.stimuli import Stimuli

    table = _write(tmp_path, "sentences.csv", SENTENCES)
    out = tmp_path / "store"
    args = ["extract", "--model", str(tiny_gpt2_dir), "--stimuli", str(table), "--quiet"]
    args += ["--out", str(out), "--pooling", "mean", "--contributions", "--blocks"]
    if context == "isolated":
        args += ["--context", "isolated"]  # passage: the default for sentences with groups
    assert main(args) == 0
    assert f"on {table}: 5 sentences, computed and stored" in capsys.readouterr().out
    entry = _only_entry(out)
    assert entry["key"]["context"]["mode"] == context
    assert entry["key"]["context"]["level"] == "sentence"
    stored = FeatureStore(out).load(entry["key"])

    encoder = TextEncoder(tiny_gpt2_dir, pooling="mean", progress=False)
    direct = encoder.extract(
        Stimuli(pd.read_csv(table)), context=context, blocks=True, contributions=True
    )
    assert stored.layer_names == direct.layer_names
    assert "2.contributions" in stored.layer_names
    for name in direct.layer_names:
        np.testing.assert_allclose(stored[name], direct[name], atol=1e-6, err_msg=name)
    assert stored.stimulus_ids.tolist() == ["s1", "s2", "s3", "s4", "s5"]

    calls = _count_forward(monkeypatch, TextEncoder)
    assert main(args) == 0
    assert calls == []
    assert "reused existing entry (no forward pass)" in capsys.readouterr().out


def test_passage_and_isolated_differ_and_groups_keep_passages_apart(tiny_gpt2_dir, tmp_path):
    table = _write(tmp_path, "sentences.csv", SENTENCES)
    out = tmp_path / "store"
    base = ["extract", "--model", str(tiny_gpt2_dir), "--stimuli", str(table), "--quiet"]
    for context in ("passage", "isolated"):
        assert main([*base, "--out", str(out), "--context", context, "--layers", "2"]) == 0
    store = FeatureStore(out)
    entries = {
        e["key"]["context"]["mode"]: store.load(e["key"])
        for e in store.entries().to_dict("records")
    }
    passage, isolated = entries["passage"]["2"], entries["isolated"]["2"]
    # the first sentence of each story has no context: equal; later ones see their story
    np.testing.assert_allclose(passage[[0, 2]], isolated[[0, 2]], atol=1e-5)
    assert np.abs(passage[[1, 3, 4]] - isolated[[1, 3, 4]]).max() > 1e-3


def test_word_table_with_groups_reads_each_text_on_its_own(tiny_gpt2_dir, alice_words, tmp_path):
    from brainalign.encoders.text import TextEncoder

    words = alice_words[:30]
    rows = [f"{w},{'a' if i < 18 else 'b'}" for i, w in enumerate(words)]
    table = _write(tmp_path, "words.csv", "text,group\n" + "\n".join(rows) + "\n")
    out = tmp_path / "store"
    args = ["extract", "--model", str(tiny_gpt2_dir), "--stimuli", str(table), "--quiet"]
    assert main([*args, "--out", str(out), "--layers", "2"]) == 0
    entry = _only_entry(out)
    assert entry["key"]["context"]["mode"] == "window"
    stored = FeatureStore(out).load(entry["key"])
    encoder = TextEncoder(tiny_gpt2_dir, progress=False)
    first, second = encoder.encode_words(words[:18]), encoder.encode_words(words[18:])
    np.testing.assert_allclose(stored["2"][:18], first["2"], atol=1e-6)
    np.testing.assert_allclose(stored["2"][18:], second["2"], atol=1e-6)


BAD_INPUTS = {
    "neither": ([], "exactly one of --dataset NAME or --stimuli FILE; neither given"),
    "both": (["--dataset", "alice2016", "--stimuli", "x.csv"], "both given"),
    "unknown dataset": (["--dataset", "alice2017"], "unknown dataset 'alice2017'"),
    "dataset without a recording": (
        ["--dataset", "kriegeskorte2008-92"],
        "loads as Kriegeskorte92, not a recording",
    ),
    "missing file": (["--stimuli", "{tmp}/nope.csv"], "nope.csv' does not exist"),
    "bad suffix": (["--stimuli", "{tmp}/words.json"], "unknown suffix '.json'"),
    "no column": (["--stimuli", "{tmp}/nocol.csv"], "has none of the content columns"),
    "empty table": (["--stimuli", "{tmp}/empty.csv"], "has a header but no rows"),
    "empty file": (["--stimuli", "{tmp}/blank.csv"], "is not a readable"),
    "empty word": (["--stimuli", "{tmp}/gap.tsv"], "'text' is empty in row 2 (line 3)"),
    "bad onset": (["--stimuli", "{tmp}/onset.tsv"], "onset 'soon' in row 1"),
    "missing image": (["--stimuli", "{tmp}/lost.csv"], "image 0 ('lost.jpg') not found"),
    "contributions with images": (
        ["--stimuli", str(IMAGES), "--contributions"],
        "text models only",
    ),
    "image pooling for words": (
        ["--dataset", "alice2016", "--pooling", "cls"],
        "pooling 'cls' does not apply to words",
    ),
    "unknown pooling": (
        ["--dataset", "alice2016", "--pooling", "max"],
        "pooling 'max' does not apply to words; use last, mean",
    ),
    "layer out of range": (["--dataset", "alice2016", "--layers", "0,9"], "out of range"),
    "sentences read as a window": (
        ["--stimuli", "{tmp}/sentences.csv", "--context", "window"],
        "row 2 holds 'the cat sat.', but context 'window' reads continuous text",
    ),
    "first subword of sentences": (
        ["--stimuli", "{tmp}/sentences.csv", "--pooling", "first"],
        "pooling 'first' (first subword) applies to words",
    ),
    "context with images": (["--stimuli", str(IMAGES), "--context", "isolated"], "applies to text"),
    "summaries with images": (
        ["--stimuli", str(IMAGES), "--attention-summaries"],
        "available for text models only",
    ),
    "bad batch size": (["--dataset", "alice2016", "--batch-size", "0"], "--batch-size"),
    "passage without a group column": (
        ["--stimuli", "{tmp}/sentences.csv", "--context", "passage"],
        "sentences.csv has no 'group' column (columns: ['text']), but context 'passage' reads",
    ),
    "missing text column": (
        ["--stimuli", "{tmp}/sentences.csv", "--text-column", "sentence"],
        "has no column 'sentence' (--text-column); its columns are ['text']",
    ),
    "default text column missing": (
        ["--stimuli", "{tmp}/nocol.csv"],
        "(columns: ['word', 'onset']); give exactly one: 'text' (the texts; --text-column",
    ),
    "text column with a dataset": (
        ["--dataset", "alice2016", "--text-column", "word"],
        "--text-column applies to --stimuli tables",
    ),
    "text column with images": (
        ["--stimuli", str(IMAGES), "--text-column", "word"],
        "--text-column 'word' applies to text tables",
    ),
    "zip with other members": (
        ["--stimuli", "{tmp}/photos.zip"],
        "photos.zip holds 1 member that is not an image: SOURCE.txt",
    ),
    "empty zip": (["--stimuli", "{tmp}/empty.zip"], "empty.zip' is empty: no image to read"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_a_clear_error_and_writes_nothing(tiny_bert_dir, tmp_path, capsys, case):
    _write(tmp_path, "words.json", "[]")
    _write(tmp_path, "nocol.csv", "word,onset\nthe,0.1\n")
    _write(tmp_path, "empty.csv", "text,onset\n")
    _write(tmp_path, "blank.csv", "")
    _write(tmp_path, "gap.tsv", "text\tonset\nAlice\t0\n\t0.5\nwas\t1\n")
    _write(tmp_path, "onset.tsv", "text\tonset\nAlice\tsoon\n")
    _write(tmp_path, "lost.csv", "image\nlost.jpg\n")
    _write(tmp_path, "sentences.csv", "text\nHello.\nthe cat sat.\n")
    _zip(tmp_path / "photos.zip", IMAGES.iterdir())  # the images and SOURCE.txt
    _zip(tmp_path / "empty.zip", [])
    extra, message = BAD_INPUTS[case]
    extra = [part.replace("{tmp}", str(tmp_path)) for part in extra]
    out = tmp_path / "store"
    try:
        code = main(
            ["extract", "--model", str(tiny_bert_dir), "--out", str(out), "--quiet", *extra]
        )
    except SystemExit as refused:  # refused while parsing (e.g. --batch-size 0)
        code = refused.code
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_model_that_cannot_load_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "store"
    args = ["extract", "--model", str(tmp_path / "empty"), "--dataset", "alice2016"]
    assert main([*args, "--out", str(out)]) == 2
    assert "config.json" in capsys.readouterr().err
    assert not out.exists()


def test_store_path_that_is_a_file(tiny_bert_dir, tmp_path, capsys):
    blocker = _write(tmp_path, "file", "x")
    args = ["extract", "--model", str(tiny_bert_dir), "--dataset", "alice2016"]
    assert main([*args, "--out", str(blocker), "--quiet"]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_score_reads_what_extract_stored(tiny_bert_dir, tmp_path, monkeypatch):
    from brainalign.encoders import text

    store = tmp_path / "store"
    common = ["--model", str(tiny_bert_dir), "--layers", "0,2", "--context-words", "4", "--quiet"]
    for extra in ([], ["--untrained"]):
        assert (
            main(["extract", "--dataset", "alice2016", "--out", str(store), *extra, *common]) == 0
        )
    calls = []
    monkeypatch.setattr(text.TextEncoder, "_forward", lambda self, batch, **_: calls.append(1))
    score = ["score", "--benchmark", "alice2016-encoding", "--store", str(store)]
    score += ["--option", "subjects=[s18,s22]", "--out", str(tmp_path / "run")]
    code = main([*score, *common])
    assert code == 0 and calls == []  # every feature came from the store
    assert (tmp_path / "run" / "results.csv").exists()


def test_text_stimuli_reads_a_stimuli_table_as_one_text():
    import pandas as pd

    from brainalign.encoders.extract import StimulusInputError, text_stimuli
    from brainalign.stimuli import Stimuli

    table = pd.DataFrame(
        {
            "stimulus_id": ["w0", "w1", "w2"],
            "text": ["Alice", "'s", "cat"],
            "group": ["a", "a", "b"],
            "onset": [0.0, 0.4, 0.9],
            "space_before": [True, False, True],
        }
    )
    stimuli = text_stimuli(Stimuli(table), "dataset demo")
    assert stimuli.texts == ["Alice", "'s", "cat"] and stimuli.source == "dataset demo"
    np.testing.assert_array_equal(stimuli.stimulus_ids, ["w0", "w1", "w2"])
    np.testing.assert_array_equal(stimuli.onsets, [0.0, 0.4, 0.9])
    np.testing.assert_array_equal(stimuli.space_before, [True, False, True])
    assert stimuli.groups is None  # one continuous text: the key of encode_words
    images = Stimuli(pd.DataFrame({"stimulus_id": [0], "image": ["a.png"], "group": [0]}))
    with pytest.raises(StimulusInputError, match="dataset demo has no 'text' stimuli"):
        text_stimuli(images, "dataset demo")


# --------------------------------------------------------------------------- entry names


def test_printed_entry_name_opens_the_entry(tiny_vit_dir, image_table, tmp_path, capsys):
    out = tmp_path / "store"
    args = ["extract", "--model", str(tiny_vit_dir), "--stimuli", str(image_table)]
    assert main([*args, "--out", str(out), "--quiet", "--layers", "0,2"]) == 0
    printed = capsys.readouterr().out
    name = _printed_entry(printed)
    entry = _only_entry(out)
    assert name == entry["name"] and f"store: {out}\n" in printed
    by_name = FeatureStore(out).load(name)
    by_key = FeatureStore(out).load(entry["key"])
    assert by_name.layer_names == by_key.layer_names == ["0", "2"]
    np.testing.assert_array_equal(by_name["2"], by_key["2"])
    assert by_name.stimulus_ids.tolist() == [f"img{i}" for i in range(6)]
    # the printed Python line runs as it is
    [line] = [line for line in printed.splitlines() if line.startswith("open it: ")]
    opened = eval(line.removeprefix("open it: "), {"FeatureStore": FeatureStore})
    np.testing.assert_array_equal(opened["0"], by_key["0"])
    assert repr(opened).startswith(f"<Features {tiny_vit_dir.name} (pretrained): 2 layers")


def test_printed_entry_name_of_sentences_opens_them(tiny_gpt2_dir, tmp_path, capsys):
    table = _write(tmp_path, "sentences.csv", SENTENCES)
    out = tmp_path / "store"
    args = ["extract", "--model", str(tiny_gpt2_dir), "--stimuli", str(table), "--quiet"]
    assert main([*args, "--out", str(out), "--layers", "1"]) == 0
    name = _printed_entry(capsys.readouterr().out)
    features = FeatureStore(out).load(name)
    assert features.stimulus_ids.tolist() == ["s1", "s2", "s3", "s4", "s5"]
    assert features.provenance["context"] == "passage"


def test_store_list_prints_every_entry(tiny_vit_dir, tiny_gpt2_dir, tmp_path, capsys):
    out = tmp_path / "store"
    images = ["extract", "--model", str(tiny_vit_dir), "--stimuli", str(IMAGES), "--quiet"]
    assert main([*images, "--out", str(out), "--layers", "1,2"]) == 0
    image_entry = _printed_entry(capsys.readouterr().out)
    words = _write(tmp_path, "words.csv", "text\nAlice\nwas\nbeginning\n")
    text = ["extract", "--model", str(tiny_gpt2_dir), "--stimuli", str(words), "--quiet"]
    assert main([*text, "--out", str(out), "--untrained"]) == 0
    word_entry = _printed_entry(capsys.readouterr().out)

    assert main(["store", "list", str(out)]) == 0
    printed = capsys.readouterr().out
    lines = {line.split()[0]: line.split() for line in printed.splitlines() if line.strip()}
    table = FeatureStore(out).entries().set_index("name")
    image_row, word_row = lines[image_entry], lines[word_entry]
    assert image_row[1:5] == [str(tiny_vit_dir), "pretrained", "2", "6"]
    assert word_row[1:5] == [str(tiny_gpt2_dir), "untrained", "3", "3"]
    assert table.loc[image_entry, "n_layers"] == 2 and table.loc[word_entry, "n_items"] == 3
    assert image_row[-1] == "complete" and image_row[5:7] == _size_words(table, image_entry)
    assert "2 entries (0 incomplete)" in printed

    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["store", "list", str(empty)]) == 0
    assert "no entries" in capsys.readouterr().out
    assert main(["store", "list", str(tmp_path / "missing")]) == 2
    assert "does not exist or is not a directory" in capsys.readouterr().err
    assert main(["store"]) == 2
    assert "brainalign store list DIR" in capsys.readouterr().err


def _size_words(table, name: str) -> list[str]:
    n_bytes = int(table.loc[name, "bytes"])
    assert 1000 <= n_bytes < 1_000_000
    return [f"{n_bytes / 1000:.1f}", "kB"]


# --------------------------------------------------------------------------- zip archives


def test_zip_of_images_shares_the_folder_entry(tiny_vit_dir, tmp_path, capsys, monkeypatch):
    from brainalign.encoders.vision import VisionEncoder

    out = tmp_path / "store"
    base = ["extract", "--model", str(tiny_vit_dir), "--quiet", "--out", str(out)]
    assert main([*base, "--stimuli", str(IMAGES)]) == 0
    folder_entry = _printed_entry(capsys.readouterr().out)

    archive = _zip(tmp_path / "photos.zip", sorted(IMAGES.glob("*.jpg")))
    forward = _count_forward(monkeypatch, VisionEncoder)
    assert main([*base, "--stimuli", str(archive)]) == 0
    printed = capsys.readouterr().out
    assert f"on {archive}: 6 images, reused existing entry (no forward pass)" in printed
    assert _printed_entry(printed) == folder_entry and forward == []

    # a zip of other bytes under the same names is computed into its own entry
    changed = tmp_path / "changed.zip"
    with zipfile.ZipFile(changed, "w") as handle:
        for index, path in enumerate(sorted(IMAGES.glob("*.jpg"))):
            handle.write(sorted(IMAGES.glob("*.jpg"))[(index + 1) % 6], path.name)
    assert main([*base, "--stimuli", str(changed)]) == 0
    printed = capsys.readouterr().out
    assert "computed and stored" in printed and forward
    assert _printed_entry(printed) != folder_entry
    stored = FeatureStore(out).load(_printed_entry(printed))
    assert stored.stimulus_ids.tolist() == [f"image_0{i}" for i in range(1, 7)]
    first = FeatureStore(out).load(folder_entry)
    np.testing.assert_array_equal(stored["2"][0], first["2"][1])  # image_01 holds image_02


# --------------------------------------------------------------------------- contexts


UNGROUPED = (
    "stimulus_id,sentence\n"
    "s1,Alice was beginning to get very tired.\n"
    "s2,The rabbit took a watch out of its waistcoat pocket.\n"
    "s3,It hurried across the field.\n"
)


def test_sentences_without_groups_are_read_one_by_one(tiny_gpt2_dir, tmp_path, capsys):
    import pandas as pd

    from brainalign.encoders.text import TextEncoder
    from brainalign.stimuli import Stimuli

    table = _write(tmp_path, "sentences.csv", UNGROUPED)
    out = tmp_path / "store"
    args = ["extract", "--model", str(tiny_gpt2_dir), "--stimuli", str(table), "--quiet"]
    args += ["--out", str(out), "--layers", "2", "--text-column", "sentence"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "3 sentences, computed and stored" in printed and "context: isolated" in printed
    entry = _only_entry(out)
    assert entry["key"]["context"]["mode"] == "isolated"
    stored = FeatureStore(out).load(_printed_entry(printed))

    # each sentence exactly as if it were the only one
    encoder = TextEncoder(tiny_gpt2_dir, progress=False)
    texts = pd.read_csv(table)["sentence"].tolist()
    for row, sentence in enumerate(texts):
        alone = encoder.extract([sentence], context="isolated", layers=[2])
        np.testing.assert_allclose(stored["2"][row], alone["2"][0], atol=1e-5)
    # while the passage reading of the same sentences differs after the first
    grouped = Stimuli(pd.DataFrame({"stimulus_id": ["s1", "s2", "s3"], "group": 0, "text": texts}))
    passage = encoder.extract(grouped, context="passage", layers=[2])
    assert np.abs(passage["2"][1:] - stored["2"][1:]).max() > 1e-3

    # the same texts under the default column name: the same entry (the key holds texts)
    renamed = _write(tmp_path, "renamed.csv", UNGROUPED.replace(",sentence", ",text"))
    args = ["extract", "--model", str(tiny_gpt2_dir), "--stimuli", str(renamed), "--quiet"]
    assert main([*args, "--out", str(out), "--layers", "2"]) == 0
    assert "reused existing entry" in capsys.readouterr().out

    # a group column makes passage the default; the mode is part of the key
    with_groups = _write(tmp_path, "grouped.csv", SENTENCES)
    args = ["extract", "--model", str(tiny_gpt2_dir), "--stimuli", str(with_groups), "--quiet"]
    assert main([*args, "--out", str(out), "--layers", "2"]) == 0
    assert "context: passage" in capsys.readouterr().out
    assert main([*args, "--out", str(out), "--layers", "2", "--context", "isolated"]) == 0
    modes = sorted(FeatureStore(out).entries()["context"])
    assert modes == ["isolated", "isolated", "passage"]


def test_instruction_frames_the_text_and_keys_the_entry(
    tiny_gpt2_dir, tiny_vit_dir, tmp_path, capsys
):
    table = _write(tmp_path, "sentences.csv", "text\nAlice was tired.\nShe sat by her sister.\n")
    out = tmp_path / "store"
    args = ["extract", "--model", str(tiny_gpt2_dir), "--stimuli", str(table), "--quiet"]
    names = []
    for extra in ([], ["--instruction", "Read this."], ["--instruction", "Judge this."]):
        assert main([*args, "--out", str(out), *extra]) == 0
        printed = capsys.readouterr().out
        names.append(
            next(
                line.split(": ", 1)[1] for line in printed.splitlines() if line.startswith("entry")
            )
        )
    assert len(set(names)) == 3  # one entry per instruction, and one without
    store = FeatureStore(out)
    plain, read = store.load(names[0]), store.load(names[1])
    assert "instruction" not in plain.provenance
    assert "Read this." in str(read.provenance["instruction"])
    assert not np.allclose(plain["2"], read["2"])
    # the instruction is refused where it does not apply, and a format needs it
    images = ["extract", "--model", str(tiny_vit_dir), "--stimuli", str(IMAGES), "--quiet"]
    assert main([*images, "--out", str(out), "--instruction", "Look."]) == 2
    assert "--instruction applies to text stimuli" in capsys.readouterr().err
    assert main([*images, "--out", str(out), "--span", "all"]) == 2
    assert "--span applies to images read by a multimodal language model" in (
        capsys.readouterr().err
    )
    assert main([*args, "--out", str(out), "--instruction-format", "chat"]) == 2
    assert "--instruction-format applies with --instruction" in capsys.readouterr().err
    assert (
        main([*args, "--out", str(out), "--instruction", "x", "--instruction-format", "chat"]) == 2
    )
    assert "instruction_format='plain'" in capsys.readouterr().err
