"""Tests of the dataset catalogue (brainalign.datasets.catalogue / registry / loaders).

Every entry is loaded with its real loader through the real fetch path, offline:

* downloadable files with a small real copy in tests/data (subsets of Natural Stories, the
  word-similarity sets, Glasgow Norms, THINGS) are put at the cache path the download would
  use, in a temporary ``BRAINALIGN_DATA``, with ``BRAINALIGN_OFFLINE=1``; for a subset the
  entry's SHA-256 is replaced (through ``monkeypatch``) by the subset's. Where the full file
  is in ../shared/data, a second test uses it with the published checksum unchanged (and
  skips on a fresh clone).
* Brain-Score assemblies (sha1) and OpenNeuro files (md5: LeBel 2023 .hf5 responses and
  TextGrids, a Narratives BOLD run) are written by the test in the published format and
  served by a loopback HTTP server; the entry's URL (path and ``versionId`` query kept)
  and checksum are patched to the served bytes. The Narratives events file is served as
  published, with its published checksum unchanged.

Nothing reaches the internet.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from nilearn.masking import compute_epi_mask
from scipy.stats import spearmanr

from brainalign.datasets import catalogue, registry
from brainalign.datasets.behaviour import read_rdms
from brainalign.datasets.brainio import AssemblyFormatError
from brainalign.datasets.catalogue import (
    CatalogueError,
    UnknownDatasetError,
    available,
    check_name,
    fetch,
    info,
    load,
    load_stimuli,
    render_markdown,
)
from brainalign.datasets.download import (
    ChecksumMismatchError,
    NotInCacheError,
    RemoteFile,
    cache_path,
)
from brainalign.datasets.loaders import Kriegeskorte92, LebelFormatError, read_lebel_responses
from brainalign.datasets.recording import Recording
from tests.datasets.catalogue_helpers import (
    ROOT,
    SHARED,
    TESTS_DATA,
    LoopbackServer,
    place_in_cache,
    serve_entry_file,
    serve_new_entry_file,
)

BEHAVIOUR = TESTS_DATA / "behaviour"
DOCS_PAGE = ROOT / "docs" / "data" / "catalogue.md"
WORD_PAIRS = {
    "simlex999": ("EN-SIMLEX-999.txt", 999),
    "wordsim353": ("EN-WS-353-ALL.txt", 353),
    "men3k": ("EN-MEN-TR-3k.txt", 3000),
    "simverb3500": ("EN-SimVerb-3500.txt", 3500),
}
#: Local full copies (same git blobs as the published files) -> entry and file key.
SHARED_COPIES = {
    (
        "futrell2018",
        "processed_wordinfo",
    ): "naturalstories/naturalstories_RTS/processed_wordinfo.tsv",
    ("glasgow-norms", "norms"): "glasgow_norms/GlasgowNorms.csv",
    ("things-concepts", "concepts"): "things_concepts/data/files/things_concepts.tsv",
    ("things-concepts", "animacy"): "things_concepts/MRI/data/animacy.csv",
    ("things-concepts", "size"): "things_concepts/MRI/data/size_fixed.csv",
    **{(name, "pairs"): f"word_similarity/{file}" for name, (file, _) in WORD_PAIRS.items()},
}
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data not present")


@pytest.fixture(autouse=True)
def _isolated_cache(isolated_cache):
    return isolated_cache


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("BRAINALIGN_OFFLINE", "1")


@pytest.fixture
def server():
    loopback = LoopbackServer()
    yield loopback
    loopback.close()


# ----------------------------------------------------------------------------- the registry


def test_every_entry_is_complete_and_consistent():
    names = available()
    assert len(names) == 19 and names == sorted(registry.REGISTRY)
    filenames = []
    for name in names:
        entry = info(name)
        assert entry.name == name
        for field in catalogue.INFO_FIELDS:
            assert str(getattr(entry, field)).strip(), (name, field)
        if entry.access in ("download", "download-only"):
            assert entry.files and entry.checksum_source
            for remote in entry.files.values():
                assert remote.url.startswith("https://") and remote.digest
                filenames.append(remote.filename)
        if entry.access == "bundled":
            assert (catalogue.fetch(name, files=[])["folder"]).is_dir()
        assert (entry.loader is None) == (entry.access == "download-only")
    assert len(filenames) == len(set(filenames)), "two entries share a cache path"


def test_published_urls_and_checksums_are_the_pinned_ones():
    futrell = info("futrell2018").files
    assert futrell["processed_wordinfo"].url == (
        "https://raw.githubusercontent.com/languageMIT/naturalstories/"
        "4700daad696e942f5aba23c957a7423d0de66612/naturalstories_RTS/processed_wordinfo.tsv"
    )
    assert futrell["brainscore"].sha1 == "381ccc8038fbdb31235b5f3e1d350f359b5e287f"
    assert futrell["brainscore"].url.endswith("?versionId=MpR.gIXN8UrUnqwQyj.kCrh4VWrBvsGf")
    pereira = info("pereira2018").files
    assert pereira["language"].url == (
        "https://brainscore-language.s3.amazonaws.com/assy_Pereira2018_language.nc"
    )
    assert pereira["language"].sha1 == "f8434b4022f5b2c862f0ff2854d5b3f5f2a7fb96"
    assert pereira["auditory"].sha1 == "08e576bd3b8caf64850bb879abf07ae228ff1f5f"
    assert info("blank2014").files["fROI"].sha1 == "af1e868821b897cb1684e4c8dcd33977121ef552"
    fedorenko = info("fedorenko2016").files["language"]
    assert fedorenko.sha1 == "2966b6d78e972a72068aa6907377483f427e8d9a"
    assert fedorenko.url.endswith(
        "assy_Fedorenko2016_language.nc?versionId=qvB7YZfEjbXEE64bODNLlQlZKWGpgPhy"
    )
    assert info("tuckute2024").files["language"].sha1 == "5c8fc7f3e24cc1af5f5296459377b638b6492641"
    lebel = info("lebel2023").files["UTS01_wheretheressmoke"]
    assert lebel.url.startswith("https://s3.amazonaws.com/openneuro.org/ds003020/")
    assert lebel.algorithm == "md5" and lebel.size == 2077476776


@needs_shared
@pytest.mark.parametrize(("name", "key"), sorted(SHARED_COPIES))
def test_pinned_sha256_match_the_local_copies_of_the_published_files(name, key):
    path = SHARED / SHARED_COPIES[(name, key)]
    remote = info(name).files[key]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == remote.sha256
    assert path.stat().st_size == remote.size


def test_old_api_and_unknown_names():
    check_name("alice2016")
    with pytest.raises(UnknownDatasetError) as caught:
        load("alice2017")
    message = str(caught.value)
    assert "unknown dataset 'alice2017'" in message and "pereira2018" in message
    assert isinstance(caught.value, KeyError)
    for function in (info, fetch, check_name):
        with pytest.raises(UnknownDatasetError, match="available: alice2016"):
            function("nope")


def test_bad_options_and_file_keys_are_clear_errors():
    with pytest.raises(CatalogueError, match=r"simlex999: unknown option\(s\) \['foo'\]"):
        load("simlex999", foo=1)
    with pytest.raises(CatalogueError, match="table='sizes' is not one of"):
        load("things-concepts", table="sizes")
    with pytest.raises(CatalogueError, match=r"unknown file key\(s\) \['nope'\]"):
        fetch("pereira2018", files=["nope"])
    with pytest.raises(CatalogueError, match="assembly='visual' is not one of"):
        load("pereira2018", assembly="visual")


def test_docs_page_is_generated_from_the_registry_and_lists_every_entry():
    page = DOCS_PAGE.read_text(encoding="utf-8")
    sections = re.findall(r"^## (\S+)$", page, re.M)
    assert sections == available()
    assert page == render_markdown(), f"docs/data/catalogue.md is stale: {catalogue.DOCS_COMMAND}"


# ----------------------------------------------------------------------------- bundled


def test_alice2016_loads_from_the_bundle():
    recording = load("alice2016", subjects=["s18"])
    assert isinstance(recording, Recording)
    assert recording.data.shape == (362, 6) and recording.meta["name"] == "alice2016"


def test_load_stimuli_gives_a_recordings_stimuli_and_refuses_other_data():
    stimuli = load_stimuli("alice2016", subjects=["s18"])
    recording = load("alice2016", subjects=["s18"])
    pd.testing.assert_frame_equal(stimuli.table, recording.stimuli.table)
    with pytest.raises(CatalogueError, match="loads as Kriegeskorte92, not a recording"):
        load_stimuli("kriegeskorte2008-92")
    with pytest.raises(UnknownDatasetError, match="alice2017"):
        load_stimuli("alice2017")


def test_kriegeskorte2008_92_bundle_matches_the_source_files():
    data = load("kriegeskorte2008-92")
    assert isinstance(data, Kriegeskorte92)
    source = TESTS_DATA / "kriegeskorte2008_92"
    np.testing.assert_array_equal(
        data.human_it.dissimilarities, read_rdms(source / "92_brainRDMs.mat").dissimilarities
    )
    assert data.human_it.descriptors["subject"].tolist() == [
        s for s in ("BE", "KO", "SN", "TI") for _ in range(2)
    ]
    assert data.human_it.descriptors["session"].tolist() == [1, 2] * 4
    np.testing.assert_array_equal(
        data.models.dissimilarities, read_rdms(source / "92_modelRDMs.mat").dissimilarities
    )
    np.testing.assert_array_equal(
        data.behaviour.dissimilarities[:3],
        read_rdms(BEHAVIOUR / "92_behavRDMs_subjects1-3.mat").dissimilarities,
    )
    assert data.behaviour.dissimilarities.shape == (16, 4186)
    with np.load(source / "fig1_mIT_hIT_rdms.npz") as arrays:
        np.testing.assert_array_equal(data.monkey_it.dissimilarities[0], arrays["mIT_674neurons"])
        np.testing.assert_array_equal(
            data.human_it_fig1.dissimilarities[0], arrays["hITvisStim_316vx"]
        )
    # the real data: figure 1's hIT RDM ranks the pairs as the mean of the 8 hIT RDMs does,
    # the monkeyIT model RDM is figure 1's monkey RDM, and man and monkey IT correlate.
    mean_hit = data.human_it.dissimilarities.mean(axis=0)
    assert spearmanr(mean_hit, data.human_it_fig1.dissimilarities[0])[0] > 0.999
    np.testing.assert_allclose(
        data.models.select(label="monkeyIT").dissimilarities, data.monkey_it.dissimilarities
    )
    rho = spearmanr(data.monkey_it.dissimilarities[0], data.human_it_fig1.dissimilarities[0])[0]
    assert 0.3 < rho < 0.6
    counts = data.conditions.drop(columns="condition").sum().to_dict()
    assert counts["animate"] == 48 and counts["inanim"] == 44 and counts["face"] == 24
    assert data.human_it.conditions is data.conditions


# ----------------------------------------------------------------------------- downloads


def test_futrell2018_subset_through_the_offline_fetch_path(monkeypatch, offline):
    subset = BEHAVIOUR / "naturalstories_processed_wordinfo_subset.tsv"
    place_in_cache(monkeypatch, "futrell2018", "processed_wordinfo", subset, subset=True)
    recording = load("futrell2018")
    table = pd.read_csv(subset, sep="\t", keep_default_na=False)
    table = table.sort_values(["item", "zone"]).reset_index(drop=True)
    assert recording.meta["name"] == "futrell2018"
    assert recording.samples["word"].tolist() == table["word"].astype(str).tolist()
    np.testing.assert_allclose(recording.data[:, 0], table["meanItemRT"], rtol=1e-6)


@needs_shared
def test_futrell2018_full_file_with_the_published_checksum(monkeypatch, offline):
    source = SHARED / SHARED_COPIES[("futrell2018", "processed_wordinfo")]
    place_in_cache(monkeypatch, "futrell2018", "processed_wordinfo", source, subset=False)
    recording = load("futrell2018")
    assert recording.data.shape == (10256, 1)
    assert recording.samples["story"].nunique() == 10


@pytest.mark.parametrize("name", sorted(WORD_PAIRS))
def test_word_pair_subsets_through_the_offline_fetch_path(monkeypatch, offline, name):
    file, _ = WORD_PAIRS[name]
    place_in_cache(monkeypatch, name, "pairs", BEHAVIOUR / file, subset=True)
    recording = load(name)
    first = re.split(r"\s+", (BEHAVIOUR / file).read_text().splitlines()[0].strip())
    assert recording.data.shape == (25, 1)
    assert recording.samples[["word1", "word2"]].iloc[0].tolist() == first[:2]
    assert recording.data[0, 0] == pytest.approx(float(first[-1]))
    assert recording.meta["name"] == name


@needs_shared
@pytest.mark.parametrize("name", sorted(WORD_PAIRS))
def test_word_pairs_full_files_with_the_published_checksums(monkeypatch, offline, name):
    file, n_pairs = WORD_PAIRS[name]
    place_in_cache(monkeypatch, name, "pairs", SHARED / "word_similarity" / file, subset=False)
    assert load(name).data.shape == (n_pairs, 1)


def test_glasgow_norms_subset_through_the_offline_fetch_path(monkeypatch, offline):
    place_in_cache(
        monkeypatch, "glasgow-norms", "norms", BEHAVIOUR / "GlasgowNorms_subset.csv", subset=True
    )
    recording = load("glasgow-norms")
    assert recording.data.shape == (70, 27)
    assert recording.select(statistic="mean").data.shape == (70, 9)


@needs_shared
def test_glasgow_norms_full_file(monkeypatch, offline):
    source = SHARED / SHARED_COPIES[("glasgow-norms", "norms")]
    place_in_cache(monkeypatch, "glasgow-norms", "norms", source, subset=False)
    assert load("glasgow-norms").data.shape == (5553, 27)


def test_things_concepts_subsets_through_the_offline_fetch_path(monkeypatch, offline):
    place_in_cache(
        monkeypatch,
        "things-concepts",
        "concepts",
        BEHAVIOUR / "things_concepts_subset.tsv",
        subset=True,
    )
    place_in_cache(
        monkeypatch,
        "things-concepts",
        "animacy",
        BEHAVIOUR / "things_animacy_subset.csv",
        subset=True,
    )
    concepts = load("things-concepts")
    assert concepts.data.shape[0] == 40 and concepts.samples["stimulus_id"].iloc[0] == "aardvark"
    animacy = load("things-concepts", table="animacy")
    assert animacy.data.shape[0] == 40 and "lives_mean" in animacy.units.iloc[:, 0].tolist()
    with pytest.raises(NotInCacheError, match="size_fixed.csv"):
        load("things-concepts", table="size")


@needs_shared
def test_things_concepts_full_files(monkeypatch, offline):
    for key in ("concepts", "animacy", "size"):
        source = SHARED / SHARED_COPIES[("things-concepts", key)]
        place_in_cache(monkeypatch, "things-concepts", key, source, subset=False)
    assert load("things-concepts", table="size").data.shape[0] == 1854
    assert set(fetch("things-concepts")) == {"concepts", "animacy", "size"}


def test_offline_missing_file_names_file_path_and_url(offline):
    remote = info("simlex999").files["pairs"]
    with pytest.raises(NotInCacheError) as caught:
        load("simlex999")
    message = str(caught.value)
    assert remote.url in message and str(cache_path(remote)) in message
    assert "EN-SIMLEX-999.txt" in message
    with pytest.raises(NotInCacheError, match="assy_Pereira2018_auditory.nc"):
        fetch("pereira2018")


def test_offline_cached_file_with_the_wrong_bytes_is_refused(offline):
    remote = info("men3k").files["pairs"]
    target = cache_path(remote)
    target.parent.mkdir(parents=True)
    target.write_bytes((BEHAVIOUR / "EN-MEN-TR-3k.txt").read_bytes())  # a subset: wrong hash
    with pytest.raises(ChecksumMismatchError, match="expected 888b1358"):
        load("men3k")


# ----------------------------------------------------------------------------- Brain-Score


def _assembly_bytes(tmp_path, array: xr.DataArray) -> bytes:
    """Bytes of ``array`` written as brainio's write_netcdf does (reset MultiIndex, h5netcdf)."""
    path = tmp_path / "written.nc"
    array.reset_index(["presentation", "neuroid"]).to_netcdf(path, engine="h5netcdf")
    return path.read_bytes()


def _pereira_like(rng: np.random.Generator) -> tuple[xr.DataArray, np.ndarray]:
    """6 sentences (2 experiments) x 5 voxels of 2 subjects; subject 2 only did experiment 1."""
    experiment = ["384sentences"] * 4 + ["243sentences"] * 2
    presentation = pd.MultiIndex.from_arrays(
        [
            [f"384.{i}" for i in range(4)] + [f"243.{i}" for i in range(2)],
            [f"Sentence number {i}." for i in range(6)],
            [1, 1, 2, 2, 1, 1],
            ["beekeeping", "beekeeping", "dog", "dog", "ice", "ice"],
            experiment,
        ],
        names=["stimulus_id", "stimulus", "passage_index", "passage_label", "experiment"],
    )
    neuroid = pd.MultiIndex.from_arrays(
        [
            ["018"] * 3 + ["199"] * 2,
            [10, 11, 12, 10, 11],
            ["language"] * 5,
            ["LH_AntTemp", "LH_PostTemp", "LH_IFG", "LH_AntTemp", "LH_IFG"],
            [
                f"{s}.{v}"
                for s, v in [("018", 10), ("018", 11), ("018", 12), ("199", 10), ("199", 11)]
            ],
        ],
        names=["subject", "voxel_num", "atlas", "roi", "neuroid_id"],
    )
    values = rng.standard_normal((6, 5))
    values[4:, 3:] = np.nan  # subject 199 did not see experiment 243sentences
    coords = xr.Coordinates.from_pandas_multiindex(presentation, "presentation")
    coords = coords.merge(xr.Coordinates.from_pandas_multiindex(neuroid, "neuroid")).coords
    array = xr.DataArray(
        values,
        dims=("presentation", "neuroid"),
        coords=coords,
        attrs={"identifier": "Pereira2018.language"},
    )
    return array, values


def test_pereira2018_download_with_sha1_and_experiment_selection(tmp_path, monkeypatch, server):
    array, values = _pereira_like(np.random.default_rng(0))
    data = _assembly_bytes(tmp_path, array)
    remote = serve_entry_file(monkeypatch, server, "pereira2018", "language", data)
    assert remote.algorithm == "sha1"

    recording = load("pereira2018", experiment="243sentences")
    assert server.requests == [("/assy_Pereira2018_language.nc", "")]
    assert isinstance(recording, Recording) and recording.meta["name"] == "pereira2018"
    np.testing.assert_allclose(recording.data, values[4:, :3], rtol=1e-6)
    assert recording.units["subject"].tolist() == ["018"] * 3
    assert recording.meta["dropped_neuroids"] == ["199.10", "199.11"]
    assert recording.samples["passage_label"].tolist() == ["ice", "ice"]

    both = load("pereira2018", experiment="384sentences")
    np.testing.assert_allclose(both.data, values[:4], rtol=1e-6)
    assert both.units["roi"].tolist() == ["LH_AntTemp", "LH_PostTemp", "LH_IFG"] * 1 + [
        "LH_AntTemp",
        "LH_IFG",
    ]
    assert len(server.requests) == 1, "the second load must come from the verified cache"

    with pytest.raises(AssemblyFormatError, match=r"experiment= one of \['243sentences'"):
        load("pereira2018")
    with pytest.raises(AssemblyFormatError, match="experiment='999sentences' not found"):
        load("pereira2018", experiment="999sentences")


@pytest.mark.parametrize(
    ("name", "key", "query"),
    [
        ("blank2014", "fROI", "versionId=qM.uLV8ltOHM297r2SaGteYMX4Vy.oHB"),
        ("fedorenko2016", "language", "versionId=qvB7YZfEjbXEE64bODNLlQlZKWGpgPhy"),
        ("tuckute2024", "language", "versionId=BB.DbwqLB4OhDR64duqojNdL0CRd4RmG"),
    ],
)
def test_brainscore_assemblies_are_fetched_and_read(
    tmp_path, monkeypatch, server, name, key, query
):
    rng = np.random.default_rng(1)
    presentation = pd.MultiIndex.from_arrays(
        [[f"s{i}" for i in range(8)], [f"sentence {i}" for i in range(8)]],
        names=["stimulus_id", "stimulus"],
    )
    neuroid = pd.MultiIndex.from_arrays(
        [["1", "2", "3"], ["s1", "s1", "s2"]], names=["neuroid_id", "subject"]
    )
    coords = xr.Coordinates.from_pandas_multiindex(presentation, "presentation")
    coords = coords.merge(xr.Coordinates.from_pandas_multiindex(neuroid, "neuroid")).coords
    values = rng.standard_normal((8, 3))
    array = xr.DataArray(values, dims=("presentation", "neuroid"), coords=coords)
    serve_entry_file(monkeypatch, server, name, key, _assembly_bytes(tmp_path, array))

    paths = fetch(name)
    assert server.requests[0][1] == query
    assert paths[key] == cache_path(info(name).files[key])
    recording = load(name)
    assert recording.meta["name"] == name
    np.testing.assert_allclose(recording.data, values, rtol=1e-6)
    assert recording.stimuli.table["stimulus_id"].tolist() == [f"s{i}" for i in range(8)]
    assert len(server.requests) == 1


def test_served_bytes_differing_from_the_sha1_are_refused(tmp_path, monkeypatch, server):
    serve_entry_file(monkeypatch, server, "tuckute2024", "language", b"the published bytes")
    server.files["/assy_Tuckute2024_language.nc"] = b"other bytes, same size!"[:19]
    with pytest.raises(ChecksumMismatchError, match="expected sha1"):
        fetch("tuckute2024")
    assert not cache_path(info("tuckute2024").files["language"]).exists()


# ----------------------------------------------------------------------------- OpenNeuro


def _hf5_bytes(tmp_path, data: np.ndarray, name: str = "data") -> bytes:
    """An .hf5 as in ds003020 preprocessed_data: one dataset 'data', (n_TRs, n_voxels)."""
    path = tmp_path / "story.hf5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset(name, data=data)
    return path.read_bytes()


def _textgrid_bytes(words: list[tuple[float, float, str]]) -> bytes:
    """A Praat long-format TextGrid with a 'phone' and a 'word' tier, as in ds003020."""
    xmax = words[-1][1]

    def tier(name: str, intervals: list[tuple[float, float, str]]) -> list[str]:
        lines = [
            '        class = "IntervalTier"',
            f'        name = "{name}"',
            "        xmin = 0",
            f"        xmax = {xmax}",
            f"        intervals: size = {len(intervals)}",
        ]
        for i, (start, stop, text) in enumerate(intervals, 1):
            lines += [
                f"        intervals [{i}]:",
                f"            xmin = {start}",
                f"            xmax = {stop}",
                f'            text = "{text}"',
            ]
        return lines

    phones = [(start, stop, "AH0") for start, stop, _ in words]
    lines = [
        'File type = "ooTextFile"',
        'Object class = "TextGrid"',
        "",
        "xmin = 0",
        f"xmax = {xmax}",
        "tiers? <exists>",
        "size = 2",
        "item []:",
        "    item [1]:",
        *tier("phone", phones),
        "    item [2]:",
        *tier("word", words),
    ]
    return ("\n".join(lines) + "\n").encode()


LEBEL_WORDS = [
    (0.0, 1.2, "sp"),
    (1.2, 1.5, "so"),
    (1.5, 1.9, "i"),
    (1.9, 2.0, ""),
    (2.0, 2.6, "{LG}"),
    (2.6, 3.1, "went"),
    (3.1, 3.3, "sentence_end"),
    (3.3, 4.0, "home"),
]


def test_lebel2023_hf5_and_textgrid_through_the_download_path(tmp_path, monkeypatch, server):
    rng = np.random.default_rng(2)
    values = rng.standard_normal((12, 5))
    serve_new_entry_file(
        monkeypatch,
        server,
        "lebel2023",
        "UTS01_bluehope",
        _hf5_bytes(tmp_path, values),
        like="UTS01_cocoonoflove",
        path="/openneuro.org/ds003020/derivative/preprocessed_data/UTS01/bluehope.hf5",
    )
    remote = serve_entry_file(
        monkeypatch, server, "lebel2023", "textgrid_bluehope", _textgrid_bytes(LEBEL_WORDS)
    )
    assert remote.algorithm == "md5"

    recording = load("lebel2023", subject="UTS01", story="bluehope")
    assert recording.sampling == "continuous" and recording.tr == pytest.approx(2.0045)
    np.testing.assert_allclose(recording.data, values, rtol=1e-6)
    np.testing.assert_allclose(recording.sample_times, 10.0 + 2.0045 * np.arange(12))
    assert recording.samples["story"].unique().tolist() == ["bluehope"]
    assert recording.units["subject"].unique().tolist() == ["UTS01"]
    assert recording.units["voxel"].tolist() == list(range(5))
    words = recording.stimuli.table
    assert words["text"].tolist() == ["so", "i", "went", "home"]
    np.testing.assert_allclose(words["onset"], [1.2, 1.5, 2.6, 3.3])
    np.testing.assert_allclose(words["duration"], [0.3, 0.4, 0.5, 0.7])
    assert words["group"].unique().tolist() == ["bluehope"]
    assert {path for path, _ in server.requests} == {
        "/openneuro.org/ds003020/derivative/preprocessed_data/UTS01/bluehope.hf5",
        "/openneuro.org/ds003020/derivative/TextGrids/bluehope.TextGrid",
    }

    authors = load("lebel2023", subject="UTS01", story="bluehope", tr=2.0)
    np.testing.assert_allclose(authors.sample_times, 10.0 + 2.0 * np.arange(12))
    assert len(server.requests) == 2, "the second load must come from the verified cache"


def test_lebel2023_listed_story_without_textgrid_and_bad_files(tmp_path, monkeypatch, server):
    values = np.random.default_rng(3).standard_normal((6, 4)).astype(np.float32)
    values[2, 1] = np.nan
    serve_entry_file(
        monkeypatch, server, "lebel2023", "UTS01_cocoonoflove", _hf5_bytes(tmp_path, values)
    )
    with pytest.raises(LebelFormatError, match=r"cocoonoflove.hf5: 1 NaN.*nan_to_zero=True"):
        load("lebel2023")
    recording = load("lebel2023", nan_to_zero=True)
    assert recording.data[2, 1] == 0 and len(recording.stimuli) == 0
    np.testing.assert_array_equal(np.delete(recording.data, 1, axis=1), np.delete(values, 1, 1))

    with pytest.raises(CatalogueError, match=r"story='nope' is not among the listed files"):
        load("lebel2023", story="nope")
    with pytest.raises(CatalogueError, match=r"unknown option\(s\) \['foo'\]"):
        load("lebel2023", foo=1)

    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "resp.hf5").write_bytes(_hf5_bytes(wrong, values, name="resp"))
    with pytest.raises(LebelFormatError, match=r"no dataset 'data' \(found \['resp'\]\)"):
        read_lebel_responses(wrong / "resp.hf5", subject="UTS01", story="x")
    (wrong / "cube.hf5").write_bytes(_hf5_bytes(wrong, np.zeros((2, 3, 4))))
    with pytest.raises(LebelFormatError, match=r"shape \(2, 3, 4\).*\(n_TRs, n_voxels\)"):
        read_lebel_responses(wrong / "cube.hf5", subject="UTS01", story="x")
    (wrong / "text.hf5").write_text("not hdf5")
    with pytest.raises(LebelFormatError, match="not a readable HDF5 file"):
        read_lebel_responses(wrong / "text.hf5", subject="UTS01", story="x")


#: sub-022_task-tunnel_events.tsv exactly as published (OpenNeuroDatasets/ds002345).
TUNNEL_EVENTS = b"onset\tduration\ttrial_type\tstim_file\n3.0\t1534.0\tstory\ttunnel_audio.wav\n"


def _bold_bytes(tmp_path, n_volumes: int = 10) -> tuple[bytes, np.ndarray]:
    """A small 4D .nii.gz (TR 1.5 s in the header) with a bright 'brain' block."""
    rng = np.random.default_rng(4)
    data = rng.normal(10.0, 1.0, size=(12, 12, 10, n_volumes)).astype(np.float32)
    data[2:10, 2:10, 1:9] += rng.uniform(800.0, 1200.0, size=(8, 8, 8, 1)).astype(np.float32)
    image = nib.Nifti1Image(data, np.diag([3.0, 3.0, 3.0, 1.0]))
    image.header.set_zooms((3.0, 3.0, 3.0, 1.5))
    image.header.set_xyzt_units("mm", "sec")
    path = tmp_path / "bold.nii.gz"
    image.to_filename(path)
    return path.read_bytes(), data


def test_narratives_run_with_the_published_events_file(tmp_path, monkeypatch, server):
    events = info("narratives").files["sub-022_tunnel_events"]
    assert hashlib.sha256(TUNNEL_EVENTS).hexdigest() == events.sha256
    assert events.size == len(TUNNEL_EVENTS)
    bold, data = _bold_bytes(tmp_path)
    serve_entry_file(monkeypatch, server, "narratives", "sub-022_tunnel_bold", bold)
    server.files["/openneuro.org/ds002345/sub-022/func/sub-022_task-tunnel_events.tsv"] = (
        TUNNEL_EVENTS
    )
    monkeypatch.setitem(
        registry.REGISTRY,
        "narratives",
        dataclasses.replace(
            info("narratives"),
            files={
                **info("narratives").files,
                "sub-022_tunnel_events": dataclasses.replace(
                    events,
                    url=server.base
                    + "/openneuro.org/ds002345/sub-022/func/sub-022_task-tunnel_events.tsv",
                ),
            },
        ),
    )

    recording = load("narratives")  # published events bytes, published SHA-256
    assert recording.tr == pytest.approx(1.5) and recording.n_samples == 10
    epi_mask = compute_epi_mask(tmp_path / "bold.nii.gz").get_fdata() > 0  # the reference
    assert 0 < recording.n_units == epi_mask.sum() and not epi_mask[0, 0, 0]
    np.testing.assert_allclose(recording.data, data[epi_mask].T, rtol=1e-6)
    np.testing.assert_allclose(recording.sample_times, 1.5 * np.arange(10))
    assert recording.units["subject"].unique().tolist() == ["sub-022"]
    story = recording.stimuli.table
    assert story["onset"].tolist() == [3.0] and story["duration"].tolist() == [1534.0]
    assert recording.meta["licence"] == "CC0" and recording.meta["task"] == "tunnel"

    mask = np.zeros((12, 12, 10), dtype=np.uint8)
    mask[0, 0, 0] = mask[3, 3, 3] = 1
    mask_path = tmp_path / "mask.nii.gz"
    nib.Nifti1Image(mask, np.diag([3.0, 3.0, 3.0, 1.0])).to_filename(mask_path)
    two = load("narratives", masker=mask_path)
    np.testing.assert_allclose(two.data, data[[0, 3], [0, 3], [0, 3]].T, rtol=1e-6)
    assert {path for path, _ in server.requests} == {
        "/openneuro.org/ds002345/sub-022/func/sub-022_task-tunnel_bold.nii.gz",
        "/openneuro.org/ds002345/sub-022/func/sub-022_task-tunnel_events.tsv",
    }
    assert len(server.requests) == 2


def test_openneuro_files_keep_their_git_annex_md5(monkeypatch, server):
    lebel = info("lebel2023").files
    assert lebel["UTS01_cocoonoflove"].md5 == "63230548f784281336f8bedadffedaf8"
    assert lebel["textgrid_bluehope"].size == 1153885
    assert info("narratives").files["sub-022_tunnel_bold"].md5 == (
        "cb12fb8487d395a304d82e656ed230b3"
    )
    payload = hashlib.sha256(b"narratives").digest() * 100
    remote = serve_entry_file(monkeypatch, server, "narratives", "tunnel_audio", payload)
    assert remote.algorithm == "md5"
    assert fetch("narratives", files=["tunnel_audio"])["tunnel_audio"].read_bytes() == payload
    serve_entry_file(monkeypatch, server, "lebel2023", "textgrid_bluehope", b"published")
    server.files["/openneuro.org/ds003020/derivative/TextGrids/bluehope.TextGrid"] = b"other!!!!"
    with pytest.raises(ChecksumMismatchError, match="expected md5"):
        fetch("lebel2023", files=["textgrid_bluehope"])


# ----------------------------------------------------------------------------- other access


def test_a_download_only_entry_fetches_but_does_not_load(monkeypatch, server):
    entry = dataclasses.replace(info("narratives"), access="download-only", loader=None)
    monkeypatch.setitem(registry.REGISTRY, "narratives", entry)
    payload = b"audio" * 50
    serve_entry_file(monkeypatch, server, "narratives", "tunnel_audio", payload)
    assert fetch("narratives", files=["tunnel_audio"])["tunnel_audio"].read_bytes() == payload
    with pytest.raises(CatalogueError, match=r"narratives has no loader.*fetch\('narratives'\)"):
        load("narratives")


@pytest.mark.parametrize("name", ["nsd", "things-eeg2", "meg-masc"])
def test_local_path_entries_explain_how_to_get_the_data(tmp_path, name):
    with pytest.raises(CatalogueError, match=rf"load\('{name}', path=\.\.\.\)") as caught:
        load(name)
    assert info(name).how_to_get in str(caught.value)
    with pytest.raises(CatalogueError, match="not downloadable by brainalign"):
        fetch(name)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load(name, path=tmp_path / "missing")
    with pytest.raises(CatalogueError, match="no reader|pass subject= and task="):
        load(name, path=tmp_path)


def test_nsd_mentions_the_data_use_agreement():
    with pytest.raises(CatalogueError, match="Terms and Conditions"):
        load("nsd")


# ----------------------------------------------------------------------------- RemoteFile checksums


def test_remote_file_takes_exactly_one_checksum_of_the_right_length():
    url, name = "https://example.org/x.nc", "x.nc"
    assert RemoteFile(url=url, sha1="AB" * 20, filename=name).digest == "ab" * 20
    assert RemoteFile(url=url, md5="0" * 32, filename=name).algorithm == "md5"
    with pytest.raises(ValueError, match="exactly one checksum"):
        RemoteFile(url=url, filename=name)
    with pytest.raises(ValueError, match="exactly one checksum"):
        RemoteFile(url=url, sha256="0" * 64, sha1="0" * 40, filename=name)
    with pytest.raises(ValueError, match="sha1='abc'.*not 40 hex digits"):
        RemoteFile(url=url, sha1="abc", filename=name)
    with pytest.raises(ValueError, match="filename=None"):
        RemoteFile(url=url, sha1="0" * 40)


def test_sha1_verified_record_is_reused_offline(tmp_path, monkeypatch, server):
    remote = serve_entry_file(monkeypatch, server, "blank2014", "fROI", b"abc" * 1000)
    path = fetch("blank2014")["fROI"]
    record = path.with_name(path.name + ".verified").read_text()
    assert remote.sha1 in record and "sha256" not in record
    monkeypatch.setenv("BRAINALIGN_OFFLINE", "1")
    assert fetch("blank2014")["fROI"] == path and len(server.requests) == 1
