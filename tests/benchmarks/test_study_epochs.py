"""A study of M/EEG epochs (``sampling: epochs``), scored per time point.

Real EEG (tests/data/eeg_long/test_raw.set: 32 channels, 128 Hz, MNE's testing data) cut
into epochs (-0.1..0.5 s) at chosen times, each epoch a word of Alice (2 trials per
word). A response is planted: a fixed random projection of a tiny random-weight BERT's
layer-1 features added to half of the channels between 0.1 and 0.3 s. Reference numbers
are recomputed the plain way: scikit-learn ridge per time point with the same folds,
numpy split-half reliabilities, scipy RDMs and Spearman correlations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import pdist
from scipy.stats import pearsonr, spearmanr

from brainalign.benchmarks.study import Study, StudyInputError
from brainalign.results import validate_results
from brainalign.stimuli import Stimuli

DATA = Path(__file__).resolve().parents[1] / "data"
EEG = DATA / "eeg_long" / "test_raw.set"
N_WORDS = 40
PLANTED = (0.1, 0.3)  # seconds


def _text_features(model_dir, table, layer):
    from brainalign.encoders.text import TextEncoder

    features = TextEncoder(str(model_dir), pooling="mean").extract(
        Stimuli(table), context="isolated", level="sentence", layers=[layer]
    )
    return np.asarray(features[str(layer)], dtype=np.float64)


@pytest.fixture(scope="module")
def eeg(tiny_bert_dir, alice_words, tmp_path_factory):
    """40 words x 2 trials of real EEG; layer-1 features planted in the even channels."""
    import mne

    folder = tmp_path_factory.mktemp("epochs")
    words = list(dict.fromkeys(w.lower() for w in alice_words if w.isalpha()))[:N_WORDS]
    table = pd.DataFrame(
        {"stimulus_id": [f"w{i:02d}" for i in range(N_WORDS)], "text": words, "group": "alice"}
    )
    raw = mne.io.read_raw_eeglab(EEG, preload=True, verbose="error")
    rng = np.random.default_rng(11)
    order = rng.permutation(np.repeat(np.arange(N_WORDS), 2))  # trial -> word
    onsets = 2.0 + 1.3 * np.arange(order.size)
    events = np.column_stack(
        [
            np.round(onsets * raw.info["sfreq"]).astype(int),
            np.zeros(order.size, int),
            np.ones(order.size, int),
        ]
    )
    epochs = mne.Epochs(
        raw, events, tmin=-0.1, tmax=0.5, baseline=None, preload=True, verbose="error"
    )
    data = epochs.get_data()
    X = _text_features(tiny_bert_dir, table, 1)
    Z = (X - X.mean(0)) / X.std(0) @ rng.normal(size=(X.shape[1], 16))
    Z = (Z - Z.mean(0)) / Z.std(0)
    planted = np.arange(0, 32, 2)
    during = (epochs.times >= PLANTED[0]) & (epochs.times <= PLANTED[1])
    scale = data[:, planted][:, :, during].std(axis=(0, 2))
    data[:, planted[:, None], np.flatnonzero(during)[None, :]] += (
        2.0 * scale[None, :, None] * Z[order][:, :, None]
    )
    ids = table["stimulus_id"].to_numpy()[order]
    written = mne.EpochsArray(
        data,
        epochs.info,
        events=epochs.events,
        tmin=-0.1,
        metadata=pd.DataFrame({"stimulus_id": ids}),
        verbose="error",
    )
    path = folder / "sub-01-epo.fif"
    written.save(path, verbose="error")
    read = mne.read_epochs(path, verbose="error")  # as stored (float32 on disk)
    return {
        "folder": folder,
        "path": path,
        "table": table,
        "stimuli": Stimuli(table),
        "data": read.get_data().astype(np.float64),
        "times": read.times,
        "channels": read.ch_names,
        "ids": ids,
        "X": X,
        "planted": planted,
        "epochs": read,
    }


def _averages(eeg, keep):
    """(n_words, n_channels, n_kept) trial means in the stimuli's order."""
    ids = eeg["table"]["stimulus_id"].tolist()
    return np.stack([eeg["data"][eeg["ids"] == i][:, :, keep].mean(axis=0) for i in ids])


def _layer(rows, layer=1):
    model = rows[(rows["control"] == "") & (rows["weights"] == "pretrained") & rows["head"].isna()]
    return model[model["layer"] == layer].sort_values(["subject", "unit", "time"])


@pytest.fixture(scope="module")
def ridge_rows(eeg, tiny_bert_dir):
    study = Study(
        "alice-eeg",
        stimuli=eeg["stimuli"],
        responses={"s1": eeg["path"]},
        sampling="epochs",
        options={"alphas": [30.0], "ceiling_splits": 4},
    )
    rows = study.benchmark().run(str(tiny_bert_dir), layers=[1], seed=3)
    return study, rows


def test_unplaced_channels_add_no_position_columns(ridge_rows):
    _, rows = ridge_rows
    assert not {"ch_type", "x", "y", "z"} & set(rows.columns)


def test_ridge_rows_equal_sklearn_ridge_per_time_point(eeg, ridge_rows):
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import KFold

    study, rows = ridge_rows
    validate_results(rows)
    keep = (eeg["times"] >= 0) & (eeg["times"] <= eeg["times"][-1])
    Y = _averages(eeg, keep)
    X = eeg["X"]
    folds = list(KFold(5, shuffle=True, random_state=3).split(X))
    expected = np.zeros(Y.shape[1:])
    for train, test in folds:
        Xz = (X - X[train].mean(0)) / X[train].std(0)
        for t in range(Y.shape[2]):
            pred = Ridge(alpha=30.0).fit(Xz[train], Y[train, :, t]).predict(Xz[test])
            expected[:, t] += [
                pearsonr(pred[:, c], Y[test, c, t]).statistic for c in range(Y.shape[1])
            ]
    expected /= len(folds)
    model = _layer(rows).set_index(["unit", "time"])
    got = np.array(
        [[model.loc[(ch, t), "score"] for t in eeg["times"][keep]] for ch in eeg["channels"]]
    )
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert set(model.reset_index()["subject"]) == {"s1"}
    assert rows["time"].dtype == np.float64
    # the project's summary of a layer: the median over subjects x channels x times
    from brainalign.results import layer_summary

    summary = layer_summary(rows).set_index(["weights", "control", "layer"])
    median = summary.loc[("pretrained", "", 1), "median_score"]
    assert median == pytest.approx(np.median(expected))


def test_planted_channels_score_in_the_planted_window_only(eeg, ridge_rows):
    _, rows = ridge_rows
    model = _layer(rows)
    planted = model["unit"].isin([eeg["channels"][c] for c in eeg["planted"]])
    during = model["time"].between(*PLANTED)
    inside = model[planted & during]["score"].median()
    assert inside > 0.5
    assert inside > model[~planted & during]["score"].median() + 0.4
    assert inside > model[planted & (model["time"] > 0.35)]["score"].median() + 0.4
    control = rows[rows["control"] == "random-stimulus-features"]
    assert inside > control[control["time"].between(*PLANTED)]["score"].median() + 0.4
    twin = rows[(rows["weights"] == "untrained") & (rows["control"] == "")]
    assert len(twin) == len(model) and np.isfinite(twin["score"]).all()


def test_ridge_ceiling_is_the_split_half_reliability_of_the_two_trials(eeg, ridge_rows):
    _, rows = ridge_rows
    keep = eeg["times"] >= 0
    first = np.stack(
        [eeg["data"][eeg["ids"] == i][0][:, keep] for i in eeg["table"]["stimulus_id"]]
    )
    second = np.stack(
        [eeg["data"][eeg["ids"] == i][1][:, keep] for i in eeg["table"]["stimulus_id"]]
    )
    r = np.array(
        [
            [np.corrcoef(first[:, c, t], second[:, c, t])[0, 1] for t in range(keep.sum())]
            for c in range(first.shape[1])
        ]
    )
    reliability = 2 * r / (1 + r)
    model = _layer(rows).set_index(["unit", "time"])
    got = np.array(
        [[model.loc[(ch, t), "reliability"] for t in eeg["times"][keep]] for ch in eeg["channels"]]
    )
    np.testing.assert_allclose(got, reliability, atol=1e-6)
    ceiling = np.where(reliability >= 0, np.sqrt(np.clip(reliability, 0, None)), np.nan)
    got_ceiling = np.array(
        [[model.loc[(ch, t), "ceiling"] for t in eeg["times"][keep]] for ch in eeg["channels"]]
    )
    np.testing.assert_allclose(got_ceiling, ceiling, atol=1e-6)
    assert (model["ceiling_flag"][np.isnan(got_ceiling).ravel()] != "ok").all()


def test_rows_only_inside_the_window_and_rsa_equals_scipy(eeg, tiny_bert_dir, tmp_path):
    (tmp_path / "study.yaml").write_text(
        f"name: alice-eeg-rsa\nresponses: {{s1: {eeg['path']}}}\nsampling: epochs\n"
        f"analysis: rsa\nwindow: [0.1, 0.3]\noptions: {{ceiling_splits: 3}}\n"
        "stimuli: words.csv\n"
    )
    eeg["table"].to_csv(tmp_path / "words.csv", index=False)
    study = Study.from_yaml(tmp_path / "study.yaml")
    rows = study.benchmark().run(str(tiny_bert_dir), layers=[1], untrained_twin=False, heads=True)
    heads = rows[rows["head"].notna()]
    assert sorted(heads["head"].unique()) == [0, 1]  # the tiny BERT's 2 heads, per time
    assert len(heads) == 2 * len(rows[(rows["layer"] == 1) & rows["head"].isna()])
    keep = (eeg["times"] >= 0.1 - 1e-9) & (eeg["times"] <= 0.3 + 1e-9)
    model = _layer(rows)
    np.testing.assert_allclose(model["time"].to_numpy(), eeg["times"][keep])
    assert set(rows["unit"]) == {"rdm"} and rows["time"].between(0.1, 0.3).all()
    averaged = _averages(eeg, keep)
    model_rdm = pdist(eeg["X"], "correlation")
    expected = [
        spearmanr(model_rdm, pdist(averaged[:, :, t], "correlation")).statistic
        for t in range(keep.sum())
    ]
    np.testing.assert_allclose(model["score"].to_numpy(), expected, atol=1e-6)
    # split-half RDM ceiling: with 2 trials per word the halves are the two trials
    halves = [
        np.stack([eeg["data"][eeg["ids"] == i][k][:, keep] for i in eeg["table"]["stimulus_id"]])
        for k in (0, 1)
    ]
    r = np.array(
        [
            spearmanr(
                pdist(halves[0][:, :, t], "correlation"), pdist(halves[1][:, :, t], "correlation")
            ).statistic
            for t in range(keep.sum())
        ]
    )
    np.testing.assert_allclose(model["reliability"].to_numpy(), 2 * r / (1 + r), atol=1e-6)
    assert "split-half reliability of the RDMs" in study.benchmark().ceiling
    assert "median over subjects x window time points" in (study.benchmark().aggregation)


def test_npy_with_times_and_a_trials_table_reads_like_the_fif(eeg, tmp_path):
    data = eeg["data"]
    np.save(tmp_path / "s1.npy", data)
    np.savez(tmp_path / "s2.npz", data=data, times=eeg["times"], channels=eeg["channels"])
    pd.DataFrame({"stimulus_id": eeg["ids"], "subject": "s1"}).to_csv(
        tmp_path / "trials.csv", index=False
    )
    from_npy = Study(
        "alice-npy",
        stimuli=eeg["stimuli"],
        responses={"s1": tmp_path / "s1.npy"},
        trials=tmp_path / "trials.csv",
        times=eeg["times"].tolist(),
        sampling="epochs",
    )
    epochs = from_npy.epochs.subjects[0]
    np.testing.assert_array_equal(epochs.data, data)
    assert epochs.stimulus_ids.tolist() == eeg["ids"].tolist()
    np.testing.assert_allclose(from_npy.epochs.times, eeg["times"])
    from_npz = Study(
        "alice-npz",
        stimuli=eeg["stimuli"],
        responses=tmp_path / "s2.npz",
        trials=pd.DataFrame({"stimulus_id": eeg["ids"]}),
        sampling="epochs",
        window=[0.1, 0.2],
    )
    assert from_npz.epochs.channels == list(eeg["channels"])
    assert from_npz.epochs.subjects[0].subject == "all"
    one = Study(
        "alice-one",
        stimuli=eeg["stimuli"],
        responses=tmp_path / "s2.npz",
        trials=tmp_path / "trials.csv",
        sampling="epochs",
    )
    assert one.epochs.subjects[0].subject == "s1"  # named by the trials table
    assert from_npz.scored_times.sum() == ((eeg["times"] >= 0.1) & (eeg["times"] <= 0.2)).sum()


def _study(eeg, **keys):
    settings = {"stimuli": eeg["stimuli"], "sampling": "epochs", **keys}
    return Study("alice-bad", **settings)


def test_epochs_that_differ_between_subjects_are_named(eeg, tmp_path):
    shorter = eeg["epochs"].copy().crop(tmax=0.4)
    with pytest.raises(StudyInputError, match="different time axes: subject 's1'.*subject 's2'"):
        _study(eeg, responses={"s1": eeg["epochs"], "s2": shorter})
    fewer = eeg["epochs"].copy().drop_channels([eeg["channels"][3]])
    with pytest.raises(StudyInputError, match=rf"subject 's2'.*missing \['{eeg['channels'][3]}'\]"):
        _study(eeg, responses={"s1": eeg["epochs"], "s2": fewer})


def test_bad_trials_and_values_are_refused(eeg, tmp_path):
    data = eeg["data"][:, :, :10]
    times = eeg["times"][:10].tolist()
    wrong = eeg["ids"].copy()
    wrong[5] = "nonword"
    with pytest.raises(
        StudyInputError, match=r"not stimuli, e.g. \['nonword'\] \(first at trial 5\)"
    ):
        _study(eeg, responses=data, times=times, trials=pd.DataFrame({"stimulus_id": wrong}))
    trials = pd.DataFrame({"stimulus_id": eeg["ids"]})
    bad = data.copy()
    bad[7, 2, 4] = np.nan
    with pytest.raises(StudyInputError, match="NaN or infinite.*trial 7.*channel 2"):
        _study(eeg, responses=bad, times=times, trials=trials)
    with pytest.raises(StudyInputError, match="1 time point"):
        _study(eeg, responses=data[:, :, :1], times=times[:1], trials=trials)
    with pytest.raises(StudyInputError, match="need times"):
        _study(eeg, responses=data, trials=trials)
    with pytest.raises(StudyInputError, match="name the stimulus of every trial"):
        _study(eeg, responses=data, times=times)
    with pytest.raises(StudyInputError, match="both name the stimuli"):
        _study(eeg, responses=eeg["path"], trials=trials)
    with pytest.raises(StudyInputError, match="bring their own times"):
        _study(eeg, responses=eeg["path"], times=times)


def test_window_and_options_are_checked(eeg):
    with pytest.raises(StudyInputError, match=r"window=\[0, 0.8\] reaches outside the epochs"):
        _study(eeg, responses=eeg["path"], window=[0, 0.8])
    with pytest.raises(StudyInputError, match="option 'delay' is not an option"):
        _study(eeg, responses=eeg["path"], options={"delay": [1]})
    with pytest.raises(StudyInputError, match="trials are for sampling: epochs"):
        Study("alice-bad", stimuli=eeg["stimuli"], responses=eeg["data"][:, :, 0],
              sampling="event", trials=pd.DataFrame({"stimulus_id": eeg["ids"]}))  # fmt: skip
    with pytest.raises(StudyInputError, match="units: epochs bring their own channels"):
        _study(eeg, responses=eeg["path"], units=pd.DataFrame({"unit": eeg["channels"]}))
    with pytest.raises(StudyInputError, match="ceiling_splits of analysis 'rsa' is for"):
        Study("alice-bad", stimuli=eeg["stimuli"], responses=eeg["epochs"], window=[0.1, 0.3],
              analysis="rsa", options={"ceiling_splits": 3})  # fmt: skip


def test_eeglab_epochs_name_their_stimuli_by_event(eeg):
    import mne

    path = DATA / "eeglab_epochs" / "test_epochs_onefile.set"
    expected = mne.read_epochs_eeglab(path, verbose="error")
    names = list(expected.event_id)
    stimuli = Stimuli(pd.DataFrame({"stimulus_id": names, "text": ["a", "b", "c"], "group": "g"}))
    study = Study("eeglab-epochs", stimuli=stimuli, responses=path, sampling="epochs",
                  analysis="rsa")  # fmt: skip
    epochs = study.epochs.subjects[0]
    np.testing.assert_allclose(epochs.data, expected.get_data())
    codes = {code: name for name, code in expected.event_id.items()}
    assert epochs.stimulus_ids.tolist() == [codes[c] for c in expected.events[:, 2]]
    assert study.window == (0.0, float(expected.times[-1]))
    np.testing.assert_array_equal(study.scored_times, expected.times >= 0)
    # a trials table renames the trials of a file whose metadata do not name them
    renamed = Study(
        "eeglab-epochs",
        stimuli=Stimuli(
            pd.DataFrame({"stimulus_id": ["x", "y"], "text": ["x", "y"], "group": "g"})
        ),
        responses=path,
        trials=pd.DataFrame({"stimulus_id": ["x", "y", "x", "y"]}),
        sampling="epochs",
        analysis="rsa",
    )
    assert renamed.epochs.subjects[0].stimulus_ids.tolist() == ["x", "y", "x", "y"]


def test_trial_groups_are_held_out_whole_and_single_trials_have_no_ceiling(eeg):
    from brainalign.benchmarks.study.epochs import epochs_task

    once = np.stack([eeg["data"][eeg["ids"] == i][0] for i in eeg["table"]["stimulus_id"]])
    groups = [f"g{i % 4}" for i in range(N_WORDS)]
    trials = pd.DataFrame({"stimulus_id": eeg["table"]["stimulus_id"], "group": groups})
    study = _study(eeg, responses=once, times=eeg["times"].tolist(), trials=trials)
    np.testing.assert_array_equal(study.stimulus_fold_groups(), groups)
    assert "GroupKFold by the trials table's group" in study.benchmark().cross_validation
    assert "none" in study.describe_ceiling()
    assert epochs_task(study, study.benchmark(), None).ceiling() is None
    mixed = trials.assign(group=["g0"] + groups[1:])
    twice = pd.concat([mixed, trials.assign(group=["g1"] + groups[1:])], ignore_index=True)
    with pytest.raises(StudyInputError, match="several groups"):
        _study(eeg, responses=np.concatenate([once, once]), times=eeg["times"].tolist(),
               trials=twice)  # fmt: skip
    with pytest.raises(StudyInputError, match="both give fold groups"):
        _study(eeg, responses=once, times=eeg["times"].tolist(), trials=trials, groups="group")


def test_split_half_rdm_reliability_follows_its_documented_splits(eeg):
    from brainalign.benchmarks.study.epochs import split_half_rdm_reliability

    # 10 words x 4 trials (the first 40 trials' data, relabelled), 6 time points
    codes = np.repeat(np.arange(10), 4)
    trials = eeg["data"][:40, :, 20:26]
    got = split_half_rdm_reliability(trials, codes, 10, n_splits=2, seed=5)
    rng = np.random.Generator(np.random.PCG64(5))
    expected = np.zeros(6)
    for _ in range(2):
        order = rng.permutation(4)
        halves = [
            np.stack([trials[codes == s][chosen].mean(axis=0) for s in range(10)])
            for chosen in (order[:2], order[2:4])
        ]
        for t in range(6):
            r = spearmanr(
                pdist(halves[0][:, :, t], "correlation"), pdist(halves[1][:, :, t], "correlation")
            ).statistic
            expected[t] += (2 * r / (1 + r)) / 2
    np.testing.assert_allclose(got, expected, atol=1e-9)
    once = codes.copy()
    once[37:] = 0  # word 9 keeps one trial
    with pytest.raises(ValueError, match="at least 2 trials"):
        split_half_rdm_reliability(trials, once, 10)


def test_placed_channels_put_their_positions_on_the_rows_and_the_report_draws_them(
    eeg, tiny_bert_dir, tmp_path
):
    import mne

    from brainalign.report.figures import write_benchmark_figures

    placed = eeg["epochs"].copy()
    montage = mne.channels.make_standard_montage("colin27_1020")
    names = montage.ch_names[:32]  # the 32 channels renamed onto the 10-20 grid
    placed.rename_channels(dict(zip(placed.ch_names, names, strict=True)))
    placed.set_montage(montage)
    path = tmp_path / "placed-epo.fif"
    placed.save(path, verbose="error")
    study = Study(
        "placed-eeg",
        stimuli=eeg["stimuli"],
        responses={"s1": path},
        sampling="epochs",
        options={"alphas": [30.0], "ceiling_splits": 4},
    )
    rows = study.benchmark().run(str(tiny_bert_dir), layers=[1], untrained_twin=False)
    expected = {ch["ch_name"]: ch["loc"][:3] for ch in placed.info["chs"]}
    for unit, xyz in rows.groupby("unit")[["x", "y", "z"]].first().iterrows():
        np.testing.assert_allclose(xyz.to_numpy(dtype=float), expected[unit], rtol=1e-6)
    assert set(rows["ch_type"]) == {"eeg"}
    names = {p.name for p in write_benchmark_figures(rows, tmp_path / "figures")}
    assert any(n.endswith("_time.png") for n in names)
    assert any(n.endswith("_topomap.png") for n in names)
