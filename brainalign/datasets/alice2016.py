"""Brennan et al. (2016): fMRI ROI time courses while listening to *Alice in Wonderland*.

Time alignment
--------------
The scanner recorded 372 volumes (TR = 2 s) while the 12-minute audiobook played; the
released time courses drop the first 10 volumes, leaving 362. The audio file starts
with 20 s of added silence and the TextGrid shares the audio file's clock (its first
word, "Alice", starts at 20.06 s; the grid ends at 743.6 s, within the 372 x 2 = 744 s
of acquisition). So original volume ``k`` started at ``2 k`` s on the TextGrid clock,
and released volume ``i`` (0-based) started at::

    onset_i = (i + 10) * 2.0 = 20 + 2 i   seconds on the TextGrid clock

This mapping is checked against the dataset itself: the word-rate regressor it ships
(``s##-rate.txt``) is the TextGrid word rate convolved with SPM's canonical HRF and
sampled at these volume onsets; rebuilding it from the TextGrid correlates at r = 0.98
at lag 0 and less at lags of +-1 volume (see the tests).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from brainalign.datasets.recording import Recording
from brainalign.datasets.textgrid import read_textgrid
from brainalign.stimuli import Stimuli

ROIS = ("LATL", "RATL", "LPTL", "LIPL", "LPreM", "LIFG")
TR_SECONDS = 2.0
N_VOLUMES = 362
N_DISCARDED_VOLUMES = 10
FIRST_VOLUME_ONSET = N_DISCARDED_VOLUMES * TR_SECONDS
RADII_MM = (6, 10)
SILENCE_LABELS = ("sp", "")
TEXTGRID_NAME = "DownTheRabbitHoleFinal_exp120_pad_1.TextGrid"
EXCLUDED_SUBJECTS = {
    "s33": "all ROI time courses are zero in the released files (and its word-rate file is a "
    "copy of its sound-power file), so it carries no signal",
}
CITATION = (
    "Brennan, J. R., Stabler, E. P., Van Wagenen, S. E., Luh, W.-M., & Hale, J. T. (2016). "
    "Abstract linguistic structure correlates with temporal activity during naturalistic "
    "comprehension. Brain and Language, 157-158, 81-94. doi:10.1016/j.bandl.2016.04.008"
)


def bundled_data_dir() -> Path:
    """Directory of the alice2016 files shipped inside the package."""
    return Path(str(resources.files("brainalign.datasets") / "data" / "alice2016"))


def volume_onsets(n_volumes: int = N_VOLUMES) -> np.ndarray:
    """Onset of each released volume in seconds on the TextGrid clock, shape (n_volumes,)."""
    return FIRST_VOLUME_ONSET + TR_SECONDS * np.arange(n_volumes)


def load_words(data_dir: str | os.PathLike | None = None) -> Stimuli:
    """Words of the story with their onsets and offsets, as ``Stimuli``.

    Silence intervals (``"sp"``, and six empty intervals) are not words and are dropped;
    stray spaces in labels are stripped. Contractions stay separate words where the
    aligner split them (``"I"``, ``"'ll"``), each with its own onset; ``space_before`` is
    False for the clitics that start with an apostrophe (``'ll 's 've 'd 're 'm``), so a
    model reads "I'll" as in running text. ``n't`` keeps its space: tokenizers merge
    "did" + "n" into one token, which would let "did" see part of the next word.

    Returns
    -------
    Stimuli
        2,127 rows: ``stimulus_id`` (``w0000`` ...), ``text``, ``group`` (``alice-ch1``),
        ``onset`` and ``duration`` in seconds on the TextGrid clock, ``offset``,
        ``space_before``.
    """
    directory = Path(data_dir) if data_dir is not None else bundled_data_dir()
    path = directory / TEXTGRID_NAME
    if not path.exists():
        raise FileNotFoundError(f"alice2016: TextGrid not found at {path}")
    tiers = read_textgrid(path)
    if "word" not in tiers:
        raise ValueError(f"{path}: expected a tier named 'word', found {list(tiers)}")
    intervals = tiers["word"]
    intervals = intervals.assign(text=intervals["text"].str.strip())
    words = intervals[~intervals["text"].isin(SILENCE_LABELS)].reset_index(drop=True)
    table = pd.DataFrame(
        {
            "stimulus_id": [f"w{i:04d}" for i in range(len(words))],
            "text": words["text"],
            "group": "alice-ch1",
            "onset": words["onset"],
            "duration": words["offset"] - words["onset"],
            "offset": words["offset"],
            "space_before": ~words["text"].str.startswith("'"),
        }
    )
    return Stimuli(table)


def _read_matrix(path: Path, n_columns: int) -> np.ndarray:
    if not path.exists():
        raise FileNotFoundError(f"alice2016: missing file {path}")
    values = np.loadtxt(path, ndmin=2)
    if values.shape != (N_VOLUMES, n_columns):
        raise ValueError(
            f"{path}: expected {N_VOLUMES} rows x {n_columns} columns, got {values.shape}"
        )
    return values


def available_subjects(data_dir: str | os.PathLike | None = None, radius_mm: int = 6) -> list[str]:
    """All released subject ids (including excluded ones), sorted by number."""
    directory = Path(data_dir) if data_dir is not None else bundled_data_dir()
    found = sorted(
        (p.name.split("-")[0] for p in (directory / f"{radius_mm}mm").glob("s*-timecourses.txt")),
        key=lambda s: int(s[1:]),
    )
    if not found:
        raise FileNotFoundError(f"alice2016: no time courses in {directory / f'{radius_mm}mm'}")
    return found


def load_alice2016(
    radius_mm: int = 6,
    subjects: list[str] | None = None,
    data_dir: str | os.PathLike | None = None,
) -> Recording:
    """Load the Alice 2016 fMRI ROI time courses as a continuous ``Recording``.

    Parameters
    ----------
    radius_mm : {6, 10}
        Radius of the spherical ROIs (6 mm by default, as in the paper's main analysis).
    subjects : list of str, optional
        Subject ids to keep (default: all 27 usable subjects; s33 is always excluded).
    data_dir : path, optional
        Folder with the released files (default: the copy bundled in the package).

    Returns
    -------
    Recording
        ``data`` (362, 6 x n_subjects) float32: volumes x (subject, ROI) units, ROIs in
        the order LATL RATL LPTL LIPL LPreM LIFG within each subject. ``samples`` has
        ``volume``, ``onset`` (s on the TextGrid clock, see the module docstring) and
        ``duration``; ``units`` has ``subject``, ``roi``, ``radius_mm``; ``regressors``
        holds each subject's ``word_rate`` and ``sound_power`` (already convolved with
        the HRF by the authors); ``stimuli`` are the story's words.
    """
    if radius_mm not in RADII_MM:
        raise ValueError(f"alice2016: radius_mm must be one of {RADII_MM}, not {radius_mm!r}")
    directory = Path(data_dir) if data_dir is not None else bundled_data_dir()
    released = available_subjects(directory, radius_mm)
    usable = [s for s in released if s not in EXCLUDED_SUBJECTS]
    if subjects is None:
        subjects = usable
    else:
        excluded = [s for s in subjects if s in EXCLUDED_SUBJECTS]
        if excluded:
            raise ValueError(
                f"alice2016: subject(s) {excluded} are excluded: {EXCLUDED_SUBJECTS[excluded[0]]}"
            )
        unknown = [s for s in subjects if s not in usable]
        if unknown:
            raise ValueError(f"alice2016: unknown subject(s) {unknown}; available: {usable}")

    blocks, regressor_rows = [], []
    for subject in subjects:
        timecourses = _read_matrix(directory / f"{radius_mm}mm" / f"{subject}-timecourses.txt", 6)
        if not np.any(timecourses):
            raise ValueError(f"alice2016: {subject} time courses are all zero; exclude it")
        blocks.append(timecourses)
        rate = _read_matrix(directory / f"{subject}-rate.txt", 1)[:, 0]
        power = _read_matrix(directory / f"{subject}-sndpwr.txt", 1)[:, 0]
        regressor_rows.append(
            pd.DataFrame(
                {
                    "subject": subject,
                    "sample": np.arange(N_VOLUMES),
                    "word_rate": rate,
                    "sound_power": power,
                }
            )
        )
    units = pd.DataFrame(
        {
            "subject": np.repeat(subjects, len(ROIS)),
            "roi": np.tile(ROIS, len(subjects)),
            "radius_mm": radius_mm,
        }
    )
    samples = pd.DataFrame(
        {"volume": np.arange(N_VOLUMES), "onset": volume_onsets(), "duration": TR_SECONDS}
    )
    return Recording(
        data=np.concatenate(blocks, axis=1),
        samples=samples,
        units=units,
        sampling="continuous",
        stimuli=load_words(directory),
        tr=TR_SECONDS,
        regressors=pd.concat(regressor_rows, ignore_index=True),
        meta={
            "name": "alice2016",
            "version": "1.0",
            "description": "fMRI, 6 left/right language ROIs, 12 min of Alice in Wonderland ch. 1",
            "modality": "fmri",
            "citation": CITATION,
            "licence": "CC-BY-4.0",
            "source": "https://sites.lsa.umich.edu/cnllab/2016/06/11/"
            "data-sharing-fmri-timecourses-story-listening/",
            "radius_mm": radius_mm,
            "discarded_volumes": N_DISCARDED_VOLUMES,
            "first_volume_onset_s": FIRST_VOLUME_ONSET,
            "excluded_subjects": dict(EXCLUDED_SUBJECTS),
            "regressors_convolved": True,
        },
    )
