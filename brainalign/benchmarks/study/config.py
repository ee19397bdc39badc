"""Study files: a user's study described in a small YAML file.

Every key of :class:`~brainalign.benchmarks.study.study.Study` is a key of the file, and
paths are relative to the file's folder::

    name: v4-images              # lower case; results carry v4-images@1
    stimuli: images/             # a CSV (stimulus_id, text, image, audio or video), a
                                 # folder or a .zip of images, or one audio/video file
    responses: responses.npy     # (n_stimuli, n_units[, n_repeats]); .npz, .csv, NIfTI, -epo.fif
    sampling: event              # event (one row per stimulus), continuous (a time series)
                                 # or epochs (M/EEG trials scored per time point)
    analysis: ridge              # ridge, rsa or ratings
    options: {n_splits: 5}       # options of the analysis

:func:`load_study` checks it strictly: an unknown key gets the close ones suggested, a
path that does not resolve is printed resolved, and every message names the file and
the line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from brainalign._yaml import Place, check_keys, read_yaml_mapping
from brainalign.benchmarks.study.inputs import StudyInputError

__all__ = ["STUDY_KEYS", "load_study"]

#: The keys of a study file and what each holds.
STUDY_KEYS = {
    "name": "short lower-case name; results carry NAME@VERSION in the benchmark column",
    "version": "integer, bumped when the data or analysis change (default 1)",
    "description": "what was measured, in a sentence",
    "citation": "the paper to cite",
    "stimuli": "a CSV/TSV table (stimulus_id and text, image, audio or video), a folder or "
    ".zip of images, or an audio or video file (one run)",
    "text_column": "the table's column holding the text (default text)",
    "responses": "responses: .npy, .npz, .csv/.tsv, GIfTI (.gii), NIfTI betas, -epo.fif; "
    "epochs: -epo.fif, EEGLAB .set, .npy (with times), .npz (data, times), or a mapping "
    "subject: FILE",
    "rdms": "precomputed data RDMs (.mat, .npz, .npy, .csv) over the stimuli, in order",
    "ratings": "word pairs (a file, or {pairs: FILE}) or norms ({norms: FILE, id_column: ...})",
    "analysis": "ridge, rsa or ratings (default: from responses, rdms or ratings)",
    "sampling": "event (one row per stimulus or trial), continuous (a time series) or "
    "epochs (M/EEG trials scored per time point)",
    "units": "a CSV with one row per unit (subject, roi, unit ...)",
    "tr": "seconds between samples of continuous responses given as an array",
    "groups": "a column whose values are held out together (passages, categories, runs)",
    "context": "text: isolated (default) or passage (after the group's earlier items)",
    "pooling": "text: how tokens become one vector (default mean)",
    "mask": "mask image of NIfTI responses",
    "window": "[start, stop] seconds: event: of M/EEG epochs averaged into one response per "
    "trial; epochs: the scored time points (default 0 to the epoch's end)",
    "trials": "epochs: a CSV/TSV with one row per trial (stimulus_id; optional subject, group)",
    "times": "epochs: seconds of each time point of .npy epochs",
    "options": "options of the analysis (see brainalign.benchmarks.study.OPTIONS)",
}


def load_study(path: str | os.PathLike) -> Any:
    """Read a study file (YAML) into a :class:`~brainalign.benchmarks.study.study.Study`.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    Study

    Raises
    ------
    StudyInputError
        For an unreadable file, an unknown or duplicate key (close keys suggested), a
        missing name, or anything the study's inputs get wrong; the message names the
        file (and the line of the key where it is known).
    """
    from brainalign.benchmarks.study.study import Study

    source = Path(path).expanduser().resolve()
    if not source.is_file():
        raise StudyInputError(f"study file {source} does not exist")
    data, lines = read_yaml_mapping(
        source, error=StudyInputError, what="study file", example="name:, stimuli:, responses:, ..."
    )
    where = Place(source, lines, StudyInputError, "study file")
    check_keys(data, list(STUDY_KEYS), where)
    if "name" not in data:
        raise where.error("name", "is required (a short lower-case name)")
    for key in ("options",):
        if key in data and not isinstance(data[key], dict):
            raise where.error(key, f"must be a mapping; got {data[key]!r}")
    try:
        return Study(**{k: v for k, v in data.items()}, base=source.parent)
    except StudyInputError as error:
        raise StudyInputError(f"{source}: {error}") from None
