"""The ``Recording``: what the brain (or a person) did, in one data model."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from brainalign.stimuli import Stimuli

Sampling = Literal["event", "continuous"]


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
        if not np.all(np.isfinite(data)):
            raise ValueError(f"{name}: data contain NaN or infinite values")
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

    @property
    def n_samples(self) -> int:
        """Number of samples (rows)."""
        return self.data.shape[0]

    @property
    def n_units(self) -> int:
        """Number of units (columns)."""
        return self.data.shape[1]

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
        return (
            f"<Recording {name}: {self.n_samples} samples x {self.n_units} units "
            f"({self.sampling}{timing}), {len(self.subjects)} subjects, "
            f"{len(self.stimuli)} stimuli>"
        )
