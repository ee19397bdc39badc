"""Banded ridge and variance partitioning, checked against himalaya number for number."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from brainalign.alignment.banded import (
    BandedRidgeCV,
    dirichlet_weightings,
    partition_r2,
    variance_partitioning,
)
from brainalign.alignment.cv import BlockedKFold

himalaya = pytest.importorskip("himalaya")
from himalaya.backend import set_backend  # noqa: E402
from himalaya.kernel_ridge import generate_dirichlet_samples  # noqa: E402
from himalaya.ridge import BandedRidgeCV as HimalayaBandedRidgeCV  # noqa: E402
from himalaya.scoring import l2_neg_loss, r2_score, r2_score_split  # noqa: E402

ALPHAS = np.logspace(-2, 4, 13)
SCORE_FUNCS = {"r2": r2_score, "neg_mse": l2_neg_loss}
# himalaya adds 1e-10 * log(alpha) to its reported cv scores (its tie-break); ours don't.
CV_SCORE_ATOL = 1e-10 * np.abs(np.log(ALPHAS)).max() * 1.01


def make_data(n_samples=60, widths=(30, 50), n_targets=7, seed=0):
    """Band 0 carries most signal, band 1 a little, plus noise and a non-zero mean."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, sum(widths))) + 0.5
    Y = 2.0 + rng.standard_normal((n_samples, n_targets))
    start = 0
    for scale, width in zip((0.3, 0.05, 0.1), widths, strict=False):
        Y += scale * X[:, start : start + width] @ rng.standard_normal((width, n_targets))
        start += width
    return X, Y


def slices(widths):
    stops = np.cumsum(widths)
    return [slice(int(s - w), int(s)) for s, w in zip(stops, widths, strict=True)]


def fit_himalaya(X, Y, widths, gammas, fit_intercept, scoring, random_state=None):
    set_backend("numpy")
    groups = np.repeat(np.arange(len(widths)), widths)
    params = dict(n_iter=gammas, alphas=ALPHAS, score_func=SCORE_FUNCS[scoring])
    params["progress_bar"] = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return HimalayaBandedRidgeCV(
            groups=groups,
            solver_params=params,
            fit_intercept=fit_intercept,
            cv=5,
            random_state=random_state,
        ).fit(X, Y)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("scoring", ["r2", "neg_mse"])
@pytest.mark.parametrize(
    "n_samples, widths", [(60, (30, 50)), (90, (10, 15)), (50, (20, 15, 30))], ids=str
)
def test_matches_himalaya(fit_intercept, scoring, n_samples, widths):
    """Dual (n < p) and primal (n > p) forms, 2 and 3 bands, both intercept modes."""
    X, Y = make_data(n_samples, widths)
    gammas = dirichlet_weightings(12, len(widths), random_state=3)
    theirs = fit_himalaya(X, Y, widths, gammas, fit_intercept, scoring)
    ours = BandedRidgeCV(
        bands=slices(widths),
        alphas=ALPHAS,
        n_iter=gammas,
        fit_intercept=fit_intercept,
        scoring=scoring,
        cv=BlockedKFold(5),
    ).fit(X, Y)
    assert_allclose(ours.deltas_, theirs.deltas_, rtol=1e-10, atol=1e-10)
    assert_allclose(ours.best_alphas_, theirs.best_alphas_, rtol=1e-10)
    assert_allclose(ours.coef_.T, theirs.coef_, rtol=1e-8, atol=1e-12)
    assert_allclose(ours.cv_scores_, theirs.cv_scores_, rtol=0, atol=CV_SCORE_ATOL)
    X_new, _ = make_data(n_samples, widths, seed=1)
    assert_allclose(ours.predict(X_new), theirs.predict(X_new), rtol=1e-8, atol=1e-10)
    if fit_intercept:
        assert_allclose(ours.intercept_, theirs.intercept_, rtol=1e-8)
    # the search really varied: several weightings and alphas were chosen
    assert len(np.unique(ours.best_alphas_)) > 1
    assert len(np.unique(np.round(ours.best_gammas_[0], 12))) > 1


def test_dirichlet_draws_and_default_search_match_himalaya():
    ours = dirichlet_weightings(9, 3, concentration=[0.1, 1.0], random_state=7)
    set_backend("numpy")
    theirs = np.asarray(generate_dirichlet_samples(9, 3, [0.1, 1.0], random_state=7))
    theirs[0] = 1 / 3
    assert_allclose(ours, theirs, rtol=0, atol=0)
    assert_allclose(ours.sum(axis=1), 1.0)

    X, Y = make_data()
    h = fit_himalaya(X, Y, (30, 50), 8, False, "neg_mse", random_state=5)
    o = BandedRidgeCV(
        bands=slices((30, 50)),
        alphas=ALPHAS,
        n_iter=8,
        random_state=5,
        fit_intercept=False,
        scoring="neg_mse",
    ).fit(X, Y)
    assert_allclose(o.deltas_, h.deltas_, rtol=1e-10)
    assert_allclose(o.coef_.T, h.coef_, rtol=1e-8, atol=1e-12)


def test_split_r2_matches_himalaya_and_sums_to_joint_r2():
    widths = (30, 50)
    X, Y = make_data(80, widths)
    train, test = slice(0, 60), slice(60, 80)
    gammas = dirichlet_weightings(6, 2, random_state=0)
    ours = BandedRidgeCV(bands=slices(widths), alphas=ALPHAS, n_iter=gammas, fit_intercept=False)
    ours.fit(X[train], Y[train])
    theirs = fit_himalaya(X[train], Y[train], widths, gammas, False, "r2")
    # himalaya's split needs zero-mean data; centre the held-out rows
    X_test = X[test] - X[test].mean(axis=0)
    Y_test = Y[test] - Y[test].mean(axis=0)
    parts = ours.predict_split(X_test)
    assert parts.shape == (2, 20, 7)
    assert_allclose(parts, theirs.predict(X_test, split=True), rtol=1e-8, atol=1e-10)
    expected = r2_score_split(Y_test, theirs.predict(X_test, split=True))
    split = ours.split_r2(X_test, Y_test)
    assert_allclose(split, expected, rtol=1e-8, atol=1e-12)
    assert_allclose(split.sum(axis=0), ours.score(X_test, Y_test), rtol=1e-8, atol=1e-12)
    # uncentred inputs: centred internally, same numbers
    assert_allclose(ours.split_r2(X[test], Y[test]), split, rtol=1e-8, atol=1e-12)


def test_predict_split_sums_to_prediction_with_intercept():
    X, Y = make_data()
    model = BandedRidgeCV(bands=slices((30, 50)), alphas=ALPHAS, n_iter=4, random_state=0)
    model.fit(X, Y)
    assert_allclose(model.predict_split(X).sum(axis=0) + model.intercept_, model.predict(X))


def test_band_layouts_agree():
    """Slices, permuted index arrays and a list of band arrays give the same model."""
    X, Y = make_data(widths=(30, 50))
    gammas = dirichlet_weightings(5, 2, random_state=1)
    kwargs = dict(alphas=ALPHAS, n_iter=gammas)
    ref = BandedRidgeCV(bands=slices((30, 50)), **kwargs).fit(X, Y)
    listed = BandedRidgeCV(**kwargs).fit([X[:, :30], X[:, 30:]], Y)
    assert_allclose(listed.coef_, ref.coef_, rtol=1e-10)
    assert_allclose(listed.predict([X[:, :30], X[:, 30:]]), ref.predict(X), rtol=1e-10)
    perm = np.random.default_rng(0).permutation(80)
    inverse = np.argsort(perm)  # column j of X[:, perm] is column perm[j] of X
    bands = [inverse[:30], inverse[30:]]
    shuffled = BandedRidgeCV(bands=bands, **kwargs).fit(X[:, perm], Y)
    assert_allclose(shuffled.coef_, ref.coef_[:, perm], rtol=1e-8, atol=1e-12)
    assert_allclose(shuffled.deltas_, ref.deltas_, rtol=1e-10)


def test_one_band_equals_ridge_grid_search():
    """A single band with gamma 1: deltas are -log(alpha), as plain ridge."""
    X, Y = make_data(widths=(40,))
    model = BandedRidgeCV(alphas=ALPHAS, n_iter=np.ones((1, 1))).fit(X, Y)
    assert_allclose(model.deltas_[0], -np.log(model.best_alphas_))
    theirs = fit_himalaya(X, Y, (40,), np.ones((1, 1)), True, "r2")
    assert_allclose(model.coef_.T, theirs.coef_, rtol=1e-8, atol=1e-12)


def test_one_dimensional_y():
    X, Y = make_data()
    model = BandedRidgeCV(bands=slices((30, 50)), alphas=ALPHAS, n_iter=4, random_state=0)
    one = model.fit(X, Y[:, 2])
    assert one.coef_.shape == (80,) and one.deltas_.shape == (2,)
    assert isinstance(one.intercept_, float) and isinstance(one.score(X, Y[:, 2]), float)
    assert one.predict(X).shape == (60,) and one.split_r2(X, Y[:, 2]).shape == (2,)
    full = BandedRidgeCV(bands=slices((30, 50)), alphas=ALPHAS, n_iter=4, random_state=0)
    assert_allclose(one.coef_, full.fit(X, Y).coef_[2], rtol=1e-10)


def test_target_batches_do_not_change_results():
    X, Y = make_data()
    kwargs = dict(bands=slices((30, 50)), alphas=ALPHAS, n_iter=5, random_state=2)
    a = BandedRidgeCV(**kwargs).fit(X, Y)
    b = BandedRidgeCV(**kwargs, target_batch_size=3).fit(X, Y)
    assert_allclose(b.coef_, a.coef_, rtol=1e-12)
    assert_array_equal(b.best_alphas_, a.best_alphas_)


def test_a_list_of_splits_is_the_splitter_it_came_from():
    X, Y = make_data()
    cv = BlockedKFold(4, gap=2)
    kwargs = dict(bands=slices((30, 50)), alphas=ALPHAS, n_iter=5, random_state=2)
    a = BandedRidgeCV(**kwargs, cv=cv).fit(X, Y)
    b = BandedRidgeCV(**kwargs, cv=list(cv.split(X))).fit(X, Y)
    assert_array_equal(b.coef_, a.coef_)
    assert_array_equal(b.cv_scores_, a.cv_scores_)


@pytest.mark.parametrize("n_samples", [60, 90])  # dual and primal
def test_numpy_and_torch_agree(n_samples):
    torch = pytest.importorskip("torch")
    X, Y = make_data(n_samples, (20, 30))
    kwargs = dict(bands=slices((20, 30)), alphas=ALPHAS, n_iter=5, random_state=0)
    ours_np = BandedRidgeCV(**kwargs).fit(X, Y)
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    ours_t = BandedRidgeCV(**kwargs).fit(Xt, Yt)
    assert isinstance(ours_t.coef_, torch.Tensor) and ours_t.coef_.dtype == torch.float64
    for name in ("deltas_", "coef_", "intercept_", "cv_scores_", "best_alphas_"):
        assert_allclose(getattr(ours_t, name).numpy(), getattr(ours_np, name), rtol=1e-8)
    assert_allclose(ours_t.predict(Xt).numpy(), ours_np.predict(X), rtol=1e-8)
    assert_allclose(ours_t.split_r2(Xt, Yt).numpy(), ours_np.split_r2(X, Y), rtol=1e-8)
    with pytest.raises(TypeError, match="numpy arrays and torch tensors"):
        ours_t.predict(X)


def test_variance_partitioning_numpy_and_torch_agree():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((50, 6)), rng.standard_normal((50, 4))
    Y = A @ rng.standard_normal((6, 3)) + rng.standard_normal((50, 3))
    model = BandedRidgeCV(alphas=ALPHAS, n_iter=3, random_state=0)
    df_np = variance_partitioning({"A": A, "B": B}, Y, cv=3, model=model)
    tensors = {"A": torch.from_numpy(A), "B": torch.from_numpy(B)}
    df_t = variance_partitioning(tensors, torch.from_numpy(Y), cv=3, model=model)
    pd.testing.assert_frame_equal(df_t, df_np, rtol=1e-8)


def test_simulated_unique_variance():
    """Band A drives Y, band B is unrelated: unique A large, unique B and shared ~ 0."""
    rng = np.random.default_rng(1)
    n, n_targets = 200, 6
    A, B = rng.standard_normal((n, 8)), rng.standard_normal((n, 8))
    Y = A @ rng.standard_normal((8, n_targets)) + 0.7 * rng.standard_normal((n, n_targets))
    model = BandedRidgeCV(alphas=np.logspace(-2, 4, 7), n_iter=4, random_state=0)
    df = variance_partitioning({"A": A, "B": B}, Y, cv=4, model=model)
    assert list(df.columns) == ["target", "partition", "r2"]
    wide = df.pivot(index="target", columns="partition", values="r2")
    assert set(wide.columns) == {
        "model:A",
        "model:B",
        "model:A&B",
        "unique:A",
        "unique:B",
        "shared:A&B",
    }
    assert (wide["unique:A"] > 0.8).all()
    assert (wide["unique:B"].abs() < 0.03).all()
    # B alone only fits noise: its held-out R^2, and so the shared part, is slightly
    # negative (kept, not clipped)
    assert (wide["model:B"].abs() < 0.1).all() and (wide["shared:A&B"].abs() < 0.1).all()
    assert_allclose(wide["shared:A&B"], wide["model:B"], atol=0.03)
    assert_allclose(wide["unique:A"], wide["model:A&B"] - wide["model:B"], rtol=1e-12)
    assert_allclose(
        wide["shared:A&B"], wide["model:A"] + wide["model:B"] - wide["model:A&B"], rtol=1e-12
    )


def test_variance_partitioning_three_bands_with_another_model():
    """Any regressor works (one feature space per subset); identities hold per target."""
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(2)
    bands = {k: rng.standard_normal((40, 3)) for k in ("A", "B", "C")}
    Y = bands["A"] @ rng.standard_normal((3, 2)) + bands["B"][:, :1] + rng.standard_normal((40, 2))
    df = variance_partitioning(bands, Y, cv=BlockedKFold(4, gap=1), model=Ridge(alpha=1.0))
    wide = df.pivot(index="target", columns="partition", values="r2")
    assert wide.shape == (2, 14)  # 7 models, 7 parts
    parts = [c for c in wide.columns if not c.startswith("model:")]
    assert_allclose(wide[parts].sum(axis=1), wide["model:A&B&C"], rtol=1e-12)
    # one model's R^2 directly: fold-mean of held-out R^2 of sklearn Ridge on A
    scores = []
    for train, test in BlockedKFold(4, gap=1).split(Y):
        fit = Ridge(alpha=1.0).fit(bands["A"][train], Y[train])
        pred = fit.predict(bands["A"][test])
        resid = ((Y[test] - pred) ** 2).sum(0)
        scores.append(1 - resid / ((Y[test] - Y[test].mean(0)) ** 2).sum(0))
    assert_allclose(wide["model:A"], np.mean(scores, axis=0), rtol=1e-10)


def test_partition_identities():
    rng = np.random.default_rng(3)
    names = ["A", "B", "C"]
    subsets = [frozenset(s) for s in ("A", "B", "C", "AB", "AC", "BC", "ABC")]
    r2 = {s: rng.uniform(-0.1, 0.6, size=5) for s in subsets}
    parts = partition_r2(r2)
    assert len(parts) == 7
    region = {frozenset(k.split(":")[1].split("&")): v for k, v in parts.items()}
    assert_allclose(sum(parts.values()), r2[frozenset(names)], rtol=1e-12)
    for s in subsets:  # R2(S) = sum of the regions touching S
        touching = sum(v for t, v in region.items() if t & s)
        assert_allclose(touching, r2[s], rtol=1e-12, atol=1e-15)
    ABC, AB = r2[frozenset(names)], r2[frozenset("AB")]
    assert_allclose(parts["unique:A"], ABC - r2[frozenset("BC")], rtol=1e-12)
    shared_abc = (
        r2[frozenset("A")]
        + r2[frozenset("B")]
        + r2[frozenset("C")]
        - AB
        - r2[frozenset("AC")]
        - r2[frozenset("BC")]
        + ABC
    )
    assert_allclose(parts["shared:A&B&C"], shared_abc, rtol=1e-12)
    two = partition_r2({frozenset("A"): 0.3, frozenset("B"): 0.1, frozenset("AB"): 0.35})
    assert two == pytest.approx({"unique:A": 0.25, "unique:B": 0.05, "shared:A&B": 0.05})
    negative = partition_r2({frozenset("A"): 0.3, frozenset("B"): 0.1, frozenset("AB"): 0.28})
    assert negative["unique:B"] == pytest.approx(-0.02)  # kept, not clipped


def test_errors():
    X, Y = make_data()
    fit = BandedRidgeCV(bands=[slice(0, 30), slice(25, 80)], n_iter=2).fit
    with pytest.raises(ValueError, match=r"exactly once.*several bands: \[25, 26"):
        fit(X, Y)
    with pytest.raises(ValueError, match=r"in no band: \[30, 31"):
        BandedRidgeCV(bands=[slice(0, 30), slice(40, 80)], n_iter=2).fit(X, Y)
    with pytest.raises(ValueError, match="reaches past"):
        BandedRidgeCV(bands=[slice(0, 30), slice(30, 90)], n_iter=2).fit(X, Y)
    with pytest.raises(ValueError, match="integer column indices"):
        BandedRidgeCV(bands=[np.arange(30) * 1.0, np.arange(30, 80)], n_iter=2).fit(X, Y)
    with pytest.raises(ValueError, match=r"shape \(n_iter, 2\)"):
        BandedRidgeCV(bands=slices((30, 50)), n_iter=np.ones((3, 3))).fit(X, Y)
    with pytest.raises(ValueError, match="non-negative"):
        BandedRidgeCV(bands=slices((30, 50)), n_iter=np.array([[1.0, -0.1]])).fit(X, Y)
    with pytest.raises(ValueError, match="scoring='pearsonr'"):
        BandedRidgeCV(bands=slices((30, 50)), scoring="pearsonr").fit(X, Y)
    with pytest.raises(ValueError, match="alphas must all be positive"):
        BandedRidgeCV(bands=slices((30, 50)), alphas=[1.0, 0.0]).fit(X, Y)
    with pytest.raises(ValueError, match="bands is also given"):
        BandedRidgeCV(bands=slices((30, 50))).fit([X[:, :30], X[:, 30:]], Y)
    with pytest.raises(ValueError, match="X has 60 rows .* Y has 59"):
        BandedRidgeCV(bands=slices((30, 50))).fit(X, Y[:59])
    X_nan = X.copy()
    X_nan[4, 2] = np.nan
    with pytest.raises(ValueError, match=r"NaN or inf values in rows \(samples\) \[4\]"):
        BandedRidgeCV(bands=slices((30, 50))).fit(X_nan, Y)
    with pytest.raises(ValueError, match="concentration"):
        dirichlet_weightings(3, 2, concentration=[0.0])
    model = BandedRidgeCV(bands=slices((30, 50)), alphas=ALPHAS, n_iter=2).fit(X, Y)
    with pytest.raises(ValueError, match="fitted on 80"):
        model.predict(X[:, :70])
    with pytest.raises(ValueError, match="Y has shape"):
        model.split_r2(X, Y[:, :3])
    with pytest.raises(ValueError, match="band names"):
        variance_partitioning({"A&B": X[:, :3], "C": X[:, 3:6]}, Y)
    with pytest.raises(ValueError, match="1 to 6 named feature arrays"):
        variance_partitioning([X], Y)
    with pytest.raises(ValueError, match=r"X_bands\['B'\] has 59 rows"):
        variance_partitioning({"A": X[:, :3], "B": X[:59, 3:6]}, Y)
    with pytest.raises(ValueError, match="lacks the subset"):
        partition_r2({frozenset("A"): 0.1, frozenset("AB"): 0.2})
