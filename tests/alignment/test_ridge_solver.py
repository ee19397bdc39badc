"""RidgeCV's primal and dual forms: chosen per fit, recorded, and giving the same numbers.

Each forced form is checked against the other, against scikit-learn's ``Ridge`` at the
chosen alpha, and against the alphas himalaya's ``RidgeCV`` and ``KernelRidgeCV`` choose
on the same splits.
"""

from contextlib import nullcontext

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge

from brainalign.alignment import ridge
from brainalign.alignment.cv import BlockedKFold
from brainalign.alignment.ridge import SOLVERS, RidgeCV

ALPHAS = np.logspace(-2, 5, 8)
CV = BlockedKFold(4, gap=1)


def _data(n, p, n_targets, *, seed=0, dtype=np.float64):
    """Responses with signal of varied strength (so the targets choose varied alphas)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    W = rng.standard_normal((p, n_targets)) * rng.random(n_targets) * 0.3
    Y = X @ W + rng.standard_normal((n, n_targets)) + 3.0
    return X.astype(dtype), Y.astype(dtype)


def _fit(X, Y, solver, **kwargs):
    return RidgeCV(ALPHAS, cv=CV, solver=solver, **kwargs).fit(X, Y)


def _assert_same_fit(a, b, rtol):
    """Equal alphas; scores, coefficients and intercepts within rtol of their scale."""
    np.testing.assert_array_equal(np.asarray(a.best_alphas_), np.asarray(b.best_alphas_))
    for name in ("cv_scores_", "coef_", "intercept_"):
        got, want = np.asarray(getattr(a, name)), np.asarray(getattr(b, name))
        np.testing.assert_allclose(got, want, rtol=0, atol=rtol * np.abs(want).max())


# shapes: n < p (dual under auto), n > p (primal), and more targets than training rows
# (the primal projection through X_c V)
SHAPES = [(40, 90, 6), (90, 20, 6), (40, 10, 60)]


@pytest.mark.parametrize(("n", "p", "n_targets"), SHAPES)
@pytest.mark.parametrize("scoring", ["pearson", "r2"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_primal_and_dual_give_the_same_fit(n, p, n_targets, scoring, fit_intercept):
    X, Y = _data(n, p, n_targets, seed=n + p)
    fits = {
        solver: _fit(X, Y, solver, scoring=scoring, fit_intercept=fit_intercept)
        for solver in SOLVERS
    }
    assert fits["primal"].solver_ == "primal"
    assert fits["dual"].solver_ == "dual"
    assert set(fits["primal"].fold_solvers_) == {"primal"}
    assert set(fits["dual"].fold_solvers_) == {"dual"}
    assert len(np.unique(fits["auto"].best_alphas_)) > 1  # the check covers varied alphas
    _assert_same_fit(fits["primal"], fits["dual"], rtol=1e-9)
    _assert_same_fit(fits["auto"], fits["dual"], rtol=1e-9)
    X_new = np.random.default_rng(1).standard_normal((7, p))
    np.testing.assert_allclose(
        fits["primal"].predict(X_new), fits["dual"].predict(X_new), rtol=1e-9, atol=1e-9
    )


@pytest.mark.parametrize(
    ("n", "p", "fold_form", "refit_form"),
    [
        (40, 90, "dual", "dual"),  # fewer rows than features everywhere
        (90, 20, "primal", "primal"),
        (100, 90, "dual", "primal"),  # folds of 74-75 rows < 90 features <= 100 rows
        (60, 60, "dual", "primal"),  # equal: the primal form
    ],
)
def test_auto_picks_the_form_per_fit_and_records_it(n, p, fold_form, refit_form):
    X, Y = _data(n, p, 3)
    model = _fit(X, Y, "auto")
    assert model.solver_ == refit_form
    assert model.fold_solvers_ == (fold_form,) * CV.get_n_splits()


@pytest.mark.parametrize("solver", ["primal", "dual"])
@pytest.mark.parametrize(("n", "p"), [(40, 90), (90, 20)])
def test_each_form_matches_sklearn_ridge_at_the_chosen_alpha(solver, n, p):
    X, Y = _data(n, p, 5, seed=3)
    model = _fit(X, Y, solver)
    for j, alpha in enumerate(model.best_alphas_):
        reference = Ridge(alpha=float(alpha)).fit(X, Y[:, j])
        scale = np.abs(reference.coef_).max()
        np.testing.assert_allclose(model.coef_[j], reference.coef_, rtol=0, atol=1e-9 * scale)
        np.testing.assert_allclose(model.intercept_[j], reference.intercept_, rtol=1e-9)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("solver", ["primal", "dual"])
@pytest.mark.parametrize(("n", "p"), [(60, 150), (120, 30)])
def test_each_form_chooses_himalayas_alphas(solver, n, p):
    himalaya_ridge = pytest.importorskip("himalaya.ridge")
    himalaya_kernel = pytest.importorskip("himalaya.kernel_ridge")
    from himalaya.scoring import correlation_score

    X, Y = _data(n, p, 20, seed=5)
    ours = _fit(X, Y, solver)
    params = {"alphas": ALPHAS, "cv": list(CV.split(X)), "fit_intercept": True}
    solver_params = {"score_func": correlation_score, "local_alpha": True}
    X_new = np.random.default_rng(2).standard_normal((9, p))
    for theirs in (
        himalaya_ridge.RidgeCV(solver_params=solver_params, **params).fit(X, Y),
        himalaya_kernel.KernelRidgeCV(solver_params=solver_params, **params).fit(X, Y),
    ):
        np.testing.assert_allclose(ours.best_alphas_, theirs.best_alphas_, rtol=1e-12)
        np.testing.assert_allclose(ours.cv_scores_.max(axis=0), theirs.cv_scores_, atol=1e-7)
        np.testing.assert_allclose(ours.predict(X_new), theirs.predict(X_new), rtol=1e-8)


@pytest.mark.parametrize(("n", "p"), [(40, 90), (90, 20)])
def test_float32_auto_and_torch_forms_agree(n, p):
    X, Y = _data(n, p, 6, seed=7)
    reference = _fit(X, Y, "dual")
    # float32 in the form auto picks (forcing the rank-deficient one with alpha 0.01
    # amplifies float32 rounding in its null space: 1e-3, see RidgeCV's solver)
    narrow = _fit(X.astype(np.float32), Y.astype(np.float32), "auto")
    assert narrow.coef_.dtype == np.float32
    np.testing.assert_allclose(narrow.best_alphas_, reference.best_alphas_, rtol=1e-7)
    np.testing.assert_allclose(
        narrow.coef_, reference.coef_, atol=1e-5 * np.abs(reference.coef_).max()
    )
    for solver in ("primal", "dual"):
        on_torch = _fit(torch.from_numpy(X), torch.from_numpy(Y), solver)
        assert on_torch.solver_ == solver
        _assert_same_fit(on_torch, reference, rtol=1e-9)


@pytest.mark.parametrize("solver", ["svd", "Primal", None, 1])
def test_unknown_solver_is_named(solver):
    X, Y = _data(30, 5, 2)
    with pytest.raises(ValueError, match=r"solver=.*use one of \['auto', 'primal', 'dual'\]"):
        RidgeCV(ALPHAS, solver=solver).fit(X, Y)


def test_small_numpy_fits_run_on_one_blas_thread():
    from threadpoolctl import threadpool_info

    small = np.zeros((290, 1536))
    with ridge._blas_threads_for_fit(small, 162):
        pools = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
        assert pools and all(pool["num_threads"] == 1 for pool in pools)
    assert isinstance(ridge._blas_threads_for_fit(small, 10**6), nullcontext)
    assert isinstance(ridge._blas_threads_for_fit(torch.zeros(290, 1536), 162), nullcontext)


def test_splits_on_threads_give_the_same_numbers(monkeypatch):
    X, Y = _data(40, 90, 5, seed=11)
    monkeypatch.setattr(ridge, "_fold_threads", lambda X, n_targets, n_splits: 1)
    sequential = _fit(X, Y, "auto")
    monkeypatch.setattr(ridge, "_fold_threads", lambda X, n_targets, n_splits: 2)
    threaded = _fit(X, Y, "auto")
    for name in ("cv_scores_", "best_alphas_", "coef_", "intercept_"):
        np.testing.assert_array_equal(getattr(threaded, name), getattr(sequential, name))


def test_splits_run_on_the_blas_threads_the_caller_allows():
    from threadpoolctl import threadpool_limits

    small = np.zeros((290, 1536))
    with threadpool_limits(limits=2, user_api="blas"):
        assert ridge._fold_threads(small, 162, 5) == 2
        assert ridge._fold_threads(small, 162, 1) == 1
        assert ridge._fold_threads(small, 10**6, 5) == 1  # large: BLAS keeps its threads
        assert ridge._fold_threads(torch.zeros(290, 1536), 162, 5) == 1
    with threadpool_limits(limits=1, user_api="blas"):
        assert ridge._fold_threads(small, 162, 5) == 1
