"""Write the small Brain-Score language assemblies of this folder (run from the repo root).

    python tests/data/brainscore_language/make_fixtures.py

Each file has the dimensions and coordinate names of the published assembly (see
SOURCE.txt), written as brainio's ``write_netcdf`` does (MultiIndex reset, h5netcdf),
with a few items and a planted signal: every unit responds to the identity of the
item's last word (a value per word, scaled by a per-unit gain) plus Gaussian noise;
Fedorenko's electrodes also get a small ramp over word position.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

HERE = Path(__file__).resolve().parent
#: Words (from tests/data/alice_words.txt) that end items, and their planted values.
FINAL = {"rabbit": 1.5, "sister": -1.5, "book": 0.5, "pictures": -0.5, "Alice": 1.0, "tired": -1.0}
FILLER = ["the", "was", "very", "of", "her", "and", "she", "a", "to", "it", "had", "in"]


def _write(array: xr.DataArray, name: str) -> None:
    path = HERE / name
    array.reset_index(["presentation", "neuroid"]).to_netcdf(path, engine="h5netcdf")


def _item(rng: np.random.Generator, n_words: int) -> tuple[str, str]:
    last = str(rng.choice(list(FINAL)))
    words = [str(w) for w in rng.choice(FILLER, size=n_words - 1)] + [last]
    return " ".join(words), last


def _responses(rng, content: np.ndarray, n_units: int, noise: float = 0.5) -> np.ndarray:
    gains = rng.uniform(0.6, 1.4, n_units)
    return content[:, None] * gains[None, :] + noise * rng.standard_normal((len(content), n_units))


def _array(values, presentation: dict, neuroid: dict, attrs: dict | None = None) -> xr.DataArray:
    p_index = pd.MultiIndex.from_arrays(list(presentation.values()), names=list(presentation))
    n_index = pd.MultiIndex.from_arrays(list(neuroid.values()), names=list(neuroid))
    coords = xr.Coordinates.from_pandas_multiindex(p_index, "presentation")
    coords = coords.merge(xr.Coordinates.from_pandas_multiindex(n_index, "neuroid")).coords
    return xr.DataArray(values, dims=("presentation", "neuroid"), coords=coords, attrs=attrs or {})


def pereira(rng: np.random.Generator) -> None:
    """Two experiments; subject 199 did only 384sentences, 215 only 243sentences."""
    rows = []
    for experiment, per_passage in (("384sentences", 4), ("243sentences", 3)):
        for passage in range(1, 13):
            category = ["animal", "music", "weather"][passage % 3]
            for _ in range(per_passage):
                text, last = _item(rng, int(rng.integers(3, 6)))
                rows.append((experiment, passage, category, text, FINAL[last]))
    table = pd.DataFrame(rows, columns=["experiment", "passage", "category", "text", "value"])
    table["stimulus_num"] = table.groupby("experiment").cumcount()
    subjects = {"018": "both", "199": "384sentences", "215": "243sentences", "288": "both"}
    unit_rows = [(s, v, ["LH_AntTemp", "LH_IFG"][v % 2]) for s in subjects for v in range(6)]
    values = np.full((len(table), len(unit_rows)), np.nan)
    for subject, did in subjects.items():
        columns = [i for i, (s, _, _) in enumerate(unit_rows) if s == subject]
        rows_ = table.index if did == "both" else table.index[table["experiment"] == did]
        block = _responses(rng, table.loc[rows_, "value"].to_numpy(), len(columns))
        values[np.ix_(rows_, columns)] = block
    shuffled = rng.permutation(len(table))  # file order is not reading order
    table, values = table.iloc[shuffled].reset_index(drop=True), values[shuffled]
    presentation = {
        "experiment": table["experiment"].to_numpy(),
        "stimulus_num": table["stimulus_num"].to_numpy(),
        "sentence": table["text"].to_numpy(),
        "stimulus": table["text"].to_numpy(),
        "passage_index": table["passage"].to_numpy(),
        "passage_label": [
            f"{c}{p}" for c, p in zip(table["category"], table["passage"], strict=True)
        ],
        "passage_category": table["category"].to_numpy(),
        "stimulus_id": [
            f"{e}.{n}" for e, n in zip(table["experiment"], table["stimulus_num"], strict=True)
        ],
        "story": [f"{e}.{c}" for e, c in zip(table["experiment"], table["category"], strict=True)],
    }
    neuroid = {
        "subject": [s for s, _, _ in unit_rows],
        "voxel_num": [v for _, v, _ in unit_rows],
        "atlas": ["language"] * len(unit_rows),
        "filter_strategy": ["HminusE"] * len(unit_rows),
        "atlas_selection": ["from90to100prcnt"] * len(unit_rows),
        "atlas_selection_lower": [90] * len(unit_rows),
        "roi": [r for _, _, r in unit_rows],
        "indices_in_3d": np.arange(len(unit_rows)) * 7,
        "col_to_coord_1": np.arange(len(unit_rows)) % 5,
        "col_to_coord_2": np.arange(len(unit_rows)) % 3,
        "col_to_coord_3": np.arange(len(unit_rows)) % 4,
        "neuroid_id": [f"{s}.{v}" for s, v, _ in unit_rows],
    }
    attrs = {"identifier": "Pereira2018.language"}
    _write(_array(values, presentation, neuroid, attrs), "assy_Pereira2018_language.nc")


def blank(rng: np.random.Generator) -> None:
    """4 stories x 16 TRs, 3 subjects x 3 fROIs; stored sorted by stimulus_id (as published)."""
    rows = []
    for story in ("Aqua", "Boar", "Elvis", "Tulips"):
        for tr in range(16):
            text, last = _item(rng, int(rng.integers(1, 4)))
            rows.append((story, tr // 2, tr % 2, 2.0 * tr + 4.0, text, FINAL[last]))
    table = pd.DataFrame(rows, columns=["story", "sentence", "part", "time", "text", "value"])
    table["stimulus_id"] = [
        f"{s}.{n}.{p}" for s, n, p in table[["story", "sentence", "part"]].values
    ]
    subjects, rois = ["085", "088", "098"], ["01_LH_PostTemp", "03_LH_IFG", "06_LH_AngG"]
    values = _responses(rng, table["value"].to_numpy(), len(subjects) * len(rois))
    order = np.argsort(table["stimulus_id"].to_numpy(), kind="stable")
    table, values = table.iloc[order].reset_index(drop=True), values[order]
    presentation = {
        "stimulus_id": table["stimulus_id"].to_numpy(),
        "meta_sentence": table["text"].str.lower().to_numpy(),
        "sentence_number_in_story": table["sentence"].to_numpy(),
        "part_number_in_sentence": table["part"].to_numpy(),
        "stimulus_sentence": table["text"].to_numpy(),
        "stimulus": table["text"].to_numpy(),
        "story": table["story"].to_numpy(),
        "timepoint_value": table["time"].to_numpy(),
    }
    neuroid = {
        "fROI_area": np.tile(rois, len(subjects)),
        "subject_id": np.repeat(subjects, len(rois)),
        "neuroid_id": [f"{s}.{r}" for s in subjects for r in rois],
    }
    _write(_array(values, presentation, neuroid), "assy_Blank2014_fROI.nc")


def fedorenko(rng: np.random.Generator) -> None:
    """12 sentences x 8 words, 9 electrodes of 3 subjects."""
    vocabulary = list(FINAL)
    words = [str(w) for w in rng.choice(vocabulary, size=12 * 8)]
    word_num = np.tile(np.arange(8), 12)
    content = np.array([FINAL[w] for w in words]) + 0.3 * word_num / 7
    values = _responses(rng, content, 9)
    presentation = {
        "stimulus_id": np.arange(len(words)),
        "stimulus": words,
        "word": words,
        "word_num": word_num,
        "sentence_id": np.repeat(np.arange(12), 8),
    }
    neuroid = {
        "electrode": np.arange(9),
        "neuroid_id": np.arange(9),
        "subject_UID": np.array([1, 1, 1, 2, 2, 2, 3, 3, 3]),
    }
    _write(_array(values, presentation, neuroid), "assy_Fedorenko2016_language.nc")


def tuckute(rng: np.random.Generator) -> None:
    """60 sentences, one neuroid (the 5-subject language-network average)."""
    rows = [_item(rng, int(rng.integers(3, 8))) for _ in range(60)]
    values = _responses(rng, np.array([FINAL[last] for _, last in rows]), 1)
    presentation = {
        "stimulus_id": np.arange(len(rows)),
        "stimulus": [text for text, _ in rows],
        "cond": ["B"] * len(rows),
        "cond_approach": ["B"] * len(rows),
    }
    neuroid = {
        "neuroid_id": [1],
        "subject_UID": ["848-853-865-875-876"],
        "roi": ["lang_LH_netw"],
    }
    _write(_array(values, presentation, neuroid), "assy_Tuckute2024_language.nc")


if __name__ == "__main__":
    generator = np.random.default_rng(2024)
    pereira(generator)
    blank(generator)
    fedorenko(generator)
    tuckute(generator)
