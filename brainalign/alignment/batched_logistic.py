"""Standardised L2 logistic regression fitted at many time points at once (Newton).

At each time point ``t`` the model is scikit-learn's
``make_pipeline(StandardScaler(), LogisticRegression(C=C))`` with the default
``penalty="l2"`` and ``fit_intercept=True``: the channels are standardised with the
training epochs' mean and standard deviation at that time point (a constant channel
keeps scale 1, as :class:`~sklearn.preprocessing.StandardScaler`), then

- two classes: ``w, b = argmin C * sum_i log(1 + exp(-s_i (x_i . w + b))) + ||w||^2 / 2``
  with ``s_i = +1`` for the larger class label, ``-1`` for the other;
- three or more: the multinomial (softmax) loss scikit-learn >= 1.5 minimises with
  ``lbfgs``, ``C * sum_i (logsumexp_k z_ik - z_i,y_i) + ||W||^2 / 2`` with
  ``z_ik = x_i . w_k + b_k``; the intercepts, which the loss fixes only up to a common
  shift, are taken with zero sum (scikit-learn's, which starts them at zero and keeps
  their sum there).

The intercepts are not penalised. Both problems are strictly convex (the multinomial
one on the subspace ``sum_k (w_k, b_k) = 0``, where its optimum lies), so every solver
reaches the same optimum; here all time points take damped Newton steps together:
one stacked ``numpy.linalg.solve`` per iteration of the (p + 1)-square Hessians (two
classes) or (K - 1)(p + 1)-square ones (K classes, on that subspace), with a
backtracking (Armijo) line search per time point, until the largest gradient entry of
the objective divided by the number of epochs is below ``tol`` at every time point.
Time points that do not get there in ``max_iter`` iterations are fitted again by
scikit-learn itself (never a silent wrong answer). scikit-learn's lbfgs at its
default ``tol=1e-4`` stops short of this optimum (coefficients typically within
1e-4 relative).

Typical use: :func:`brainalign.alignment.time_resolved.sliding_scores` with
``estimator="logistic"``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from brainalign.alignment._checks import check_int

__all__ = ["BatchedLogistic", "fit_batched_logistic"]

_ARMIJO = 1e-4
_MAX_HALVINGS = 60
_ROUNDING = 16 * np.finfo(np.float64).eps


@dataclass(frozen=True)
class BatchedLogistic:
    """Standardised logistic regressions, one per time point.

    Attributes
    ----------
    classes : numpy.ndarray, shape (n_classes,)
        Sorted class labels (scikit-learn's ``classes_``).
    mean, var, scale : numpy.ndarray, shape (n_times, n_channels)
        The StandardScaler of each time point (``mean_``, ``var_``, ``scale_``): training
        mean, variance and standard deviation (1 for a constant channel), in the data's
        units.
    coef : numpy.ndarray, shape (n_times, n_rows, n_channels)
        Weights on the standardised channels (scikit-learn's ``coef_``): ``n_rows`` is
        1 for two classes, ``n_classes`` otherwise.
    intercept : numpy.ndarray, shape (n_times, n_rows)
        Scikit-learn's ``intercept_``.
    n_iter : numpy.ndarray of int, shape (n_times,)
        Newton iterations of each time point (0 where scikit-learn fitted it).
    refitted : numpy.ndarray of bool, shape (n_times,)
        Time points that Newton did not bring below ``tol`` and scikit-learn fitted.
    n_epochs : int
        Training epochs.
    C : float
        Inverse penalty.
    """

    classes: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    n_iter: np.ndarray
    refitted: np.ndarray
    n_epochs: int
    C: float

    def decision_function(self, X: ArrayLike) -> np.ndarray:
        """Each time point's model on the epochs at the same time point.

        Parameters
        ----------
        X : array-like, shape (n_times, n_epochs, n_channels)
            In the units the models were fitted in.

        Returns
        -------
        numpy.ndarray, shape (n_times, n_epochs, n_rows)
            ``StandardScaler`` then ``X . w + b`` (scikit-learn's ``decision_function``;
            ``n_rows`` is 1 for two classes).
        """
        data = np.asarray(X, dtype=np.float64)
        if data.ndim != 3 or data.shape[::2] != self.mean.shape:
            raise ValueError(
                f"X must be epochs of shape (n_times={self.mean.shape[0]}, n_epochs, "
                f"n_channels={self.mean.shape[1]}), the time points and channels of the "
                f"fit; got shape {data.shape}."
            )
        Z = (data - self.mean[:, None]) / self.scale[:, None]
        return np.matmul(Z, self.coef.transpose(0, 2, 1)) + self.intercept[:, None, :]

    def decision_all(self, X: ArrayLike, train_times: slice = slice(None)) -> np.ndarray:
        """Every time point's model on the epochs at every time point (generalisation).

        Parameters
        ----------
        X : array-like, shape (n_test_times, n_epochs, n_channels)
        train_times : slice, default all
            The models (time points) to use.

        Returns
        -------
        numpy.ndarray, shape (n_times, n_test_times, n_epochs, n_rows)
            Element ``[t, s]`` is the model of (selected) time ``t`` on the epochs at
            time ``s``: the scaler folded into the weights, ``x . (w / scale) + b -
            (mean / scale) . w``.
        """
        data = np.asarray(X, dtype=np.float64)
        if data.ndim != 3 or data.shape[2] != self.mean.shape[1]:
            raise ValueError(
                f"X must be epochs of shape (n_test_times, n_epochs, n_channels="
                f"{self.mean.shape[1]}); got shape {data.shape}."
            )
        n_test, n_epochs, n_channels = data.shape
        scale, mean = self.scale[train_times], self.mean[train_times]
        weights = self.coef[train_times] / scale[:, None, :]  # (n_times, n_rows, n_channels)
        offset = self.intercept[train_times] - np.einsum("tc,trc->tr", mean, weights)
        n_times, n_rows = offset.shape
        flat = data.reshape(n_test * n_epochs, n_channels) @ weights.reshape(-1, n_channels).T
        out = flat.reshape(n_test, n_epochs, n_times, n_rows) + offset
        return out.transpose(2, 0, 1, 3)

    def predict_labels(self, decision: np.ndarray) -> np.ndarray:
        """Class labels from decision values (..., n_rows), as scikit-learn's ``predict``."""
        if decision.shape[-1] == 1:
            return self.classes[(decision[..., 0] > 0).astype(np.intp)]
        return self.classes[np.argmax(decision, axis=-1)]

    def sklearn_pipeline(self, t: int) -> object:
        """The fitted ``make_pipeline(StandardScaler(), LogisticRegression(C))`` of time
        ``t`` (a :class:`sklearn.pipeline.Pipeline`), for scikit-learn scorers that need
        an estimator (e.g. ``"neg_log_loss"``)."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        scaler, model = StandardScaler(), LogisticRegression(C=self.C, max_iter=1000)
        n_channels = self.mean.shape[1]
        scaler.mean_, scaler.scale_ = self.mean[t].copy(), self.scale[t].copy()
        scaler.var_, scaler.n_samples_seen_ = self.var[t].copy(), self.n_epochs
        scaler.n_features_in_ = n_channels
        model.classes_, model.n_features_in_ = self.classes, n_channels
        model.coef_, model.intercept_ = self.coef[t].copy(), self.intercept[t].copy()
        model.n_iter_ = np.array([int(self.n_iter[t])])
        return make_pipeline(scaler, model)


def fit_batched_logistic(
    X: ArrayLike,
    y: ArrayLike,
    *,
    C: float = 1.0,
    tol: float = 1e-10,
    max_iter: int = 100,
) -> BatchedLogistic:
    """Fit ``StandardScaler`` + L2 ``LogisticRegression(C)`` at every time point at once.

    Parameters
    ----------
    X : array-like, shape (n_times, n_epochs, n_channels)
        Training epochs, time point first; finite (computed in float64).
    y : array-like, shape (n_epochs,)
        Class labels (two or more classes), the same at every time point.
    C : float, default 1.0
        Inverse penalty, as scikit-learn's ``C``.
    tol : float, default 1e-10
        Convergence: largest absolute gradient entry of the objective divided by
        ``n_epochs`` (scikit-learn's scaling, where ``tol`` is its ``gtol``).
    max_iter : int, default 100
        Newton iterations; time points not converged by then are fitted by
        scikit-learn (``LogisticRegression(C, tol=tol, max_iter=1000)``).

    Returns
    -------
    BatchedLogistic

    Raises
    ------
    ValueError
        For ``X`` that is not 3-D or finite, ``y`` of the wrong length or with one
        class, or ``C`` / ``tol`` that are not positive.
    """
    data = np.asarray(X, dtype=np.float64)
    labels = np.asarray(y)
    if data.ndim != 3 or not np.all(np.isfinite(data)):
        raise ValueError(
            f"X must be finite epochs of shape (n_times, n_epochs, n_channels); got shape "
            f"{data.shape}{'' if data.ndim != 3 else ' with NaN or inf values'}."
        )
    if labels.shape != (data.shape[1],):
        raise ValueError(
            f"y must have shape ({data.shape[1]},), one label per epoch; got {labels.shape}."
        )
    if not (np.isscalar(C) and np.isscalar(tol) and C > 0 and tol > 0):
        raise ValueError(f"C and tol must be positive; got C={C!r}, tol={tol!r}.")
    max_iter = check_int("max_iter", max_iter, minimum=1)
    classes, codes = np.unique(labels, return_inverse=True)
    if classes.size < 2:
        raise ValueError(f"y has one class ({classes.tolist()}); logistic regression needs two.")
    mean, var, scale, design = _standardise(data)
    n_times = data.shape[0]
    kind = _Binary if classes.size == 2 else _Multinomial
    loss = kind(codes, C, design.shape[2])
    theta, n_iter, converged = _newton(design, loss, tol, max_iter)
    theta = theta.reshape(n_times, loss.n_rows, -1)
    coef, intercept = theta[:, :, :-1].copy(), theta[:, :, -1].copy()
    for t in np.flatnonzero(~converged):
        coef[t], intercept[t] = _sklearn_fit(design[t, :, :-1], labels, C, tol)
    n_iter = np.where(converged, n_iter, 0)
    return BatchedLogistic(
        classes, mean, var, scale, coef, intercept, n_iter, ~converged, data.shape[1], C
    )


def _standardise(data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:class:`~sklearn.preprocessing.StandardScaler` at every time point.

    A channel is constant, scale 1, when its variance is within scikit-learn's bound for
    the rounding of a two-pass variance (``_is_constant_feature``):
    ``var <= n eps var + (n mean eps)^2``.

    Returns
    -------
    mean, var, scale : numpy.ndarray, shape (n_times, n_channels)
    design : numpy.ndarray, shape (n_times, n_epochs, n_channels + 1)
        The standardised channels, then a column of ones.
    """
    n_times, n, n_channels = data.shape
    mean = data.mean(axis=1)
    design = np.empty((n_times, n, n_channels + 1))
    centred = design[:, :, :n_channels]
    np.subtract(data, mean[:, None], out=centred)
    var = np.square(centred).mean(axis=1)
    eps = np.finfo(np.float64).eps
    constant = var <= n * eps * var + (n * mean * eps) ** 2
    scale = np.where(constant, 1.0, np.sqrt(var))
    centred /= scale[:, None]
    design[:, :, n_channels] = 1.0
    return mean, var, scale, design


def _sklearn_fit(
    Z: np.ndarray, labels: np.ndarray, C: float, tol: float
) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's ``coef_`` and ``intercept_`` on standardised channels ``Z``."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=C, tol=tol, max_iter=1000).fit(Z, labels)
    return model.coef_, model.intercept_


class _Binary:
    """``C * sum log(1 + exp(-s z)) + ||w||^2 / 2`` per time point, ``z = A theta``.

    ``A`` (n_times, n_epochs, p + 1) holds the standardised channels and a column of
    ones; ``theta`` (n_times, p + 1) the weights then the intercept; ``s`` is +1 for
    ``classes[1]``, -1 for ``classes[0]``.
    """

    n_rows = 1

    def __init__(self, codes: np.ndarray, C: float, p1: int) -> None:
        self.C = C
        self.target = (codes == 1).astype(np.float64)
        self.sign = 2.0 * self.target - 1.0
        self.penalty = np.append(np.ones(p1 - 1), 0.0)  # the intercept is not penalised

    def scores(self, A: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """``z``, shape (n_times, n_epochs)."""
        return np.matmul(A, theta[:, :, None])[:, :, 0]

    def value(self, z: np.ndarray, theta: np.ndarray) -> np.ndarray:
        data = np.logaddexp(0.0, -self.sign * z).sum(axis=1)
        return self.C * data + 0.5 * np.einsum("tp,tp,p->t", theta, theta, self.penalty)

    def gradient(self, A: np.ndarray, z: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """Gradient, shape (n_times, p + 1)."""
        from scipy.special import expit

        residual = self.C * (expit(z) - self.target)  # (n_times, n_epochs)
        return np.matmul(residual[:, None, :], A)[:, 0] + theta * self.penalty

    def newton_step(self, A: np.ndarray, z: np.ndarray, grad: np.ndarray) -> np.ndarray:
        """Newton step ``-H^-1 grad``, shape (n_times, p + 1); the Hessian
        ``C A^T diag(P (1 - P)) A + diag(penalty)`` in the precision of ``A``."""
        from scipy.special import expit

        prob = expit(z)
        weight = (self.C * prob * (1.0 - prob)).astype(A.dtype)
        hess = np.matmul(A.transpose(0, 2, 1), A * weight[:, :, None]).astype(np.float64)
        diag = np.arange(self.penalty.size)
        hess[:, diag, diag] += self.penalty
        return -np.linalg.solve(hess, grad[:, :, None])[:, :, 0]


class _Multinomial:
    """``C * sum (logsumexp_k z_k - z_y) + ||W||^2 / 2`` per time point, ``z_k = A theta_k``.

    ``theta`` (n_times, K (p + 1)) holds the K rows ``(w_k, b_k)``; ``z`` (n_times,
    n_epochs, K). The loss ignores a common shift of the rows, and the penalty makes
    ``sum_k w_k = 0`` at the optimum; Newton runs on the subspace ``sum_k theta_k = 0``
    (the last row minus the sum of the others), where the problem is strictly convex,
    its optimum is the optimum of the whole problem, and the intercepts have zero sum
    (scikit-learn's: it starts them at zero and their gradients sum to zero).
    """

    def __init__(self, codes: np.ndarray, C: float, p1: int) -> None:
        self.C = C
        self.n_rows = int(codes.max()) + 1
        self.onehot = np.eye(self.n_rows)[codes]  # (n_epochs, K)
        self.penalty = np.tile(np.append(np.ones(p1 - 1), 0.0), self.n_rows)

    def scores(self, A: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """``z``, shape (n_times, n_epochs, K)."""
        rows = theta.reshape(theta.shape[0], self.n_rows, -1)
        return np.matmul(A, rows.transpose(0, 2, 1))

    def value(self, z: np.ndarray, theta: np.ndarray) -> np.ndarray:
        from scipy.special import logsumexp

        data = (logsumexp(z, axis=2) - np.einsum("tnk,nk->tn", z, self.onehot)).sum(axis=1)
        return self.C * data + 0.5 * np.einsum("tp,tp,p->t", theta, theta, self.penalty)

    def gradient(self, A: np.ndarray, z: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """Gradient, shape (n_times, K (p + 1))."""
        from scipy.special import softmax

        residual = self.C * (softmax(z, axis=2) - self.onehot)  # (n_times, n_epochs, K)
        grad = np.matmul(residual.transpose(0, 2, 1), A).reshape(theta.shape)
        return grad + theta * self.penalty

    def newton_step(self, A: np.ndarray, z: np.ndarray, grad: np.ndarray) -> np.ndarray:
        """Newton step in the subspace ``sum_k theta_k = 0``, shape (n_times, K (p + 1)).

        With ``theta_K = -sum_{k<K} theta_k`` the (K - 1)(p + 1) free rows have gradient
        ``g_k - g_K`` and Hessian blocks ``H_km - H_kK - H_Km + H_KK`` of the whole
        Hessian, whose loss part in block ``(k, m)`` is ``A^T diag(w_km) A`` with
        ``w_km = C P_k (delta_km - P_m)`` (P the softmax probabilities): so the free
        blocks are ``A^T diag(w_km - w_kK - w_Km + w_KK) A`` (one stacked matmul, in the
        precision of ``A``), plus the penalty (identity on the weights of every class,
        which gives 1 + delta_km on the weight diagonal of block ``(k, m)``).
        """
        from scipy.special import softmax

        prob = softmax(z, axis=2)  # (n_times, n_epochs, K)
        n_times, n_epochs, p1 = A.shape
        free, last = self.n_rows - 1, self.n_rows - 1

        def weight(k: int, m: int) -> np.ndarray:
            return self.C * prob[:, :, k] * ((k == m) - prob[:, :, m])

        pairs = [(k, m) for k in range(free) for m in range(k, free)]
        corner = weight(last, last)
        weights = np.stack(
            [weight(k, m) - weight(k, last) - weight(last, m) + corner for k, m in pairs],
            axis=2,
        ).astype(A.dtype)  # (n_times, n_epochs, n_pairs)
        weighted = (A[:, :, None, :] * weights[:, :, :, None]).reshape(n_times, n_epochs, -1)
        blocks = np.matmul(A.transpose(0, 2, 1), weighted).reshape(n_times, p1, len(pairs), p1)
        hess = np.empty((n_times, free * p1, free * p1))
        for j, (k, m) in enumerate(pairs):  # every block is symmetric
            hess[:, k * p1 : (k + 1) * p1, m * p1 : (m + 1) * p1] = blocks[:, :, j, :]
            hess[:, m * p1 : (m + 1) * p1, k * p1 : (k + 1) * p1] = blocks[:, :, j, :]
        weights_at = np.arange(p1 - 1)  # the penalty: not on the intercepts
        for k in range(free):
            for m in range(free):
                hess[:, k * p1 + weights_at, m * p1 + weights_at] += 1.0 + (k == m)
        rows = grad.reshape(n_times, self.n_rows, p1)
        reduced = (rows[:, :free] - rows[:, free:]).reshape(n_times, -1)
        step = -np.linalg.solve(hess, reduced[:, :, None])[:, :, 0].reshape(n_times, free, p1)
        full = np.concatenate([step, -step.sum(axis=1, keepdims=True)], axis=1)
        return full.reshape(grad.shape)


def _newton(
    A: np.ndarray, loss: _Binary | _Multinomial, tol: float, max_iter: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Damped Newton on every time point together, from zero; converged time points
    drop out.

    The Hessians are computed in float32 (half the time of float64; then solved in
    float64), the scores, objective and gradients in float64: the steps are inexact
    Newton steps (relative error ~1e-7 x the Hessian's condition number; the line
    search keeps each one a decrease), and the point reached is the float64 optimum,
    since convergence is judged on the float64 gradient.

    Returns
    -------
    theta : numpy.ndarray, shape (n_times, n_rows (p + 1))
    n_iter : numpy.ndarray of int, shape (n_times,)
    converged : numpy.ndarray of bool, shape (n_times,)
    """
    n_times, n_epochs, p1 = A.shape
    theta = np.zeros((n_times, loss.n_rows * p1))
    n_iter = np.zeros(n_times, dtype=np.intp)
    converged = np.zeros(n_times, dtype=bool)
    active = np.arange(n_times)
    A_active, A32 = A, A.astype(np.float32)
    z = loss.scores(A, theta)  # zero, then moved along the steps (linear in theta)
    for iteration in range(max_iter + 1):
        current = theta[active]
        grad = loss.gradient(A_active, z, current)
        done = np.abs(grad).max(axis=1) / n_epochs <= tol
        converged[active[done]] = True
        if done.all() or iteration == max_iter:
            break
        keep = ~done
        if not keep.all():
            active, A_active, A32 = active[keep], A_active[keep], A32[keep]
            current, z, grad = current[keep], z[keep], grad[keep]
        try:
            step = loss.newton_step(A32, z, grad)
        except np.linalg.LinAlgError:  # a singular Hessian: steepest descent this once
            step = -grad
        slope = np.einsum("tp,tp->t", grad, step)
        uphill = ~(slope < 0)  # not a descent direction (or NaN): steepest descent there
        if uphill.any():
            step[uphill] = -grad[uphill]
            slope[uphill] = -np.einsum("tp,tp->t", grad[uphill], grad[uphill])
        theta[active], z = _line_search(loss, current, z, step, loss.scores(A_active, step), slope)
        n_iter[active] += 1
    return theta, n_iter, converged


def _line_search(
    loss: _Binary | _Multinomial,
    theta: np.ndarray,
    z: np.ndarray,
    step: np.ndarray,
    z_step: np.ndarray,
    slope: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Backtracking (Armijo) line search per time point: ``theta + 2^-j step`` for the
    smallest ``j`` that lowers the objective by at least ``1e-4`` of the linear
    prediction (up to the rounding of the objective, ``16 eps |f|``); a time point
    that finds none keeps ``theta`` (it will not converge, and scikit-learn fits it).
    ``z_step`` is ``A step`` (the scores move linearly along the step). Returns the new
    ``theta`` and its scores."""
    value = loss.value(z, theta)
    size = np.ones(theta.shape[0])
    pending = np.arange(theta.shape[0])
    new, new_z = theta.copy(), z.copy()
    for _ in range(_MAX_HALVINGS):
        s = size[pending]
        shape = (-1,) + (1,) * (z.ndim - 1)
        trial = theta[pending] + s[:, None] * step[pending]
        trial_z = z[pending] + s.reshape(shape) * z_step[pending]
        allowed = value[pending] + _ARMIJO * s * slope[pending]
        # rounding of the objective: near the optimum its decrease is below it
        ok = loss.value(trial_z, trial) <= allowed + _ROUNDING * np.abs(value[pending])
        new[pending[ok]], new_z[pending[ok]] = trial[ok], trial_z[ok]
        pending = pending[~ok]
        if pending.size == 0:
            break
        size[pending] *= 0.5
    return new, new_z
