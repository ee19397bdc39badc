import numpy as np
import pandas as pd
import pytest

from brainalign._io import OutputDirectoryError, atomic_path, ensure_writable_dir
from brainalign.results import RESULT_COLUMNS, make_results, summary_table, write_results_csv


def _rows():
    return pd.DataFrame(
        {
            "model": ["m", "m", "m", "m", "nuisance:x", "nuisance:x"],
            "dataset": "d",
            "layer": [0, 0, 1, 1, pd.NA, pd.NA],
            "subject": ["a", "b"] * 3,
            "roi": "LATL",
            "metric": "pearson_r",
            "score": [0.1, 0.3, 0.2, 0.4, 0.05, 0.0],
            "ceiling": [0.5, 0.0, 0.5, 0.0, 0.5, 0.0],
        }
    )


def test_make_results_orders_columns_and_normalises_without_clipping():
    results = make_results(_rows())
    assert tuple(results.columns) == RESULT_COLUMNS
    assert results["normalized_score"].iloc[0] == pytest.approx(0.2)
    assert np.isinf(results["normalized_score"].iloc[1])  # ceiling 0: reported, not hidden
    assert results["layer"].isna().sum() == 2


def test_summary_table_has_median_per_layer_and_ceiling_row():
    table = summary_table(make_results(_rows()))
    assert table.loc[("m", "1"), "LATL"] == pytest.approx(0.3)
    assert table.loc[("nuisance:x", "-"), "LATL"] == pytest.approx(0.025)
    assert table.iloc[-1]["LATL"] == pytest.approx(0.25)


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temp:
            temp.write_text("half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    write_results_csv(make_results(_rows()), target)
    assert pd.read_csv(target).shape == (6, len(RESULT_COLUMNS))


def test_unwritable_output_directory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputDirectoryError, match="not a directory"):
        ensure_writable_dir(blocker)
    with pytest.raises(OutputDirectoryError, match="cannot write"):
        ensure_writable_dir(blocker / "sub")


def test_atomic_write_gives_a_new_files_usual_mode(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    target = tmp_path / "atomic.txt"
    with atomic_path(target) as temp:
        temp.write_text("x")
    assert target.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
