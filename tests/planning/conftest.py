"""Fixtures of the planning tests: a cached calibration, so no test but the memory test
spends seconds calibrating."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

#: A calibration with round numbers (the memory test measures the real one).
FIXED = {
    "baseline_bytes": 500 * 2**20,
    "gflops_float32": 20.0,
    "gflops_float64": 10.0,
    "ridge_seconds_per_target": 3e-4,
}


@pytest.fixture
def fixed_calibration(isolated_cache, monkeypatch):
    """The isolated cache folder (``BRAINALIGN_DATA``, offline) holding :data:`FIXED` as
    this machine's calibration; returns the Calibration."""
    from brainalign.planning.calibration import Calibration, calibration_path

    monkeypatch.setenv("BRAINALIGN_OFFLINE", "1")
    calibration = Calibration(**FIXED, machine="fixed")
    path = calibration_path()
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(asdict(calibration)))
    return calibration
