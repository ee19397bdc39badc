"""A user's own study, scored through the same path as the registered benchmarks.

Real data: the Kriegeskorte 2008 images (first 12 of 92, from the published .mat) with
the human-IT RDMs restricted to them, as an RSA study; the 78 Algonauts 2019 images
(tests/data/algonauts2019_78) as an event study whose responses the test builds from a
tiny ViT's features (planted signal, NaN-padded repeats); the published SimLex-999 file
and a Glasgow Norms subset as ratings studies. Reference numbers are recomputed the
plain way (encoder features, numpy/scipy statistics).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from brainalign.benchmarks.study import Study, StudyInputError
from brainalign.datasets.behaviour import read_rdms
from brainalign.datasets.loaders import read_kriegeskorte_images
from brainalign.datasets.recording import Recording
from brainalign.results import RESULT_COLUMNS, validate_results
from brainalign.stimuli import Stimuli

DATA = Path(__file__).resolve().parents[1] / "data"
ALGONAUTS = DATA / "algonauts2019_78"
KRIEGESKORTE = DATA / "kriegeskorte2008_92"
SIMLEX = DATA / "word_similarity" / "EN-SIMLEX-999.txt"
GLASGOW = DATA / "behaviour" / "GlasgowNorms_subset.csv"

# The image folder also holds its SOURCE.txt, left out with a warning (tested below).
pytestmark = pytest.mark.filterwarnings("ignore:stimuli folder .* not images:UserWarning")


def _vit_features(model_dir, paths, layer):
    from brainalign.encoders.vision import VisionEncoder

    encoder = VisionEncoder(str(model_dir), pooling="mean")
    features = encoder.encode_images([str(p) for p in paths], layers=[layer])
    return np.asarray(features[str(layer)], dtype=np.float64)


# ----------------------------------------------------------------------------- event ridge


@pytest.fixture(scope="module")
def planted(tiny_vit_dir):
    """78 images; 12 units driven by layer 2 of the tiny ViT, 4 repeats (unequal counts)."""
    paths = sorted(ALGONAUTS.glob("*.jpg"))
    X = _vit_features(tiny_vit_dir, paths, 2)
    X = (X - X.mean(0)) / X.std(0)
    rng = np.random.default_rng(7)
    signal = X @ rng.normal(size=(X.shape[1], 12))
    signal /= signal.std(0)
    repeats = signal[:, :, None] + 0.8 * rng.normal(size=(len(paths), 12, 4))
    repeats[::5, :3, 3] = np.nan  # some units miss the last presentation of some images
    return paths, repeats


def test_event_study_recovers_planted_signal_with_ceiling_from_repeats(
    tiny_vit_dir, planted, tmp_path
):
    from brainalign.alignment.ceiling import ceiling_from_reliability, split_half_reliability

    paths, repeats = planted
    np.save(tmp_path / "responses.npy", repeats)
    (tmp_path / "study.yaml").write_text(
        f"name: algonauts-planted\nstimuli: {ALGONAUTS}\nresponses: responses.npy\n"
        "sampling: event\noptions: {ceiling_splits: 50}\n"
    )
    study = Study.from_yaml(tmp_path / "study.yaml")
    assert study.recording.n_repeats == 4 and study.modality == "image"
    rows = study.benchmark().run(str(tiny_vit_dir), seed=3)
    validate_results(rows)
    assert list(rows.columns[: len(RESULT_COLUMNS)]) == list(RESULT_COLUMNS)
    assert set(rows["benchmark"]) == {"algonauts-planted@1"}
    model = rows[(rows["weights"] == "pretrained") & (rows["control"] == "")]
    by_layer = model.groupby("layer")["score"].median()
    control = rows[rows["control"] == "random-stimulus-features"]["score"].median()
    assert by_layer[2] > 0.6 and by_layer[2] > control + 0.4
    # the ceiling: sqrt of the split-half reliability of every unit's repeats
    expected = ceiling_from_reliability(split_half_reliability(repeats, n_splits=50, seed=0))
    ceilings = model[model["layer"] == 2].sort_values("unit", key=lambda u: u.astype(int))
    np.testing.assert_allclose(ceilings["ceiling"].to_numpy(), expected, rtol=1e-6)
    assert (ceilings["ceiling_flag"] == "ok").all()


def test_event_study_in_python_equals_yaml_and_scores_like_a_manual_pipeline(tiny_vit_dir, planted):
    from sklearn.model_selection import KFold

    from brainalign.alignment.encoding import cross_validated_encoding

    paths, repeats = planted
    study = Study("planted-python", stimuli=str(ALGONAUTS), responses=repeats, sampling="event")
    rows = study.benchmark().run(str(tiny_vit_dir), layers=[1], untrained_twin=False, seed=5)
    model = rows[rows["control"] == ""]
    X = _vit_features(tiny_vit_dir, paths, 1)
    Y = np.nanmean(repeats, axis=2)
    manual = cross_validated_encoding(
        X,
        Y,
        delays=(0,),
        cv=KFold(5, shuffle=True, random_state=5),
        inner_cv=KFold(5, shuffle=True, random_state=5),
        sampling="event",
    ).scores
    np.testing.assert_allclose(model["score"].to_numpy(), manual, rtol=1e-5, atol=1e-6)


def test_event_study_without_repeats_has_no_ceiling(tiny_vit_dir, planted):
    paths, repeats = planted
    study = Study(
        "no-repeats", stimuli=str(ALGONAUTS), responses=repeats[:, :, 0], sampling="event"
    )
    assert "none" in study.describe_ceiling()
    rows = study.benchmark().run(str(tiny_vit_dir), layers=[2], untrained_twin=False)
    assert rows["ceiling"].isna().all() and (rows["ceiling_flag"] == "none").all()


def test_images_from_a_zip_equal_the_folder(tiny_vit_dir, planted, tmp_path):
    paths, repeats = planted
    archive = tmp_path / "images.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in paths:
            handle.write(path, arcname=f"stimuli/{path.name}")
    from_zip = Study("zipped", stimuli=archive, responses=repeats, sampling="event")
    with pytest.warns(UserWarning, match=r"not images are left out \(SOURCE.txt\)"):
        from_folder = Study("zipped", stimuli=ALGONAUTS, responses=repeats, sampling="event")
    assert from_zip.stimuli.stimulus_ids.tolist() == [p.stem for p in paths]
    options = {"layers": [2], "untrained_twin": False}
    a = from_zip.benchmark().run(str(tiny_vit_dir), **options)
    b = from_folder.benchmark().run(str(tiny_vit_dir), **options)
    np.testing.assert_allclose(a["score"], b["score"], atol=1e-6)


# ----------------------------------------------------------------------------- RSA


@pytest.fixture(scope="module")
def kriegeskorte12(tmp_path_factory):
    """The first 12 Kriegeskorte images as PNGs, and the 8 human-IT RDMs over them."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("kriegeskorte12")
    images, _ = read_kriegeskorte_images(KRIEGESKORTE / "kriegeskorte2008_stimuli_first12.mat")
    (folder / "images").mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / "images" / f"image{i:02d}.png")
    rdms = read_rdms(KRIEGESKORTE / "92_brainRDMs.mat")
    squares = rdms.matrices()[:, :12, :12]
    np.savez(folder / "hit_rdms.npz", **{f"rdm{i}": square for i, square in enumerate(squares)})
    return folder, squares, rdms


def test_rsa_study_of_the_92_images_matches_plain_rsa(tiny_vit_dir, kriegeskorte12):
    from scipy.spatial.distance import squareform

    from brainalign.alignment.rsa import rdm_noise_ceiling

    folder, squares, _ = kriegeskorte12
    (folder / "study.yaml").write_text(
        "name: hit-12\nstimuli: images\nrdms: hit_rdms.npz\nanalysis: rsa\n"
        "options: {dissimilarity: correlation, comparison: spearman}\n"
    )
    study = Study.from_yaml(folder / "study.yaml")
    rows = study.benchmark().run(str(tiny_vit_dir), untrained_twin=False)
    validate_results(rows)
    condensed = np.stack([squareform(s, checks=False) for s in squares])
    paths = sorted((folder / "images").glob("*.png"))
    for layer in (0, 1, 2):
        model_rdm = squareform(
            1 - np.corrcoef(_vit_features(tiny_vit_dir, paths, layer)), checks=False
        )
        expected = [spearmanr(model_rdm, data).statistic for data in condensed]
        got = rows[(rows["layer"] == layer) & (rows["control"] == "")]["score"].to_numpy()
        np.testing.assert_allclose(got, expected, atol=1e-6)
    lower, upper = rdm_noise_ceiling(condensed, "spearman")
    np.testing.assert_allclose(rows["ceiling"].dropna().unique(), [upper])
    np.testing.assert_allclose(rows["ceiling_lower"].dropna().unique(), [lower])
    assert set(rows["metric"]) == {"spearman_r"}


def test_rsa_study_from_a_python_rdm_set_keeps_subjects_and_sessions(tiny_vit_dir, kriegeskorte12):
    folder, _, rdms = kriegeskorte12
    from brainalign.datasets.behaviour import RDMSet

    subset = RDMSet(
        np.stack([_sub(square) for square in rdms.matrices()]),
        rdms.descriptors,
        rdms.conditions.iloc[:12].reset_index(drop=True),
    )
    study = Study("hit-12-sessions", stimuli=folder / "images", rdms=subset)
    rows = study.benchmark().run(str(tiny_vit_dir), layers=[2], untrained_twin=False)
    model = rows[rows["control"] == ""]
    assert len(model) == 8 and model["session"].notna().all()
    assert sorted(model["subject"].unique()) == sorted(rdms.descriptors["subject"].unique())


def _sub(square):
    from scipy.spatial.distance import squareform

    return squareform(square[:12, :12], checks=False)


# ----------------------------------------------------------------------------- ratings


def test_word_pair_ratings_study_matches_plain_cosines(tiny_bert_dir, tmp_path):
    from brainalign.encoders.text import TextEncoder

    pairs = tmp_path / "my_pairs.txt"
    pairs.write_text("".join(SIMLEX.read_text().splitlines(keepends=True)[:81]))
    study = Study("my-pairs", ratings=pairs)
    rows = study.benchmark().run(str(tiny_bert_dir), layers=[0, 2])
    validate_results(rows)
    table = pd.read_csv(pairs, sep="\t", header=None)
    words = list(dict.fromkeys([*table.iloc[:, 0], *table.iloc[:, 1]]))
    features = TextEncoder(str(tiny_bert_dir), pooling="mean").extract(
        words, context="isolated", level="sentence", layers=[0, 2]
    )
    index = {w: i for i, w in enumerate(words)}
    for layer in (0, 2):
        F = np.asarray(features[str(layer)], dtype=np.float64)
        a, b = F[[index[w] for w in table.iloc[:, 0]]], F[[index[w] for w in table.iloc[:, 1]]]
        cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
        expected = spearmanr(cosine, table.iloc[:, 2]).statistic
        got = rows[
            (rows["layer"] == layer) & (rows["weights"] == "pretrained") & (rows["control"] == "")
        ]["score"]
        assert got.item() == pytest.approx(expected, abs=1e-6)
    assert set(rows["control"]) == {"", "random-word-vectors"}
    assert set(rows["weights"]) == {"pretrained", "untrained", ""}


def test_norms_ratings_study_from_yaml_with_reliability_ceiling(tiny_bert_dir, tmp_path):
    from brainalign.benchmarks.norms import reliability_ceiling

    (tmp_path / "norms.yaml").write_text(
        f"name: my-norms\nratings:\n  norms: {GLASGOW}\n  id_column: word\n"
        "  measures: [VAL_M, CNC_M]\n  sd_suffix: _SD\n  n_suffix: _N\n"
        "options: {n_splits: 3}\n".replace("_M]", "_M]")
    )
    text = (tmp_path / "norms.yaml").read_text().replace("sd_suffix: _SD", "sd_suffix: _SD")
    (tmp_path / "norms.yaml").write_text(text)
    with pytest.raises(StudyInputError, match="no column"):
        Study.from_yaml(tmp_path / "norms.yaml")  # VAL_M_SD does not exist: suffix of the stem
    (tmp_path / "norms.yaml").write_text(
        f"name: my-norms\nratings:\n  norms: {GLASGOW}\n  id_column: word\n"
        "  measures: [VAL, CNC]\n  sd_suffix: _SD\n  n_suffix: _N\noptions: {n_splits: 3}\n"
    )
    table = pd.read_csv(GLASGOW, encoding="utf-8-sig")
    table = table.rename(columns={"VAL_M": "VAL", "CNC_M": "CNC"})
    renamed = tmp_path / "glasgow.csv"
    table.to_csv(renamed, index=False)
    text = (tmp_path / "norms.yaml").read_text().replace(str(GLASGOW), "glasgow.csv")
    (tmp_path / "norms.yaml").write_text(text)
    study = Study.from_yaml(tmp_path / "norms.yaml")
    rows = study.benchmark().run(str(tiny_bert_dir), layers=[2], untrained_twin=False)
    validate_results(rows)
    expected = reliability_ceiling(
        table[["VAL", "CNC"]].to_numpy(float),
        table[["VAL_SD", "CNC_SD"]].to_numpy(float),
        table[["VAL_N", "CNC_N"]].to_numpy(float),
    )
    got = rows.drop_duplicates("unit").set_index("unit")["ceiling"]
    np.testing.assert_allclose(got[["VAL", "CNC"]].to_numpy(), expected, rtol=1e-6)


# ----------------------------------------------------------------------------- bad input


def _images(tmp_path, n=4):
    folder = tmp_path / "imgs"
    folder.mkdir(exist_ok=True)
    for path in sorted(ALGONAUTS.glob("*.jpg"))[:n]:
        (folder / path.name).write_bytes(path.read_bytes())
    return folder


def test_responses_that_do_not_match_the_stimuli_are_named(tmp_path):
    folder = _images(tmp_path)
    with pytest.raises(StudyInputError, match="5 rows but there are 4 stimuli"):
        Study("bad", stimuli=folder, responses=np.zeros((5, 3)), sampling="event")
    table = pd.DataFrame(
        {"stimulus_id": ["image_01", "image_02", "image_03", "image_99"], "v1": [1.0, 2, 3, 4]}
    )
    table.to_csv(tmp_path / "responses.csv", index=False)
    with pytest.raises(StudyInputError) as error:
        Study("bad", stimuli=folder, responses=tmp_path / "responses.csv", sampling="event")
    assert "image_99" in str(error.value) and "image_04" in str(error.value)


def test_nan_outside_the_repeats_axis_is_located(tmp_path):
    folder = _images(tmp_path)
    data = np.ones((4, 3))
    data[2, 1] = np.nan
    with pytest.raises(StudyInputError, match=r"row 2 \(image_03\), unit 1"):
        Study("bad", stimuli=folder, responses=data, sampling="event")


def test_one_presentation_only_cannot_give_a_split_half(tmp_path):
    folder = _images(tmp_path)
    with pytest.raises(StudyInputError, match="one presentation only"):
        Study("bad", stimuli=folder, responses=np.ones((4, 3, 1)), sampling="event")


def test_sampling_must_be_said_for_arrays(tmp_path):
    with pytest.raises(StudyInputError, match="'event'.*'continuous'"):
        Study("bad", stimuli=_images(tmp_path), responses=np.ones((4, 3)))


def test_a_zip_with_non_images_names_them(tmp_path):
    archive = tmp_path / "mixed.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.write(sorted(ALGONAUTS.glob("*.jpg"))[0], arcname="a.jpg")
        handle.writestr("notes.txt", "not an image")
    with pytest.raises(StudyInputError, match="mixed.zip holds 1 member.*notes.txt"):
        Study("bad", stimuli=archive, responses=np.ones((1, 2)), sampling="event")


def test_yaml_unknown_key_suggests_and_relative_paths_print_resolved(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text("name: mine\nstimulli: imgs\nresponses: r.npy\nsampling: event\n")
    with pytest.raises(StudyInputError) as error:
        Study.from_yaml(path)
    assert "line 2" in str(error.value) and "did you mean 'stimuli'" in str(error.value)
    path.write_text("name: mine\nstimuli: missing_folder\nresponses: r.npy\nsampling: event\n")
    with pytest.raises(StudyInputError) as error:
        Study.from_yaml(path)
    assert str((tmp_path / "missing_folder").resolve()) in str(error.value)
    path.write_text(
        f"name: mine\nstimuli: {_images(tmp_path)}\nresponses: r.npy\n"
        "options: {n_split: 3}\nsampling: event\n"
    )
    np.save(tmp_path / "r.npy", np.ones((4, 2)))
    with pytest.raises(StudyInputError, match="did you mean 'n_splits'"):
        Study.from_yaml(path)


def test_a_study_name_may_not_shadow_a_registered_benchmark(tmp_path):
    with pytest.raises(StudyInputError, match="registered benchmark"):
        Study("simlex999", ratings=SIMLEX)
    with pytest.raises(StudyInputError, match="lower case"):
        Study("My Study", ratings=SIMLEX)


def test_a_recording_with_its_own_stimuli_is_a_study(tmp_path):
    words = [f"word{i}" for i in range(12)]
    stimuli = Stimuli(pd.DataFrame({"stimulus_id": words, "text": words, "group": "g"}))
    recording = Recording(
        np.arange(24.0).reshape(12, 2),
        pd.DataFrame({"stimulus_id": words}),
        pd.DataFrame({"unit": ["u1", "u2"], "subject": "s1"}),
        "event",
        stimuli,
    )
    small = {"n_splits": 3, "inner_splits": 3}
    study = Study("from-recording", responses=recording, options=small)
    assert study.sampling == "event" and study.modality == "text"
    assert study.benchmark().context == "isolated"
    with pytest.raises(StudyInputError, match="sampling='continuous'"):
        Study("from-recording", responses=recording, sampling="continuous", options=small)
    # too few stimuli for the default 5 x 5 folds: said before any model runs
    with pytest.raises(StudyInputError, match="12 stimuli are too few for n_splits=5"):
        Study("from-recording", responses=recording)
    # settings these responses would not use are refused, never dropped
    with pytest.raises(StudyInputError, match="bring their own units"):
        Study("from-recording", responses=recording, units=pd.DataFrame({"u": [1, 2]}))
    with pytest.raises(StudyInputError, match="mask is for NIfTI"):
        Study("from-recording", responses=recording, mask="mask.nii.gz")
    with pytest.raises(StudyInputError, match="tr is for continuous responses"):
        Study(
            "from-recording", stimuli=stimuli, responses=np.ones((12, 2)), sampling="event", tr=2.0
        )


# ----------------------------------------------------------------------------- continuous


def test_a_continuous_study_of_alice_equals_the_registered_benchmark(tiny_bert_dir):
    """The bundled alice2016 recording given as a user's own continuous study scores the
    model exactly as the registered alice2016-encoding benchmark does (same words, same
    resampling, delays, blocked folds and inter-subject ceiling)."""
    from brainalign.benchmarks.registry import get
    from brainalign.datasets.catalogue import load

    recording = load("alice2016", subjects=["s18", "s22", "s24"])
    settings = {"layers": [0, 2], "context_words": 4, "untrained_twin": False}
    study = Study("alice-own", responses=recording)
    assert study.sampling == "continuous" and study.context == "window"
    ours = study.benchmark().run(str(tiny_bert_dir), **settings)
    options = {"subjects": ["s18", "s22", "s24"]}
    theirs = get("alice2016-encoding").run(str(tiny_bert_dir), **settings, options=options)
    keys = ["layer", "subject", "unit"]
    a = ours[ours["control"] == ""].sort_values(keys).reset_index(drop=True)
    b = theirs[theirs["control"] == ""].sort_values(keys).reset_index(drop=True)
    np.testing.assert_allclose(a["score"], b["score"], atol=1e-10)
    np.testing.assert_allclose(a["ceiling"], b["ceiling"], atol=1e-10)
    assert set(ours["control"]) == {"", "word-rate"}


# ----------------------------------------------------------------------------- other formats


def test_nifti_beta_maps_are_read_through_the_fmri_reader(tmp_path):
    from brainalign.datasets.fmri import load_beta_maps

    bold = DATA / "fmri" / "sub-01_task-demo_bold.nii.gz"  # 40 volumes used as 40 beta maps
    mask = DATA / "fmri" / "gm_mask_crop.nii.gz"
    words = pd.DataFrame(
        {"stimulus_id": [f"w{i:02d}" for i in range(40)], "text": [f"word {i}" for i in range(40)]}
    )
    words.to_csv(tmp_path / "words.csv", index=False)
    (tmp_path / "study.yaml").write_text(
        f"name: betas\nstimuli: words.csv\nresponses: {bold}\nmask: {mask}\nsampling: event\n"
    )
    study = Study.from_yaml(tmp_path / "study.yaml")
    expected = load_beta_maps(str(bold), words["stimulus_id"].tolist(), masker=str(mask))
    np.testing.assert_array_equal(study.recording.data, expected.data)
    assert study.recording.n_units == 1032
    (tmp_path / "study.yaml").write_text(
        f"name: betas\nstimuli: words.csv\nresponses: {bold}\nsampling: event\n"
    )
    with pytest.raises(StudyInputError, match="need a mask"):
        Study.from_yaml(tmp_path / "study.yaml")


def test_mne_epochs_become_repeats_averaged_over_a_window(tmp_path):
    import mne

    raw = mne.io.read_raw_bdf(
        DATA / "meeg" / "test_bdf_stim_channel.bdf", preload=True, verbose="error"
    )
    events = mne.find_events(raw, verbose="error")
    epochs = mne.Epochs(
        raw,
        events,
        {"1": 1, "2": 2, "4": 4},
        tmin=-0.1,
        tmax=0.4,
        picks=["C3", "C4", "Cz"],
        baseline=(None, 0),
        preload=True,
        verbose="error",
    )
    stimuli = Stimuli(
        pd.DataFrame(
            {"stimulus_id": ["1", "2", "4"], "text": ["one", "two", "four"], "group": "digits"}
        )
    )
    study = Study(
        "digits-eeg",
        stimuli=stimuli,
        responses=epochs,
        window=[0.1, 0.3],
        analysis="rsa",
        options={"dissimilarity": "euclidean"},
    )
    recording = study.recording
    counts = pd.Series(events[:, 2]).value_counts()
    assert recording.data.ndim == 2 and recording.n_repeats == counts.max() > 1
    keep = (epochs.times >= 0.1) & (epochs.times <= 0.3)
    expected = epochs.get_data()[:, :, keep].mean(axis=2)
    np.testing.assert_allclose(recording.data, expected, rtol=1e-6)
    assert recording.samples["repeat"].tolist() == (
        pd.Series(events[:, 2].astype(str)).groupby(events[:, 2]).cumcount().tolist()
    )
    path = tmp_path / "digits-epo.fif"
    epochs.save(path, verbose="error")
    from_file = Study(
        "digits-eeg",
        stimuli=stimuli,
        responses=path,
        window=[0.1, 0.3],
        analysis="rsa",
        sampling="event",
    )
    np.testing.assert_allclose(from_file.recording.data, recording.data, rtol=1e-6)
    with pytest.raises(StudyInputError, match="give window"):
        Study("digits-eeg", stimuli=stimuli, responses=epochs, analysis="rsa")
    with pytest.raises(StudyInputError, match="holds no time point"):
        Study("digits-eeg", stimuli=stimuli, responses=epochs, window=[2, 3], analysis="rsa")


# ----------------------------------------------------------------------------- text events


@pytest.fixture(scope="module")
def sentences(alice_words):
    """48 eight-word sentences of Alice, in 6 passages of 8 sentences."""
    texts = [" ".join(alice_words[i : i + 8]) for i in range(0, 48 * 8, 8)]
    return pd.DataFrame(
        {
            "stimulus_id": [f"s{i:02d}" for i in range(48)],
            "text": texts,
            "passage": [f"p{i // 8}" for i in range(48)],
        }
    )


def _text_features(model_dir, table, layer, context="isolated"):
    from brainalign.encoders.text import TextEncoder

    stimuli = Stimuli(table.assign(group=table.get("passage", "all")))
    features = TextEncoder(str(model_dir), pooling="mean").extract(
        stimuli, context=context, level="sentence", layers=[layer]
    )
    return np.asarray(features[str(layer)], dtype=np.float64)


def test_a_sentence_study_with_groups_holds_out_whole_passages(tiny_bert_dir, sentences, tmp_path):
    from brainalign.alignment.encoding import cross_validated_encoding

    X = _text_features(tiny_bert_dir, sentences, 2)
    rng = np.random.default_rng(1)
    Y = (X - X.mean(0)) @ rng.normal(size=(X.shape[1], 6)) + 0.3 * rng.normal(size=(48, 6))
    sentences.to_csv(tmp_path / "sentences.csv", index=False)
    units = pd.DataFrame({"subject": ["s1"] * 3 + ["s2"] * 3, "roi": ["LIFG", "LATL", "LPTL"] * 2})
    study = Study(
        "sentences",
        stimuli=tmp_path / "sentences.csv",
        responses=Y,
        units=units,
        sampling="event",
        groups="passage",
    )
    assert study.context == "isolated"  # groups hold out passages; reading stays isolated
    rows = study.benchmark().run(str(tiny_bert_dir), layers=[2], untrained_twin=False, seed=4)
    model = rows[rows["control"] == ""]
    assert model["subject"].tolist() == units["subject"].tolist()
    assert model["unit"].tolist() == units["roi"].tolist()
    expected = cross_validated_encoding(
        X, Y, sampling="event", groups=sentences["passage"], seed=4
    ).scores
    np.testing.assert_allclose(model["score"].to_numpy(), expected, atol=1e-6)
    assert "GroupKFold by 'passage'" in study.benchmark().cross_validation
    passage = Study(
        "sentences",
        stimuli=Stimuli(sentences.assign(group=sentences["passage"])),
        responses=Y,
        sampling="event",
        context="passage",
    )
    assert passage.context == "passage" and "read passage" in passage.benchmark().presentation
    with pytest.raises(StudyInputError, match="no 'group' column"):
        Study(
            "sentences",
            stimuli=tmp_path / "sentences.csv",
            responses=Y,
            sampling="event",
            context="passage",
        )
    with pytest.raises(StudyInputError, match="groups='story' is not a column"):
        Study(
            "sentences",
            stimuli=tmp_path / "sentences.csv",
            responses=Y,
            sampling="event",
            groups="story",
        )


def test_rsa_from_response_patterns_per_subject(tiny_bert_dir, sentences):
    from scipy.spatial.distance import pdist

    from brainalign.alignment.rsa import rdm_noise_ceiling

    rng = np.random.default_rng(2)
    patterns = rng.normal(size=(48, 10, 3))  # 10 units (5 per subject), 3 repeats
    units = pd.DataFrame({"subject": ["s1"] * 5 + ["s2"] * 5})
    study = Study(
        "sentence-rsa",
        stimuli=Stimuli(sentences.assign(group="all")),
        responses=patterns,
        units=units,
        sampling="event",
        analysis="rsa",
    )
    rows = study.benchmark().run(str(tiny_bert_dir), layers=[1], untrained_twin=False)
    mean = patterns.mean(axis=2)
    data = np.stack([pdist(mean[:, :5], "correlation"), pdist(mean[:, 5:], "correlation")])
    model_rdm = pdist(_text_features(tiny_bert_dir, sentences, 1), "correlation")
    model = rows[rows["control"] == ""]
    expected = [spearmanr(model_rdm, d).statistic for d in data]
    np.testing.assert_allclose(model["score"].to_numpy(), expected, atol=1e-6)
    assert model["subject"].tolist() == ["s1", "s2"]
    np.testing.assert_allclose(rows["ceiling"].unique(), [rdm_noise_ceiling(data, "spearman")[1]])


def test_a_continuous_study_in_two_runs_resamples_and_folds_run_by_run(tiny_bert_dir):
    import dataclasses

    from brainalign.alignment.encoding import cross_validated_encoding
    from brainalign.alignment.temporal import lanczos_resample
    from brainalign.datasets.catalogue import load
    from brainalign.encoders.text import TextEncoder

    recording = load("alice2016", subjects=["s18", "s22"]).select(roi=["LATL", "LPTL"])
    half = recording.sample_times[recording.n_samples // 2]
    runs = np.where(recording.sample_times < half, "run-1", "run-2")
    words = recording.stimuli.table
    word_runs = np.where(words["onset"].to_numpy() < half, "run-1", "run-2")
    two_runs = dataclasses.replace(
        recording,
        samples=recording.samples.assign(run=runs),
        stimuli=Stimuli(words.assign(group=word_runs)),
        regressors=None,
    )
    study = Study("alice-two-runs", responses=two_runs)
    assert study.groups == "run"
    rows = study.benchmark().run(
        str(tiny_bert_dir), layers=[2], context_words=4, untrained_twin=False
    )
    features = TextEncoder(str(tiny_bert_dir), context_words=4).encode_words(
        words["text"].tolist(),
        layers=[2],
        onsets=words["onset"].to_numpy(),
        stimulus_ids=words["stimulus_id"].to_numpy(),
        space_before=words["space_before"].to_numpy(),
    )
    F = np.asarray(features["2"], dtype=np.float64)
    design = np.concatenate(
        [
            lanczos_resample(
                F[word_runs == r],
                words["onset"].to_numpy()[word_runs == r],
                recording.sample_times[runs == r],
            )
            for r in ("run-1", "run-2")
        ]
    )
    expected = cross_validated_encoding(
        design, recording.data, sampling="continuous", groups=runs
    ).scores
    model = rows[rows["control"] == ""]
    np.testing.assert_allclose(model["score"].to_numpy(), expected, atol=1e-10)
    with pytest.raises(StudyInputError, match="must equal the stimuli's group values"):
        Study(
            "alice-two-runs",
            responses=dataclasses.replace(
                two_runs, stimuli=Stimuli(words.assign(group="one-story"))
            ),
        )


def test_gifti_maps_one_per_stimulus(tmp_path):
    import nibabel as nib

    rng = np.random.default_rng(3)
    maps = rng.normal(size=(16, 30)).astype(np.float32)  # 16 stimuli x 30 vertices
    darrays = [nib.gifti.GiftiDataArray(row, intent="NIFTI_INTENT_ESTIMATE") for row in maps]
    nib.save(nib.gifti.GiftiImage(darrays=darrays), tmp_path / "betas.func.gii")
    words = pd.DataFrame(
        {"stimulus_id": [f"w{i}" for i in range(16)], "text": [f"word {i}" for i in range(16)]}
    )
    words.to_csv(tmp_path / "words.csv", index=False)
    study = Study(
        "surface",
        stimuli=tmp_path / "words.csv",
        responses=tmp_path / "betas.func.gii",
        sampling="event",
    )
    np.testing.assert_array_equal(study.recording.data, maps)
    assert study.recording.n_units == 30


def test_a_sentence_study_under_a_task_instruction(tiny_bert_dir, sentences, tmp_path):
    """The instruction reaches the text encoder (scores equal a pipeline built by hand on
    the instructed features), enters the digest, and is refused where it does not apply."""
    from brainalign.alignment.encoding import cross_validated_encoding
    from brainalign.encoders.text import TextEncoder

    task = "Is this sentence about a rabbit?"
    stimuli = Stimuli(sentences.assign(group="all"))
    instructed = TextEncoder(str(tiny_bert_dir), pooling="mean", instruction=task).extract(
        stimuli, context="isolated", level="sentence", layers=[2]
    )
    X = np.asarray(instructed["2"], dtype=np.float64)
    Y = (X - X.mean(0)) @ np.random.default_rng(2).normal(size=(X.shape[1], 4))
    Y += 0.3 * np.random.default_rng(3).normal(size=Y.shape)
    study = Study(
        "sentences-task", stimuli=stimuli, responses=Y, sampling="event",
        pooling="mean", options={"instruction": task},
    )  # fmt: skip
    plain = Study("sentences-task", stimuli=stimuli, responses=Y, sampling="event", pooling="mean")
    assert study.digest != plain.digest
    assert repr(task) in study.benchmark().presentation
    rows = study.benchmark().run(str(tiny_bert_dir), layers=[2], untrained_twin=False, seed=4)
    expected = cross_validated_encoding(X, Y, sampling="event", seed=4).scores
    model = rows[rows["control"] == ""]
    np.testing.assert_allclose(model["score"].to_numpy(), expected, atol=1e-6)
    without = plain.benchmark().run(str(tiny_bert_dir), layers=[2], untrained_twin=False, seed=4)
    assert not np.allclose(without[without["control"] == ""]["score"], model["score"])
    with pytest.raises(StudyInputError, match="instruction_format applies with an instruction"):
        Study("t", stimuli=stimuli, responses=Y, sampling="event",
              options={"instruction_format": "chat"})  # fmt: skip
    with pytest.raises(StudyInputError, match=r"\['span'\] do not apply to text stimuli"):
        Study("t", stimuli=stimuli, responses=Y, sampling="event", options={"span": "all"})
    with pytest.raises(StudyInputError, match="instruction_format='html': use plain or chat"):
        Study("t", stimuli=stimuli, responses=Y, sampling="event",
              options={"instruction": task, "instruction_format": "html"})  # fmt: skip
