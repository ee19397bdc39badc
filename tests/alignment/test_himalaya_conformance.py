"""RidgeCV against himalaya's RidgeCV (per-target alphas, same splits, correlation score)."""

import numpy as np
import pytest

from brainalign.alignment.cv import BlockedKFold
from brainalign.alignment.ridge import RidgeCV

himalaya_ridge = pytest.importorskip("himalaya.ridge")
himalaya_scoring = pytest.importorskip("himalaya.scoring")


@pytest.mark.parametrize(("n_samples", "n_features"), [(120, 40), (90, 300)])
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_same_alphas_scores_and_predictions_as_himalaya(n_samples, n_features):
    rng = np.random.default_rng(n_features)
    X = rng.normal(size=(n_samples, n_features))
    weights = rng.normal(size=(n_features, 30)) * rng.random(30) * 0.2
    Y = X @ weights + rng.normal(size=(n_samples, 30)) + 3.0
    alphas = np.logspace(-1, 6, 15)
    cv = BlockedKFold(4, gap=2)
    ours = RidgeCV(alphas, cv=cv).fit(X, Y)
    theirs = himalaya_ridge.RidgeCV(
        alphas=alphas,
        cv=list(cv.split(X)),
        fit_intercept=True,
        solver_params={"score_func": himalaya_scoring.correlation_score, "local_alpha": True},
    ).fit(X, Y)
    np.testing.assert_allclose(ours.best_alphas_, theirs.best_alphas_, rtol=1e-12)
    np.testing.assert_allclose(ours.cv_scores_.max(axis=0), theirs.cv_scores_, atol=1e-7)
    X_new = rng.normal(size=(10, n_features))
    np.testing.assert_allclose(ours.predict(X_new), theirs.predict(X_new), rtol=1e-8, atol=1e-10)
