"""Column-wise scores between predictions and recordings, for numpy and torch arrays.

Every score is computed per column (target: voxel, channel, ROI) in float64 on the
inputs' backend and device (:mod:`brainalign.alignment.backend`): numpy arrays give
numpy results, torch tensors give torch tensors on the same device. A score that is
undefined for a column (a constant column) is NaN, never a made-up number.
"""

from __future__ import annotations

from typing import Any

from numpy.typing import ArrayLike

from brainalign.alignment.backend import as_float, namespace

__all__ = ["explained_variance_columns", "pearson_columns", "r2_columns"]


def pearson_columns(a: ArrayLike, b: ArrayLike) -> Any:
    """Pearson correlation of each pair of matching columns.

    Parameters
    ----------
    a, b : array-like, shape (n_samples, n_targets) or (n_samples,)
        Two arrays of the same shape, e.g. predictions and recorded responses; numpy
        arrays or torch tensors (not mixed). A 1-D pair is one column. Computed in
        float64 whatever the input dtype.

    Returns
    -------
    r : array, shape (n_targets,), or float
        ``r[j]`` is the Pearson correlation of ``a[:, j]`` and ``b[:, j]``, clipped to
        [-1, 1], an array of the inputs' kind. A 1-D pair gives a float. ``r[j]`` is
        nan where either column is constant (all its values equal), because the
        correlation is undefined there: it is never silently reported as 0.

    Raises
    ------
    ValueError
        If the shapes differ, the arrays are not 1-D or 2-D, or there are fewer than 2
        samples.
    """
    a_arr, b_arr, one_column = _check_pair("pearson_columns", a, b)
    r = _pearson_2d(a_arr, b_arr)
    return float(r[0]) if one_column else r


def r2_columns(y_true: ArrayLike, y_pred: ArrayLike) -> Any:
    """Coefficient of determination R^2 of each column.

    ``R^2_j = 1 - sum_i (y_ij - p_ij)^2 / sum_i (y_ij - mean_i y_ij)^2``: 1 for a
    perfect prediction, 0 for predicting the column mean, negative when worse.

    Parameters
    ----------
    y_true : array-like, shape (n_samples, n_targets) or (n_samples,)
        Recorded responses.
    y_pred : array-like, same shape as ``y_true``
        Predictions. numpy arrays or torch tensors (not mixed); computed in float64.

    Returns
    -------
    r2 : array, shape (n_targets,), or float for 1-D inputs
        Equals ``sklearn.metrics.r2_score(y_true, y_pred, multioutput="raw_values")``
        except where ``y_true[:, j]`` is constant: R^2 is undefined there and this
        returns nan, where scikit-learn returns 1.0 (perfect prediction) or 0.0.

    Raises
    ------
    ValueError
        If the shapes differ, the arrays are not 1-D or 2-D, or there are fewer than 2
        samples.
    """
    true, pred, one_column = _check_pair("r2_columns", y_true, y_pred)
    r2 = _r2_2d(true, pred)
    return float(r2[0]) if one_column else r2


def explained_variance_columns(y_true: ArrayLike, y_pred: ArrayLike) -> Any:
    """Explained variance of each column: ``1 - var(y - p) / var(y)``.

    Unlike R^2 it ignores a constant offset of the predictions (the mean error).

    Parameters
    ----------
    y_true : array-like, shape (n_samples, n_targets) or (n_samples,)
        Recorded responses.
    y_pred : array-like, same shape as ``y_true``
        Predictions. numpy arrays or torch tensors (not mixed); computed in float64.

    Returns
    -------
    ev : array, shape (n_targets,), or float for 1-D inputs
        Equals ``sklearn.metrics.explained_variance_score(y_true, y_pred,
        multioutput="raw_values")`` except where ``y_true[:, j]`` is constant: the score
        is undefined there and this returns nan, where scikit-learn returns 1.0 or 0.0.

    Raises
    ------
    ValueError
        If the shapes differ, the arrays are not 1-D or 2-D, or there are fewer than 2
        samples.
    """
    true, pred, one_column = _check_pair("explained_variance_columns", y_true, y_pred)
    xp = namespace(true)
    error = true - pred
    error_c = error - xp.mean(error, axis=0)
    true_c = true - xp.mean(true, axis=0)
    ev = 1.0 - _ratio(xp.sum(error_c * error_c, axis=0), xp.sum(true_c * true_c, axis=0), xp)
    ev = xp.where(_constant(true, xp), xp.nan, ev)
    return float(ev[0]) if one_column else ev


def _check_pair(name: str, a: ArrayLike, b: ArrayLike) -> tuple[Any, Any, bool]:
    """Both arrays as float64 2-D arrays of one backend, and whether they were 1-D."""
    xp = namespace(a, b)
    a_arr = as_float(a, xp, xp.float64)
    b_arr = as_float(b, xp, xp.float64)
    if tuple(a_arr.shape) != tuple(b_arr.shape):
        raise ValueError(
            f"{name} needs arrays of the same shape; got {tuple(a_arr.shape)} and "
            f"{tuple(b_arr.shape)}. Pass (n_samples, n_targets) arrays with matching rows "
            "and columns."
        )
    if a_arr.ndim not in (1, 2):
        raise ValueError(
            f"{name} needs 1-D or 2-D arrays (n_samples, n_targets); got "
            f"{a_arr.ndim}-D arrays of shape {tuple(a_arr.shape)}."
        )
    if a_arr.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 samples (rows); got {a_arr.shape[0]}.")
    one_column = a_arr.ndim == 1
    if one_column:
        a_arr, b_arr = a_arr[:, None], b_arr[:, None]
    return a_arr, b_arr, one_column


def _constant(a: Any, xp: Any) -> Any:
    """Boolean (n_targets,) of (n_samples, n_targets) ``a`` (or (n_sets, n_targets) of
    (n_sets, n_samples, n_targets)): the columns whose values are all equal."""
    return xp.max(a, axis=-2) == xp.min(a, axis=-2)


def _ratio(num: Any, den: Any, xp: Any) -> Any:
    """``num / den`` with no division-by-zero warning (callers mask zero ``den`` as nan)."""
    return num / xp.where(den == 0, xp.ones_like(den), den)


class TargetScorer:
    """Per-target scores of many predictions of the same responses.

    The one implementation of the column-wise Pearson r and R^2: the terms that depend
    on the responses only (their constant columns, centred values, sum of squares) are
    computed once, so scoring each further prediction (each ridge penalty, for example)
    is a few passes over it.

    Parameters
    ----------
    scoring : {"pearson", "r2"}
    Y : array, shape (n_samples, n_targets)
        The responses, float, unchecked.
    """

    def __init__(self, scoring: str, Y: Any) -> None:
        xp = namespace(Y)
        self.xp, self.scoring, self.Y = xp, scoring, Y
        self.constant = _constant(Y, xp)
        true_c = Y - xp.mean(Y, axis=0)
        self.true_c = true_c if scoring == "pearson" else None
        self.ss_true = xp.sum(true_c * true_c, axis=0)

    def __call__(self, pred: Any) -> Any:
        """Scores of ``pred`` (n_samples, n_targets) against ``Y``, shape (n_targets,).

        Nan where ``Y`` is constant, and for Pearson also where ``pred`` is.
        """
        return self.many(pred[None])[0]

    def many(self, preds: Any) -> Any:
        """Scores of several predictions of ``Y`` at once (e.g. one per ridge penalty).

        Parameters
        ----------
        preds : array, shape (n_sets, n_samples, n_targets)

        Returns
        -------
        array, shape (n_sets, n_targets)
            Nan where ``Y`` is constant, and for Pearson also where a prediction is.
        """
        xp = self.xp
        if self.scoring == "r2":
            residual = self.Y - preds
            ss_res = xp.sum(residual * residual, axis=-2)
            r2 = 1.0 - _ratio(ss_res, xp.broadcast_to(self.ss_true, ss_res.shape), xp)
            return xp.where(self.constant, xp.nan, r2)
        constant = self.constant | _constant(preds, xp)
        pred_c = preds - xp.mean(preds, axis=-2, keepdims=True)
        num = xp.sum(self.true_c * pred_c, axis=-2)
        den = xp.sqrt(self.ss_true * xp.sum(pred_c * pred_c, axis=-2))
        r = xp.clip(_ratio(num, den, xp), min=-1.0, max=1.0)
        return xp.where(constant | (den == 0), xp.nan, r)


def _pearson_2d(a: Any, b: Any) -> Any:
    """Column-wise Pearson r of two (n_samples, n_targets) float arrays, unchecked.

    Columns that are constant in ``a`` or ``b`` give nan.
    """
    return TargetScorer("pearson", b)(a)


def _r2_2d(y_true: Any, y_pred: Any) -> Any:
    """Column-wise R^2 of two (n_samples, n_targets) float arrays, unchecked.

    Nan where ``y_true`` is constant.
    """
    return TargetScorer("r2", y_true)(y_pred)
