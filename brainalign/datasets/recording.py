"""The ``Recording``: what the brain (or a person) did, in one data model."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from brainalign.stimuli import Stimuli

__all__ = ["REPEAT", "Recording", "Sampling"]

Sampling = Literal["event", "continuous"]

REPEAT = "repeat"
"""Name of the samples column holding the 0-based presentation index of a stimulus."""


def _group_rows(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows sorted by group code (stable) and where each group starts.

    Parameters
    ----------
    codes : numpy.ndarray of int, shape (n_rows,)
        Group of each row, ``0 .. n_groups - 1``, every group present.

    Returns
    -------
    order : numpy.ndarray of int, shape (n_rows,)
        Row indices grouped by code, rows of a group in their original order.
    starts : numpy.ndarray of int, shape (n_groups,)
        Position in ``order`` of each group's first row (for ``ufunc.reduceat``).
    """
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(codes.max() + 1 if codes.size else 0))
    return order, starts


@dataclass(frozen=True)
class Recording:
    """Brain or behavioural data with the tables that say what each row and column is.

    Parameters
    ----------
    data : numpy.ndarray, shape (n_samples, n_units) or (n_samples, n_units, n_times)
        The measurements, stored as float32. Time-resolved M/EEG adds the last axis.
    samples : pandas.DataFrame, shape (n_samples, ...)
        One row per sample. Event-related data name the ``stimulus_id`` of each row;
        continuous data give ``onset`` and ``duration`` of each sample in seconds on
        the stimulus clock. A ``subject`` column is present when rows differ by subject.
        Event data with repeated presentations are stored in long form: a ``repeat``
        column (int, the 0-based presentation index of the row's stimulus) and one row
        per (``stimulus_id``, ``repeat``) pair (see :meth:`from_repeats`).
    units : pandas.DataFrame, shape (n_units, ...)
        One row per unit (voxel, ROI, channel): ``subject``, ``roi`` or channel name,
        coordinates where known.
    sampling : {"event", "continuous"}
        ``"event"``: one row per stimulus. ``"continuous"``: a time series sampled
        every ``tr`` seconds (fMRI) or at ``sfreq`` Hz (M/EEG).
    stimuli : Stimuli
        What was presented.
    tr : float, optional
        Repetition time in seconds (continuous fMRI).
    sfreq : float, optional
        Sampling frequency in Hz (continuous M/EEG, or the time axis of epochs).
    regressors : pandas.DataFrame, optional
        Nuisance or control regressors measured alongside the data, long form: one row
        per (``subject``, ``sample``) with ``sample`` indexing ``samples`` and one
        column per regressor.
    meta : dict
        ``name``, ``version``, ``citation``, ``licence`` and anything else worth keeping
        (exclusions with their reasons, for instance).
    times : numpy.ndarray, shape (n_times,), optional
        Time-resolved data only: the time of each point of the last axis in seconds
        relative to the event (epochs: negative before stimulus onset), increasing.

    Raises
    ------
    ValueError
        If shapes disagree, a value is infinite, or a value is NaN in a recording
        without a ``repeat`` column. NaN marks a unit not measured in one presentation
        and is allowed only with repeats, where every (stimulus, unit) must still have
        a finite value in some presentation, (``stimulus_id``, ``repeat``) pairs must be
        unique, and sampling must be ``"event"``.
    """

    data: np.ndarray
    samples: pd.DataFrame
    units: pd.DataFrame
    sampling: Sampling
    stimuli: Stimuli
    tr: float | None = None
    sfreq: float | None = None
    regressors: pd.DataFrame | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    times: np.ndarray | None = None

    def __post_init__(self) -> None:
        data = np.asarray(self.data, dtype=np.float32)
        name = self.meta.get("name", "recording")
        if data.ndim not in (2, 3):
            raise ValueError(
                f"{name}: data must be (n_samples, n_units[, n_times]); got shape {data.shape}"
            )
        if data.shape[0] != len(self.samples):
            raise ValueError(
                f"{name}: data has {data.shape[0]} samples but the samples table has "
                f"{len(self.samples)} rows"
            )
        if data.shape[1] != len(self.units):
            raise ValueError(
                f"{name}: data has {data.shape[1]} units but the units table has "
                f"{len(self.units)} rows"
            )
        if self.sampling not in ("event", "continuous"):
            raise ValueError(
                f"{name}: sampling must be 'event' or 'continuous', not {self.sampling!r}"
            )
        if self.sampling == "continuous" and self.tr is None and self.sfreq is None:
            raise ValueError(f"{name}: continuous data need tr (seconds) or sfreq (Hz)")
        if self.tr is not None and not self.tr > 0:
            raise ValueError(f"{name}: tr must be positive seconds, got {self.tr!r}")
        self._check_values(data, name)
        if "stimulus_id" in self.samples.columns and len(self.stimuli):
            known = set(self.stimuli.stimulus_ids.tolist())
            referenced = self.samples["stimulus_id"].dropna()
            missing = [value for value in dict.fromkeys(referenced.tolist()) if value not in known]
            if missing:
                raise ValueError(
                    f"{name}: {len(missing)} stimulus id(s) of the samples are not in the "
                    f"stimulus table, e.g. {missing[:5]}; every sample's stimulus_id must be "
                    "a row of stimuli"
                )
        if self.times is not None:
            times = np.asarray(self.times, dtype=np.float64)
            if data.ndim != 3 or times.shape != (data.shape[2],):
                raise ValueError(
                    f"{name}: times has shape {times.shape} but data has shape {data.shape}; "
                    "times give one value per point of the last axis of time-resolved data"
                )
            if not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0):
                raise ValueError(f"{name}: times must be finite and increasing seconds")
            object.__setattr__(self, "times", times)
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "samples", self.samples.reset_index(drop=True))
        object.__setattr__(self, "units", self.units.reset_index(drop=True))
        if REPEAT in self.samples.columns:
            self._check_repeats(data, name)

    def _positions(self, bad: np.ndarray, limit: int = 5) -> list[tuple]:
        """The first ``limit`` (row, stimulus_id, unit[, time]) positions where ``bad``."""
        ids = (
            self.samples["stimulus_id"].tolist() if "stimulus_id" in self.samples.columns else None
        )
        positions = []
        for index in np.argwhere(bad)[:limit].tolist():
            row, rest = index[0], index[1:]
            positions.append((row, ids[row], *rest) if ids is not None else (row, *rest))
        return positions

    def _check_values(self, data: np.ndarray, name: str) -> None:
        """No inf ever; NaN only in a recording with a ``repeat`` column."""
        finite = np.isfinite(data)
        if finite.all():
            return
        columns = self.samples.columns
        where = (
            "(sample row, stimulus_id, unit" if "stimulus_id" in columns else "(sample row, unit"
        )
        where += ", time)" if data.ndim == 3 else ")"
        infinite = np.isinf(data)
        if infinite.any():
            raise ValueError(
                f"{name}: data hold {int(infinite.sum())} infinite value(s), e.g. at {where} "
                f"{self._positions(infinite)}; infinite values are never allowed: drop or "
                "fix those samples or units"
            )
        if REPEAT not in self.samples.columns:
            missing = ~finite
            raise ValueError(
                f"{name}: data hold {int(missing.sum())} NaN value(s), e.g. at {where} "
                f"{self._positions(missing)}; NaN is only allowed for a unit not measured in "
                "one presentation of a stimulus shown several times (samples with a "
                f"{REPEAT!r} column). Drop or fill those samples or units, or, for repeated "
                f"presentations, give samples a {REPEAT!r} column (Recording.from_repeats)"
            )

    def _check_repeats(self, data: np.ndarray, name: str) -> None:
        """Validate the ``repeat`` column and that every (stimulus, unit) has a value."""
        samples = self.samples
        if self.sampling != "event" or "stimulus_id" not in samples.columns:
            raise ValueError(
                f"{name}: a {REPEAT!r} column in samples needs sampling='event' and a "
                f"'stimulus_id' column (one row per presentation); got sampling="
                f"{self.sampling!r} and samples columns {list(samples.columns)}"
            )
        repeat = samples[REPEAT]
        values = pd.to_numeric(repeat, errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(values) | (values < 0) | (values != np.round(values)))
        if bad.size:
            raise ValueError(
                f"{name}: samples column {REPEAT!r} must hold 0-based presentation indices "
                f"(integers >= 0); rows {bad[:5].tolist()} hold {repeat.iloc[bad[:5]].tolist()}"
            )
        if samples["stimulus_id"].isna().any():
            rows = np.flatnonzero(samples["stimulus_id"].isna().to_numpy())
            raise ValueError(
                f"{name}: samples with a {REPEAT!r} column need a stimulus_id on every row; "
                f"rows {rows[:5].tolist()} have none"
            )
        duplicated = samples.duplicated(["stimulus_id", REPEAT], keep=False)
        if duplicated.any():
            pairs = list(
                dict.fromkeys(
                    zip(
                        samples.loc[duplicated, "stimulus_id"].tolist(),
                        samples.loc[duplicated, REPEAT].astype(int).tolist(),
                        strict=True,
                    )
                )
            )
            raise ValueError(
                f"{name}: {len(pairs)} (stimulus_id, repeat) pair(s) occur on several rows, "
                f"e.g. {pairs[:5]}; each presentation must be one row (number the repeats "
                "of each stimulus 0, 1, ...)"
            )
        if np.isfinite(data).all():
            return
        codes, ids = pd.factorize(samples["stimulus_id"])
        order, starts = _group_rows(codes)
        seen = np.logical_or.reduceat(np.isfinite(data).reshape(len(data), -1)[order], starts)
        if not seen.all():
            stimuli, columns = np.nonzero(~seen)
            units = np.unique(np.unravel_index(columns, data.shape[1:])[0])
            stimulus_ids = list(dict.fromkeys(ids[stimuli].tolist()))
            raise ValueError(
                f"{name}: {len(stimulus_ids)} stimulus id(s) have no finite value in any "
                f"repeat for some unit: stimuli {stimulus_ids[:5]}, units "
                f"{units[:5].tolist()}; every (stimulus, unit) needs at least one measured "
                "presentation: drop those stimuli or units"
            )

    @property
    def n_samples(self) -> int:
        """Number of samples (rows)."""
        return self.data.shape[0]

    @property
    def n_units(self) -> int:
        """Number of units (columns)."""
        return self.data.shape[1]

    @property
    def n_repeats(self) -> int:
        """Length of the repeats axis of :meth:`repeat_array`: the largest ``repeat`` + 1.

        With repeats numbered 0, 1, ... per stimulus, the number of presentations of the
        most presented stimulus; 1 without a ``repeat`` column.
        """
        if REPEAT not in self.samples.columns or not len(self.samples):
            return 1
        return int(self.samples[REPEAT].max()) + 1

    @classmethod
    def from_repeats(
        cls,
        data: ArrayLike,
        *,
        stimuli: Stimuli,
        units: pd.DataFrame | None = None,
        stimulus_ids: ArrayLike | None = None,
        meta: dict[str, Any] | None = None,
        samples: pd.DataFrame | None = None,
    ) -> Recording:
        """An event Recording from responses to repeated presentations, in long form.

        Parameters
        ----------
        data : array-like, shape (n_stimuli, n_units, n_repeats)
            Response of each unit to each presentation of each stimulus, NaN-padded
            where a stimulus (or one unit of it) has fewer presentations.
        stimuli : Stimuli
            What was presented; every stimulus id must be a row of it.
        units : pandas.DataFrame, shape (n_units, ...), optional
            Default: one column ``unit`` holding ``"0" .. "n_units - 1"``.
        stimulus_ids : array-like, shape (n_stimuli,), optional
            The stimulus of each first-axis row, unique. Default:
            ``stimuli.stimulus_ids``.
        meta : dict, optional
            ``name``, ``version``, ``citation``, ``licence``...
        samples : pandas.DataFrame, shape (n_stimuli, ...), optional
            Extra per-stimulus columns (one row per stimulus, in the order of ``data``),
            copied to each of that stimulus's presentation rows. A ``stimulus_id``
            column, if present, must equal the stimulus ids; ``repeat`` is not allowed.

        Returns
        -------
        Recording
            ``sampling="event"``; one row per (stimulus, repeat) in stimulus order, then
            repeat order, with ``stimulus_id`` and ``repeat`` (the index along the last
            axis of ``data``) columns; presentations that are NaN for every unit are
            dropped.

        Raises
        ------
        ValueError
            If shapes disagree (named), stimulus ids repeat, or the Recording's own
            checks fail (a (stimulus, unit) with no finite value, inf).
        """
        array = np.asarray(data, dtype=np.float32)
        label = (meta or {}).get("name", "recording")
        if array.ndim != 3:
            raise ValueError(
                f"{label}: from_repeats needs data of shape (n_stimuli, n_units, n_repeats); "
                f"got shape {array.shape}"
            )
        n_stimuli, n_units, n_repeats = array.shape
        ids = np.asarray(
            stimuli.stimulus_ids if stimulus_ids is None else stimulus_ids, dtype=object
        ).reshape(-1)
        if ids.shape != (n_stimuli,):
            source = "stimuli.stimulus_ids" if stimulus_ids is None else "stimulus_ids"
            raise ValueError(
                f"{label}: data has shape {array.shape} ({n_stimuli} stimuli) but {source} "
                f"has shape {ids.shape}; give one stimulus id per first-axis row"
            )
        repeated = list(dict.fromkeys(pd.Series(ids)[pd.Series(ids).duplicated()].tolist()))
        if repeated:
            raise ValueError(
                f"{label}: stimulus_ids must be unique (repeats go on the last axis of "
                f"data); repeated: {repeated[:5]}"
            )
        if units is None:
            units = pd.DataFrame({"unit": [str(i) for i in range(n_units)]})
        elif len(units) != n_units:
            raise ValueError(
                f"{label}: data has shape {array.shape} ({n_units} units) but the units "
                f"table has {len(units)} rows"
            )
        if samples is not None:
            if len(samples) != n_stimuli:
                raise ValueError(
                    f"{label}: data has shape {array.shape} ({n_stimuli} stimuli) but the "
                    f"samples table has {len(samples)} rows; give one row per stimulus"
                )
            if REPEAT in samples.columns:
                raise ValueError(
                    f"{label}: samples of from_repeats are per stimulus and may not hold a "
                    f"{REPEAT!r} column; repeats are the last axis of data"
                )
            if "stimulus_id" in samples.columns and not np.array_equal(
                samples["stimulus_id"].to_numpy(dtype=object), ids
            ):
                raise ValueError(
                    f"{label}: the samples' stimulus_id column differs from the stimulus "
                    "ids of data (stimulus_ids or stimuli.stimulus_ids); drop it or align it"
                )
        present = ~np.isnan(array).all(axis=1)  # (n_stimuli, n_repeats)
        stimulus_index, repeat_index = np.nonzero(present)  # stimulus order, then repeat
        table = (
            samples.drop(columns="stimulus_id", errors="ignore")
            .iloc[stimulus_index]
            .reset_index(drop=True)
            if samples is not None
            else pd.DataFrame(index=range(len(stimulus_index)))
        )
        table.insert(0, REPEAT, repeat_index.astype(np.int64))
        table.insert(0, "stimulus_id", ids[stimulus_index])
        return cls(
            array[stimulus_index, :, repeat_index],
            table,
            units,
            "event",
            stimuli,
            meta=dict(meta or {}),
        )

    def repeat_array(self) -> tuple[np.ndarray, np.ndarray]:
        """Responses as (stimulus, unit, repeat), NaN-padded: the inverse of :meth:`from_repeats`.

        Returns
        -------
        stimulus_ids : numpy.ndarray, shape (n_stimuli,)
            Stimuli in order of first appearance among the samples.
        array : numpy.ndarray of float32, shape (n_stimuli, n_units, n_repeats)
            ``array[i, :, r]`` is the row of stimulus ``i`` with ``repeat == r``; NaN
            where there is none (or the unit was not measured). Without a ``repeat``
            column every row is repeat 0 (``n_repeats`` 1).

        Raises
        ------
        ValueError
            If samples have no ``stimulus_id`` column, the data are time-resolved, or,
            without a ``repeat`` column, a stimulus occurs on several rows.
        """
        name = self.meta.get("name", "recording")
        if "stimulus_id" not in self.samples.columns:
            raise ValueError(
                f"{name}: repeat_array needs a 'stimulus_id' column in samples (event data)"
            )
        if self.data.ndim != 2:
            raise ValueError(
                f"{name}: repeat_array supports (n_samples, n_units) data; these are "
                f"time-resolved, shape {self.data.shape}: select a time point or window first"
            )
        codes, ids = pd.factorize(self.samples["stimulus_id"])
        if REPEAT in self.samples.columns:
            repeats = self.samples[REPEAT].to_numpy(dtype=np.int64)
        else:
            repeated = self.samples["stimulus_id"].duplicated()
            if repeated.any():
                raise ValueError(
                    f"{name}: stimulus ids {self.samples['stimulus_id'][repeated].head(5).tolist()}"
                    f" occur on several rows but samples have no {REPEAT!r} column to say "
                    "which presentation each row is; add one (0, 1, ... per stimulus)"
                )
            repeats = np.zeros(self.n_samples, dtype=np.int64)
        array = np.full((len(ids), self.n_units, self.n_repeats), np.nan, dtype=np.float32)
        array[codes, :, repeats] = self.data
        return np.asarray(ids), array

    def average_repeats(self) -> Recording:
        """One row per stimulus: the mean over its presentations, ignoring NaN.

        Returns
        -------
        Recording
            Event data with ``data[i] = nanmean`` of stimulus ``i``'s rows (float32),
            stimuli in order of first appearance; samples hold ``stimulus_id``, the
            columns constant within every stimulus (``repeat`` dropped) and
            ``n_repeats`` (the number of rows of that stimulus). Units, stimuli, times
            and meta are unchanged. Without a ``repeat`` column: ``self``, unchanged.

        Raises
        ------
        ValueError
            If the recording has regressors (they are per presentation row; drop them
            with ``dataclasses.replace(recording, regressors=None)`` first).
        """
        if REPEAT not in self.samples.columns:
            return self
        if self.regressors is not None:
            raise ValueError(
                f"{self.meta.get('name', 'recording')}: average_repeats cannot average the "
                "per-row regressors; drop them first (dataclasses.replace(recording, "
                "regressors=None))"
            )
        codes, ids = pd.factorize(self.samples["stimulus_id"])
        order, starts = _group_rows(codes)
        flat = self.data.reshape(self.n_samples, -1)[order].astype(np.float64)
        finite = np.isfinite(flat)
        sums = np.add.reduceat(np.where(finite, flat, 0.0), starts)
        counts = np.add.reduceat(finite.astype(np.int64), starts)
        means = (sums / counts).astype(np.float32).reshape(len(ids), *self.data.shape[1:])
        grouped = self.samples.groupby(codes, sort=True)
        rows = {"stimulus_id": np.asarray(ids)}
        for column in self.samples.columns:
            if column in ("stimulus_id", REPEAT, "n_repeats"):
                continue
            if (grouped[column].nunique(dropna=False) <= 1).all():
                rows[column] = grouped[column].first().to_numpy()
        rows["n_repeats"] = np.bincount(codes, minlength=len(ids))
        return replace(self, data=means, samples=pd.DataFrame(rows))

    @property
    def subjects(self) -> list[str]:
        """Subjects in order of first appearance among units (or samples)."""
        for table in (self.units, self.samples):
            if "subject" in table.columns:
                return list(dict.fromkeys(table["subject"].tolist()))
        return []

    @property
    def sample_times(self) -> np.ndarray:
        """Acquisition onset of each sample in seconds on the stimulus clock, shape (n_samples,).

        For fMRI this is the start of each volume, the time at which SPM samples its
        convolved regressors (microtime onset 1) and at which model features are
        resampled. Requires an ``onset`` column in ``samples``.
        """
        if "onset" not in self.samples.columns:
            raise ValueError("samples have no 'onset' column to place them in time")
        return self.samples["onset"].to_numpy(dtype=float)

    def select(self, **criteria: Any) -> Recording:
        """Return a new Recording restricted to rows or units matching ``criteria``.

        Each keyword names a column of ``units`` or of ``samples`` (looked up in that
        order); its value is one value or a list of accepted values.

        Examples
        --------
        >>> rec.select(subject="s18", roi=["LATL", "LIFG"])  # doctest: +SKIP
        """
        unit_mask = np.ones(self.n_units, dtype=bool)
        sample_mask = np.ones(self.n_samples, dtype=bool)
        for column, wanted in criteria.items():
            values = (
                list(wanted) if isinstance(wanted, list | tuple | set | np.ndarray) else [wanted]
            )
            if column in self.units.columns:
                table, mask = self.units, unit_mask
            elif column in self.samples.columns:
                table, mask = self.samples, sample_mask
            else:
                raise KeyError(
                    f"cannot select on {column!r}: not a column of units "
                    f"{list(self.units.columns)} or samples {list(self.samples.columns)}"
                )
            unknown = set(values) - set(table[column].tolist())
            if unknown:
                raise KeyError(
                    f"{column}={sorted(map(str, unknown))} not found; available: "
                    f"{sorted(map(str, set(table[column].tolist())))}"
                )
            mask &= table[column].isin(values).to_numpy()
        regressors = self.regressors
        if regressors is not None:
            keep = regressors["sample"].isin(np.flatnonzero(sample_mask))
            if "subject" in regressors.columns and "subject" in self.units.columns:
                keep &= regressors["subject"].isin(self.units["subject"][unit_mask])
            regressors = regressors[keep].copy()
            remap = np.full(self.n_samples, -1)
            remap[sample_mask] = np.arange(sample_mask.sum())
            regressors["sample"] = remap[regressors["sample"].to_numpy()]
            regressors = regressors.reset_index(drop=True)
        return replace(
            self,
            data=self.data[sample_mask][:, unit_mask],
            samples=self.samples[sample_mask],
            units=self.units[unit_mask],
            regressors=regressors,
        )

    def regressor_matrix(self, subject: str, names: list[str]) -> np.ndarray:
        """Regressors of one subject as an array, shape (n_samples, len(names)).

        Raises
        ------
        KeyError
            If there are no regressors, a name is unknown, or the subject has none.
        """
        if self.regressors is None:
            raise KeyError(f"{self.meta.get('name', 'recording')} has no regressors")
        unknown = [n for n in names if n not in self.regressors.columns]
        if unknown:
            raise KeyError(f"unknown regressor(s) {unknown}; have {list(self.regressors.columns)}")
        rows = self.regressors[self.regressors["subject"] == subject].sort_values("sample")
        if len(rows) != self.n_samples:
            raise KeyError(
                f"subject {subject!r} has {len(rows)} regressor rows, expected {self.n_samples}"
            )
        return rows[names].to_numpy(dtype=np.float64)

    def __repr__(self) -> str:
        name = self.meta.get("name", "Recording")
        timing = (
            f", tr={self.tr}s" if self.tr else (f", sfreq={self.sfreq}Hz" if self.sfreq else "")
        )
        subjects = f"{len(self.subjects)} subjects, " if self.subjects else ""
        return (
            f"<Recording {name}: {self.n_samples} samples x {self.n_units} units "
            f"({self.sampling}{timing}), {subjects}{len(self.stimuli)} stimuli>"
        )
