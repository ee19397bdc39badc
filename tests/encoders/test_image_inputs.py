"""Every way of handing images to VisionEncoder, and the store key they share.

``encode_images`` takes a ``Stimuli`` table, a folder, a zip archive, a list of paths,
PIL images or arrays; all go through ``image_stimuli``, which reads and hashes every
image once. The key (``image_features_key``) holds ids and content digests only, so the
same bytes under the same ids share an entry whichever way they came, and a changed byte
never hits an old one. The images are the six real photographs of tests/data/images;
the model is a tiny random-weight ViT saved with its image processor.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from brainalign.encoders.store import FeatureStore
from brainalign.encoders.vision import (
    ImageStimuli,
    VisionEncoder,
    ZipMember,
    image_features_key,
    image_sha256,
    image_stimuli,
    list_zip_images,
)
from brainalign.stimuli import Stimuli

IMAGES = Path(__file__).resolve().parents[1] / "data" / "images"
PATHS = sorted(IMAGES.glob("*.jpg"))
STEMS = [path.stem for path in PATHS]


@pytest.fixture(scope="module")
def vit(tiny_vit_dir) -> VisionEncoder:
    """The tiny ViT of tests/conftest.py, mean-pooled."""
    return VisionEncoder(tiny_vit_dir, pooling="mean", batch_size=4, progress=False)


@pytest.fixture(scope="module")
def reference(vit):
    """Features of the six files given as a list of paths."""
    return vit.encode_images(PATHS)


def _zip(path: Path, members: dict[str, bytes | Path]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            if isinstance(content, Path):
                archive.write(content, name)
            else:
                archive.writestr(name, content)
        return path


def _assert_same(features, reference, ids=STEMS):
    assert features.stimulus_ids.tolist() == list(ids)
    assert features.layer_names == reference.layer_names
    for name in reference.layer_names:
        np.testing.assert_array_equal(features[name], reference[name], err_msg=name)


# --------------------------------------------------------------------------- Stimuli


def test_stimuli_table_of_paths_takes_its_ids_and_root(vit, reference, tmp_path, monkeypatch):
    ids = [f"img{i}" for i in range(6)]
    relative = Stimuli(
        pd.DataFrame({"stimulus_id": ids, "group": 0, "image": [p.name for p in PATHS]})
    )
    _assert_same(vit.encode_images(relative, root=IMAGES), reference, ids)
    # without root, relative paths are taken from the current directory
    monkeypatch.chdir(IMAGES)
    _assert_same(vit.encode_images(relative), reference, ids)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"image 0: .*image_01\.jpg.*current directory"):
        vit.encode_images(relative)
    absolute = Stimuli(
        pd.DataFrame({"stimulus_id": ids, "group": 0, "image": [str(p) for p in PATHS]})
    )
    _assert_same(vit.encode_images(absolute), reference, ids)


def test_stimuli_table_of_arrays(vit):
    arrays = [np.asarray(Image.open(path).convert("RGB")) for path in PATHS[:3]]
    table = pd.DataFrame({"stimulus_id": ["a", "b", "c"], "group": 0, "image": arrays})
    from_table = vit.encode_images(Stimuli(table))
    from_list = vit.encode_images(arrays, stimulus_ids=["a", "b", "c"])
    _assert_same(from_table, from_list, ["a", "b", "c"])


def test_dataframe_and_other_misuse_are_refused_with_what_to_do(vit):
    table = pd.DataFrame({"stimulus_id": STEMS, "group": 0, "image": [str(p) for p in PATHS]})
    with pytest.raises(TypeError, match=r"DataFrame; wrap it in brainalign\.stimuli\.Stimuli"):
        vit.encode_images(table)
    with pytest.raises(ValueError, match=r"'stimulus_id' column gives the ids; drop"):
        vit.encode_images(Stimuli(table), stimulus_ids=list("abcdef"))
    words = Stimuli(pd.DataFrame({"stimulus_id": [0], "group": 0, "text": ["cat"]}))
    with pytest.raises(ValueError, match=r"no 'image' column \(columns: \['stimulus_id'"):
        vit.encode_images(words)
    holes = Stimuli(pd.DataFrame({"stimulus_id": ["x", "y"], "group": 0, "image": ["a", None]}))
    with pytest.raises(ValueError, match=r"Stimuli row 1 \(stimulus_id 'y'\): the 'image' cell is"):
        vit.encode_images(holes, root=IMAGES)
    odd = Stimuli(pd.DataFrame({"stimulus_id": ["x"], "group": 0, "image": [{"a": 1}]}))
    with pytest.raises(TypeError, match=r"Stimuli row 0 \(stimulus_id 'x'\): image 0 is a dict"):
        vit.encode_images(odd)
    key_only = ImageStimuli([], ["a"], np.array(["a"]), ["0" * 64], "elsewhere")
    with pytest.raises(ValueError, match="hold no images to read"):
        vit.encode_images(key_only)


# --------------------------------------------------------------------------- zip, folder


def test_zip_folder_and_paths_give_the_same_features_and_key(vit, reference, tmp_path):
    archive = _zip(tmp_path / "photos.zip", {f"photos/{p.name}": p for p in reversed(PATHS)})
    members = list_zip_images(archive)
    assert [m.name for m in members] == [f"photos/{p.name}" for p in PATHS]  # sorted
    from_zip = vit.encode_images(archive)
    _assert_same(from_zip, reference)
    _assert_same(vit.encode_images(IMAGES), reference)

    # one key for every form of the same bytes under the same ids
    table = Stimuli(pd.DataFrame({"stimulus_id": STEMS, "group": 0, "image": PATHS}))
    forms = {
        "zip": archive,
        "folder": IMAGES,
        "paths": [str(p) for p in PATHS],
        "table": table,
        "members": members,
    }
    keys = {
        name: image_features_key(vit, image_stimuli(form), [0, 2]) for name, form in forms.items()
    }
    assert len({str(key) for key in keys.values()}) == 1, keys
    # each digest is the file's sha256sum, whether read from disk or from the archive
    digests = image_stimuli(archive).sha256
    assert digests == [hashlib.sha256(p.read_bytes()).hexdigest() for p in PATHS]
    assert image_sha256(members[0]) == image_sha256(PATHS[0]) == digests[0]

    # other ids, or one changed byte under the same name: another key
    renamed = image_stimuli(archive, stimulus_ids=list("abcdef"))
    assert image_features_key(vit, renamed, [0, 2]) != keys["zip"]
    edited = PATHS[0].read_bytes()
    edited = edited[:-2] + bytes([edited[-2] ^ 1]) + edited[-1:]
    changed = _zip(
        tmp_path / "changed.zip",
        {p.name: (edited if i == 0 else p) for i, p in enumerate(PATHS)},
    )
    assert image_features_key(vit, image_stimuli(changed), [0, 2]) != keys["zip"]


def test_store_entry_is_shared_by_folder_and_zip(vit, reference, tmp_path, monkeypatch):
    store = FeatureStore(tmp_path / "store")
    folder = image_stimuli(IMAGES)
    key = image_features_key(vit, folder, [1])
    written = vit.encode_images(folder, layers=[1], store=store)
    np.testing.assert_array_equal(written["1"], reference["1"])

    archive = _zip(tmp_path / "same.zip", {p.name: p for p in PATHS})
    from_zip = image_stimuli(archive)
    assert image_features_key(vit, from_zip, [1]) == key
    calls = []
    monkeypatch.setattr(vit, "_forward", lambda *args: calls.append(1))
    again = vit.encode_images(from_zip, layers=[1], store=store)
    assert calls == [] and len(store.entries()) == 1
    np.testing.assert_array_equal(again["1"], reference["1"])


def test_zip_members_are_read_without_extracting(vit, reference, tmp_path, monkeypatch):
    archive = _zip(tmp_path / "photos.zip", {p.name: p for p in PATHS})
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)

    def no_extract(*args, **kwargs):
        raise AssertionError("a zip member was extracted to disk")

    monkeypatch.setattr(zipfile.ZipFile, "extract", no_extract)
    monkeypatch.setattr(zipfile.ZipFile, "extractall", no_extract)
    before = sorted(tmp_path.rglob("*"))
    _assert_same(vit.encode_images(archive), reference)
    assert sorted(tmp_path.rglob("*")) == before


def test_zip_problems_are_clear_errors(vit, tmp_path):
    with_notes = _zip(
        tmp_path / "archive.zip",
        {"a.jpg": PATHS[0], "notes.txt": b"hello", "SOURCE.md": b"x", "b.jpg": PATHS[1]},
    )
    with pytest.raises(
        ValueError,
        match=r"archive\.zip holds 2 members that are not images: SOURCE\.md, notes\.txt",
    ):
        vit.encode_images(with_notes)
    one = _zip(tmp_path / "one.zip", {"a.jpg": PATHS[0], "read me": b"x"})
    with pytest.raises(ValueError, match=r"holds 1 member that is not an image: read me"):
        vit.encode_images(one)
    with pytest.raises(ValueError, match=r"empty\.zip' is empty: no image to read"):
        vit.encode_images(_zip(tmp_path / "empty.zip", {}))
    folders = tmp_path / "folders.zip"
    with zipfile.ZipFile(folders, "w") as archive:
        archive.writestr(zipfile.ZipInfo("photos/"), b"")
        archive.writestr("__MACOSX/._a.jpg", b"metadata")
    with pytest.raises(ValueError, match=r"holds only directories"):
        vit.encode_images(folders)
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match=r"fake\.zip' is not a readable zip archive"):
        vit.encode_images(fake)
    with pytest.raises(FileNotFoundError, match=r"missing\.zip' does not exist"):
        vit.encode_images(tmp_path / "missing.zip")
    broken = _zip(tmp_path / "broken.zip", {"a.jpg": PATHS[0], "b.jpg": b"not a jpeg"})
    with pytest.raises(ValueError, match=r"image 1: could not read .*broken\.zip:b\.jpg"):
        vit.encode_images(broken)
    twins = _zip(tmp_path / "twins.zip", {"x/a.jpg": PATHS[0], "y/a.jpg": PATHS[1]})
    with pytest.raises(ValueError, match=r"names \(stems\) repeat"):
        vit.encode_images(twins)
    assert vit.encode_images(twins, stimulus_ids=["xa", "ya"]).n_items == 2


def test_macos_metadata_in_a_zip_is_skipped(vit, reference, tmp_path):
    members: dict[str, bytes | Path] = {p.name: p for p in PATHS}
    members.update({"__MACOSX/._image_01.jpg": b"\x00\x05", ".DS_Store": b"\x00"})
    archive = _zip(tmp_path / "mac.zip", members)
    _assert_same(vit.encode_images(archive), reference)


def test_zip_member_names_and_mixed_lists(vit, reference, tmp_path):
    archive = _zip(tmp_path / "photos.zip", {p.name: p for p in PATHS})
    members = list_zip_images(archive)
    assert members[0] == ZipMember(archive, "image_01.jpg") and members[0].stem == "image_01"
    assert str(members[0]) == f"{archive}:image_01.jpg"
    # zip members, files and decoded images mixed in one list
    pil = Image.open(PATHS[2]).convert("RGB")
    mixed = vit.encode_images([members[0], PATHS[1], pil, *PATHS[3:]])
    assert mixed.stimulus_ids.tolist() == list(range(6))  # not all files: 0..n-1
    for name in reference.layer_names:
        np.testing.assert_array_equal(mixed[name], reference[name])


# --------------------------------------------------------------------------- digests


def test_decoded_images_are_keyed_by_their_pixels(tmp_path):
    pil = Image.open(PATHS[0])
    rgb = np.asarray(pil.convert("RGB"))
    assert image_sha256(pil) == image_sha256(rgb)  # a PIL image and its RGB array agree
    assert image_sha256(rgb) != image_sha256(PATHS[0])  # pixels are not file bytes
    assert image_sha256(rgb.astype(np.float32) / 255) != image_sha256(rgb)
    # a palette image is keyed by its colours, not by its palette indices
    indexed = pil.convert("P")
    repainted = indexed.copy()
    repainted.putpalette([255 - v for v in indexed.getpalette()])
    assert np.array_equal(np.asarray(indexed), np.asarray(repainted))
    assert image_sha256(indexed) != image_sha256(repainted)
    copy = tmp_path / "copy.jpg"
    shutil.copyfile(PATHS[0], copy)
    assert image_sha256(copy) == image_sha256(os.fspath(PATHS[0]))


def test_image_stimuli_checks_every_image_before_any_forward_pass(vit, tmp_path, monkeypatch):
    monkeypatch.setattr(vit, "_forward", lambda *a: pytest.fail("a forward pass ran"))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    with pytest.raises(ValueError, match=r"image 6: could not read .*broken\.png"):
        vit.encode_images([*PATHS, broken])
    with pytest.raises(ValueError, match=r"image 1 \(.*images'\) is a folder"):
        vit.encode_images([PATHS[0], IMAGES])
    with pytest.raises(TypeError, match="images is a bytes"):
        vit.encode_images(PATHS[0].read_bytes())
