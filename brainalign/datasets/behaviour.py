"""Behavioural data: reading times, similarity ratings, odd-one-out triplets, norms, RDMs.

Every reader takes the path of a file in its published format and returns either a
:class:`~brainalign.datasets.recording.Recording` (``sampling="event"``: one row per
item or word pair, one unit per measure) or, where a Recording does not fit, a small
dataclass documented below:

* :class:`Triplets` -- odd-one-out choices are discrete choices among three items, not a
  measurement per item; a (n_triplets, 3) index array plus the concept table is the
  natural form (and what THINGS/SPoSE-style models consume).
* :class:`RDMSet` -- a representational dissimilarity matrix describes *pairs* of
  conditions; the set keeps them condensed, shape (n_rdms, n_pairs), in the order of
  :func:`scipy.spatial.distance.squareform` and rsatoolbox (upper triangle, row by row),
  which is what :mod:`brainalign.alignment.rsa` takes.

Bad input raises :class:`BehaviourFormatError` (a ``ValueError``) naming the file and
the problem; nothing half-loaded is returned. None of these readers guesses a missing
value: measures with missing entries are refused unless ``dropna=True``, and the
dropped items are then listed in ``meta["dropped"]``.
"""

from __future__ import annotations

import io
import os
import re
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial.distance import squareform

from brainalign.datasets.recording import Recording
from brainalign.stimuli import Stimuli

PathLike = str | os.PathLike


class BehaviourFormatError(ValueError):
    """Raised when a behavioural data file is not in the expected format."""


# ----------------------------------------------------------------------------- helpers


def _existing(path: PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"behavioural data file not found: {path}")
    return path


def _read_text(path: Path) -> str:
    """Whole file as text: UTF-8 with or without BOM, any line ending (LF, CRLF, CR)."""
    try:
        with open(path, encoding="utf-8-sig", newline=None) as handle:
            return handle.read()
    except UnicodeDecodeError as error:
        raise BehaviourFormatError(f"{path}: not UTF-8 text ({error})") from error


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _event_recording(
    data: np.ndarray,
    samples: pd.DataFrame,
    units: pd.DataFrame,
    stimuli: pd.DataFrame,
    meta: dict[str, Any],
    path: Path,
) -> Recording:
    """Build the Recording, turning data-model errors into errors that name the file."""
    try:
        return Recording(
            data=data,
            samples=samples,
            units=units,
            sampling="event",
            stimuli=Stimuli(stimuli),
            meta=meta,
        )
    except ValueError as error:
        raise BehaviourFormatError(f"{path}: {error}") from error


def _numeric_block(
    table: pd.DataFrame, columns: list[str], ids: pd.Series, dropna: bool, path: Path
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Columns as float64 (n_rows, n_columns), a keep-mask and the ids of dropped rows."""
    block = table[columns].apply(pd.to_numeric, errors="coerce")
    bad_text = block.isna() & table[columns].notna() & (table[columns].astype(str) != "")
    if bad_text.any().any():
        column = block.columns[bad_text.any()][0]
        row = int(np.flatnonzero(bad_text[column].to_numpy())[0])
        raise BehaviourFormatError(
            f"{path}: column {column!r} is not numeric: row {row} holds {table[column].iloc[row]!r}"
        )
    values = block.to_numpy(dtype=np.float64)
    missing = ~np.isfinite(values)
    keep = ~missing.any(axis=1)
    if not keep.all() and not dropna:
        counts = {c: int(n) for c, n in zip(columns, missing.sum(axis=0), strict=True) if n}
        raise BehaviourFormatError(
            f"{path}: missing values in measure(s) {counts}; choose measures without "
            "missing values or pass dropna=True to drop those items"
        )
    return values, keep, ids[~keep].astype(str).tolist()


# ----------------------------------------------------------------------------- reading times

NATURAL_STORIES_CITATION = (
    "Futrell, R., Gibson, E., Tily, H. J., Blank, I., Vishnevetsky, A., Piantadosi, S. T., & "
    "Fedorenko, E. (2021). The Natural Stories corpus: a reading-time corpus of English texts "
    "containing rare syntactic constructions. Language Resources and Evaluation, 55, 63-77."
)
#: Story 3 of the target file used by Schrimpf et al. (2021) predates the 2020-11-11 fix of
#: the Natural Stories release (a blank token was displayed in the experiment): checked
#: against processed_wordinfo.tsv, word 229 (zone, 1-based) holds an RT found nowhere in
#: the corrected file and every later word holds the RT of the word before it (RT(z) =
#: corrected RT(z - 1) for z >= 230); all other stories and words are identical.
SCHRIMPF_STORY3_ISSUE = (
    "story 3 from word 229 on: reading times are shifted by one word (word 229 holds the RT "
    "of a blank token, word z >= 230 the RT of word z - 1; fixed in the 2020-11-11 Natural "
    "Stories release, processed_wordinfo.tsv). Boolean-looking words were written as "
    "TRUE/FALSE by R and are restored to 'true'/'false'."
)
_NATURAL_STORIES_STATS = {
    "nItem": "n_subjects",
    "sdItemRT": "sd_rt",
    "gmeanItemRT": "geometric_mean_rt",
    "gsdItemRT": "geometric_sd_rt",
}


def read_natural_stories(path: PathLike) -> Recording:
    """Read word-by-word self-paced reading times of the Natural Stories corpus.

    Accepts ``processed_wordinfo.tsv`` of the Natural Stories release (tab-separated:
    ``word zone item nItem meanItemRT sdItemRT gmeanItemRT gsdItemRT``, rows sorted by
    word) or ``stories_data.csv``, the target file of Schrimpf et al. (2021)
    (``word,zone,item,meanItemRT``, in story order). Rows are put in story order
    (``item``, then ``zone``). The release has no per-subject table here (the
    ``processed_RTs.tsv`` of the release holds those), so the data are the mean RT per
    word across subjects.

    The Schrimpf file predates a correction of the release: in story 3, from word 229
    on, reading times are shifted by one word (see ``SCHRIMPF_STORY3_ISSUE``). Reading
    it issues a ``UserWarning`` and records the issue in ``meta["known_issues"]``;
    prefer ``processed_wordinfo.tsv``.

    Parameters
    ----------
    path : str or path-like
        One of the two files above. Licence CC BY-NC-SA 4.0: not bundled.

    Returns
    -------
    Recording
        ``data`` (n_words, 1) float32: mean reading time in ms (unit ``reading_time``).
        ``samples`` (n_words rows): ``stimulus_id`` (``s01-w0001``), ``story``,
        ``position`` (1-based ``zone``), ``word``, and where present ``n_subjects``,
        ``sd_rt``, ``geometric_mean_rt``, ``geometric_sd_rt``. ``stimuli``: one row per
        word with ``text`` (the token as displayed, punctuation attached), ``group``
        (``story01`` ...), ``position``.

    Raises
    ------
    BehaviourFormatError
        If columns are missing, a (story, position) repeats or an RT is not a finite
        positive number.
    """
    path = _existing(path)
    text = _read_text(path)
    sep = "\t" if "\t" in text.split("\n", 1)[0] else ","
    table = pd.read_csv(
        io.StringIO(text), sep=sep, keep_default_na=False, dtype={"word": str}, na_values=[]
    )
    required = ["word", "zone", "item", "meanItemRT"]
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise BehaviourFormatError(
            f"{path}: not a Natural Stories reading-time table; missing column(s) {missing}, "
            f"found {list(table.columns)}"
        )
    table = table.sort_values(["item", "zone"], kind="stable").reset_index(drop=True)
    if table.duplicated(["item", "zone"]).any():
        first = table[table.duplicated(["item", "zone"])].iloc[0]
        raise BehaviourFormatError(
            f"{path}: story {first['item']} word {first['zone']} appears more than once"
        )
    rt = pd.to_numeric(table["meanItemRT"], errors="coerce").to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(rt) & (rt > 0)):
        row = int(np.flatnonzero(~(np.isfinite(rt) & (rt > 0)))[0])
        raise BehaviourFormatError(
            f"{path}: meanItemRT must be positive milliseconds; row {row} holds "
            f"{table['meanItemRT'].iloc[row]!r}"
        )
    is_schrimpf = "nItem" not in table.columns
    words = table["word"].astype(str)
    known_issues = []
    if is_schrimpf:
        words = words.replace({"TRUE": "true", "FALSE": "false"})
        known_issues.append(SCHRIMPF_STORY3_ISSUE)
        warnings.warn(f"{path}: {SCHRIMPF_STORY3_ISSUE}", UserWarning, stacklevel=2)
    story = table["item"].astype(int)
    position = table["zone"].astype(int)
    ids = [f"s{s:02d}-w{p:04d}" for s, p in zip(story, position, strict=True)]
    samples = pd.DataFrame(
        {"stimulus_id": ids, "story": story, "position": position, "word": words}
    )
    for column, name in _NATURAL_STORIES_STATS.items():
        if column in table.columns:
            samples[name] = pd.to_numeric(table[column], errors="coerce")
    stimuli = pd.DataFrame(
        {
            "stimulus_id": ids,
            "text": words,
            "group": [f"story{s:02d}" for s in story],
            "position": position,
        }
    )
    units = pd.DataFrame(
        {"unit": ["reading_time"], "statistic": ["mean"], "unit_of_measure": ["ms"]}
    )
    meta = {
        "name": "naturalstories",
        "modality": "behaviour",
        "task": "self-paced reading",
        "citation": NATURAL_STORIES_CITATION,
        "licence": "CC BY-NC-SA 4.0",
        "source": "https://github.com/languageMIT/naturalstories",
        "file": str(path),
        "variant": "schrimpf2021" if is_schrimpf else "processed_wordinfo",
        "known_issues": known_issues,
    }
    return _event_recording(rt[:, None], samples, units, stimuli, meta, path)


# ----------------------------------------------------------------------------- word pairs

_WORD1_NAMES = ("word1", "word 1", "w1", "word_1", "first")
_WORD2_NAMES = ("word2", "word 2", "w2", "word_2", "second")
_RATING_NAMES = (
    "rating",
    "score",
    "similarity",
    "relatedness",
    "simlex999",
    "human (mean)",
    "mean",
)
_POS_VALUES = {"A", "N", "V", "J", "R", "ADJ", "NOUN", "VERB", "ADV"}


def _split_lines(text: str, path: Path) -> tuple[list[list[str]], str]:
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines:
        raise BehaviourFormatError(f"{path}: file is empty")
    first = lines[0]
    sep = "\t" if "\t" in first else ("," if "," in first else None)
    rows = [[f.strip() for f in (line.split(sep) if sep else line.split())] for line in lines]
    return rows, {"\t": "tab", ",": "comma", None: "whitespace"}[sep]


def _pair_table(rows: list[list[str]], path: Path) -> tuple[pd.DataFrame, str, bool]:
    """Rows -> table with word1, word2, rating (+ extra columns), the rating column's name."""
    has_header = not any(_is_number(f) for f in rows[0])
    if has_header:
        header, body = rows[0], rows[1:]
    else:
        header, body = [f"column_{i}" for i in range(len(rows[0]))], rows
    widths = {len(r) for r in body}
    if len(widths) != 1 or len(header) not in widths:
        bad = next(i for i, r in enumerate(body) if len(r) != len(header))
        raise BehaviourFormatError(
            f"{path}: line {bad + 1 + has_header} has {len(body[bad])} fields, "
            f"expected {len(header)} like the first line"
        )
    table = pd.DataFrame(body, columns=header)
    lower = {c.lower(): c for c in header}
    if has_header:
        picks = [
            next((lower[n] for n in names if n in lower), None)
            for names in (_WORD1_NAMES, _WORD2_NAMES, _RATING_NAMES)
        ]
        if None in picks:
            raise BehaviourFormatError(
                f"{path}: cannot tell the word and rating columns from the header {header}; "
                f"expected e.g. word1, word2 and one of {list(_RATING_NAMES)}"
            )
        word1, word2, rating = picks
    else:
        if len(header) < 3:
            raise BehaviourFormatError(
                f"{path}: expected at least 3 fields per line (word, word, rating), "
                f"got {len(header)}"
            )
        word1, word2 = header[0], header[1]
        numeric = [c for c in header[2:] if table[c].map(_is_number).all()]
        if not numeric:
            raise BehaviourFormatError(f"{path}: no numeric rating column after the two words")
        rating = numeric[0]
        for column in header[2:]:
            if column != rating and set(table[column]) <= _POS_VALUES:
                table = table.rename(columns={column: "pos"})
    renamed = table.rename(columns={word1: "word1", word2: "word2", rating: "rating"})
    return renamed, rating, has_header


def _duplicate_pairs(
    word1: pd.Series,
    word2: pd.Series,
    ratings: np.ndarray,
    path: Path,
    has_header: bool,
    warn: bool = True,
) -> list[str]:
    """Pairs listed more than once (with different ratings, and exact repeats), each
    described with its lines and ratings; warned about unless ``warn`` is False."""
    pairs = pd.DataFrame({"word1": word1.to_numpy(), "word2": word2.to_numpy(), "rating": ratings})
    pairs["line"] = np.arange(len(pairs)) + 1 + int(has_header)
    repeated = pairs[pairs.duplicated(["word1", "word2"], keep=False)]
    if repeated.empty:
        return []
    conflicting, exact = [], []
    for (first, second), rows in repeated.groupby(["word1", "word2"], sort=False):
        listed = [
            f"{line} ({rating:g})"
            for line, rating in zip(rows["line"][:5], rows["rating"][:5], strict=True)
        ]
        more = f" and {len(rows) - 5} more lines" if len(rows) > 5 else ""
        described = f"({first!r}, {second!r}) on lines {', '.join(listed)}{more}"
        (conflicting if rows["rating"].nunique() > 1 else exact).append(described)
    for found, what, advice in (
        (
            conflicting,
            "listed more than once with different ratings",
            "check which rating is right and remove the others",
        ),
        (exact, "listed more than once with the same rating", "remove the repeats"),
    ):
        if found and warn:
            shown = "; ".join(found[:5]) + (
                f"; and {len(found) - 5} more" if len(found) > 5 else ""
            )
            warnings.warn(
                f"{path}: {len(found)} word pair(s) {what}: {shown}. All rows are kept (each "
                f"counts in correlations); {advice}",
                UserWarning,
                stacklevel=3,
            )
    return conflicting + exact


def read_word_pairs(
    path: PathLike, *, name: str | None = None, duplicates: str = "warn"
) -> Recording:
    """Read human similarity or relatedness ratings of word pairs.

    Formats (detected from the file): one pair per line, separated by tabs, commas or
    spaces, any line ending. Without a header (the usual distribution, e.g. SimLex-999,
    WordSim-353, MEN-3k, SimVerb-3500, MTurk-287 of ``eval-word-vectors``), the first two
    fields are the words and the first numeric field after them is the rating; a field
    holding only part-of-speech tags (``N``, ``V``, ``A`` ...) becomes ``pos`` (SimVerb's
    original ``word word POS rating relation``). With a header (SimLex-999's original
    ``word1 word2 POS SimLex999 ...``, WordSim-353's ``Word 1,Word 2,Human (mean)``),
    the columns are found by name. Other columns are kept in ``samples`` (as text; cast
    them as needed).

    Parameters
    ----------
    path : str or path-like
        The ratings file.
    name : str, optional
        Dataset name for ``meta`` and the stimulus group (default: the file's stem).
    duplicates : {"warn", "record"}
        Pairs listed more than once are always kept and listed in
        ``meta["duplicate_pairs"]``; ``"warn"`` (default) also warns. The catalogue
        reads published files, whose repeats are part of the benchmark (WordSim-353
        lists money-cash twice), with ``"record"``.

    Returns
    -------
    Recording
        ``data`` (n_pairs, 1) float32: the rating (unit ``rating``; its scale is the
        dataset's own: 0-10 SimLex/WordSim/SimVerb, 0-50 MEN). ``samples`` and
        ``stimuli`` have one row per pair: ``stimulus_id`` (``pair0000`` ...),
        ``word1``, ``word2``; ``stimuli.text`` is ``"word1 word2"`` (the
        ``Stimuli`` table takes one text per item; encode ``word1`` and ``word2``
        for per-word features).

    Raises
    ------
    BehaviourFormatError
        If lines have different numbers of fields, no rating column is found or a
        rating is not a finite number.

    Warns
    -----
    UserWarning
        If a pair appears more than once (the same two words in the same order), naming
        the first few such pairs with their line numbers and ratings, separately for
        pairs rated differently (which rating is right?) and exact repeats. All rows are
        kept.
    """
    path = _existing(path)
    rows, separator = _split_lines(_read_text(path), path)
    table, rating_column, has_header = _pair_table(rows, path)
    ratings, _, _ = _numeric_block(table, ["rating"], table["word1"], False, path)
    if duplicates not in ("warn", "record"):
        raise ValueError(f"duplicates={duplicates!r}: use 'warn' or 'record'")
    repeated = _duplicate_pairs(
        table["word1"], table["word2"], ratings[:, 0], path, has_header, duplicates == "warn"
    )
    name = name or path.stem
    ids = [f"pair{i:04d}" for i in range(len(table))]
    samples = table.assign(stimulus_id=ids)
    samples = samples[
        ["stimulus_id", "word1", "word2"]
        + [c for c in table.columns if c not in ("word1", "word2", "rating")]
    ]
    stimuli = pd.DataFrame(
        {
            "stimulus_id": ids,
            "text": (table["word1"] + " " + table["word2"]).tolist(),
            "group": name,
            "word1": table["word1"],
            "word2": table["word2"],
        }
    )
    units = pd.DataFrame({"unit": ["rating"], "source_column": [rating_column]})
    meta = {
        "name": name,
        "modality": "behaviour",
        "task": "word-pair similarity/relatedness rating",
        "file": str(path),
        "separator": separator,
        "header": has_header,
        "duplicate_pairs": repeated,
    }
    return _event_recording(ratings, samples, units, stimuli, meta, path)


# ----------------------------------------------------------------------------- triplets


@dataclass(frozen=True)
class Triplets:
    """Odd-one-out choices: in each trial one of three items was chosen as the odd one.

    Parameters
    ----------
    triplets : numpy.ndarray of int64, shape (n_triplets, 3)
        0-based item indices; the **odd one out is in the last column**, so
        ``triplets[:, :2]`` is the pair judged most similar.
    concepts : pandas.DataFrame, shape (n_concepts, ...)
        One row per item index (``index`` 0..n-1) with its ``concept`` name where known.
    trials : pandas.DataFrame, shape (n_triplets, ...)
        Extra per-trial columns of the file (``subject``, ``RT`` ...), possibly empty.
    meta : dict
        ``file``, ``index_base`` of the file and anything else.
    """

    triplets: np.ndarray
    concepts: pd.DataFrame
    trials: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.triplets)

    @property
    def n_concepts(self) -> int:
        """Number of items the indices refer to."""
        return len(self.concepts)

    def choice_probability(self) -> np.ndarray:
        """How often each pair was kept together when it appeared in a triplet.

        Returns
        -------
        numpy.ndarray, shape (n_concepts, n_concepts)
            ``p[i, j]`` = (trials where i and j were the similar pair) / (trials holding
            both i and j); symmetric; NaN where a pair never appeared together and on
            the diagonal (undefined).
        """
        n = self.n_concepts
        t = self.triplets
        chosen = np.zeros((n, n))
        np.add.at(chosen, (t[:, 0], t[:, 1]), 1.0)
        together = np.zeros((n, n))
        for a, b in ((0, 1), (0, 2), (1, 2)):
            np.add.at(together, (t[:, a], t[:, b]), 1.0)
        chosen += chosen.T
        together += together.T
        with np.errstate(invalid="ignore", divide="ignore"):
            probability = chosen / together
        probability[together == 0] = np.nan
        np.fill_diagonal(probability, np.nan)
        return probability


def read_triplets(
    path: PathLike,
    *,
    concepts: list[str] | pd.Series | None = None,
    index_base: int = 0,
) -> Triplets:
    """Read odd-one-out triplet choices (THINGS / SPoSE format).

    Format: one trial per line, tab- or whitespace-separated, three integer concept
    indices with the odd one out in the last position (the ``trainset.txt`` /
    ``validationset.txt`` files of the THINGS odd-one-out data). A header is optional;
    with a header, a fourth column named ``choice`` (or ``odd_one_out``) may give the
    odd item's index instead, with columns ``i``/``j``/``k`` (or the first three) the
    triplet in any order; other header columns (``subject`` ...) go to ``trials``.

    Parameters
    ----------
    path : str or path-like
        The triplet table.
    concepts : list of str, optional
        Concept names by index (e.g. the 1,854 THINGS ``uniqueID``); sets
        ``n_concepts`` and is checked against the indices. Default: indices
        0..max found, names unknown.
    index_base : {0, 1}
        Whether the file counts concepts from 0 (THINGS/SPoSE) or 1 (MATLAB exports).

    Returns
    -------
    Triplets
        See :class:`Triplets`; indices are 0-based whatever ``index_base``.

    Raises
    ------
    BehaviourFormatError
        If a field is not an integer, an index is out of range, a triplet repeats an
        item, or a ``choice`` is not one of its triplet's items.
    """
    path = _existing(path)
    if index_base not in (0, 1):
        raise ValueError(f"index_base must be 0 or 1, not {index_base!r}")
    rows, separator = _split_lines(_read_text(path), path)
    has_header = not any(_is_number(f) for f in rows[0][:3])
    header = rows[0] if has_header else [f"column_{i}" for i in range(len(rows[0]))]
    body = rows[1:] if has_header else rows
    if not body:
        raise BehaviourFormatError(f"{path}: no trials after the header")
    if any(len(r) != len(header) for r in body) or len(header) < 3:
        raise BehaviourFormatError(
            f"{path}: every line must hold the same number (>= 3) of fields as the first"
        )
    table = pd.DataFrame(body, columns=header)
    lower = {c.lower(): c for c in header}
    item_columns = [lower[c] for c in ("i", "j", "k") if c in lower] or header[:3]
    if len(item_columns) != 3:
        item_columns = header[:3]
    choice_column = next((lower[c] for c in ("choice", "odd_one_out") if c in lower), None)
    numeric_columns = item_columns + ([choice_column] if choice_column else [])
    try:
        values = table[numeric_columns].astype(np.int64).to_numpy() - index_base
    except ValueError as error:
        raise BehaviourFormatError(f"{path}: concept indices must be integers ({error})") from error
    triplets = values[:, :3]
    if choice_column is not None:
        triplets = _odd_one_last(triplets, values[:, 3], path)
    n_concepts = len(concepts) if concepts is not None else int(triplets.max()) + 1
    if triplets.min() < 0 or triplets.max() >= n_concepts:
        raise BehaviourFormatError(
            f"{path}: concept indices must lie in [{index_base}, "
            f"{n_concepts - 1 + index_base}] (index_base={index_base}, {n_concepts} concepts); "
            f"found {triplets.min() + index_base}..{triplets.max() + index_base}"
        )
    repeated = (
        (triplets[:, 0] == triplets[:, 1])
        | (triplets[:, 0] == triplets[:, 2])
        | (triplets[:, 1] == triplets[:, 2])
    )
    if repeated.any():
        raise BehaviourFormatError(
            f"{path}: line {int(np.flatnonzero(repeated)[0]) + 1 + has_header} repeats an item "
            "in its triplet"
        )
    names = list(concepts) if concepts is not None else [None] * n_concepts
    return Triplets(
        triplets=triplets,
        concepts=pd.DataFrame({"index": np.arange(n_concepts), "concept": names}),
        trials=table.drop(columns=numeric_columns).reset_index(drop=True),
        meta={"file": str(path), "index_base": index_base, "separator": separator},
    )


def _odd_one_last(triplets: np.ndarray, choice: np.ndarray, path: Path) -> np.ndarray:
    """Reorder each triplet so that its chosen (odd) item comes last."""
    is_choice = triplets == choice[:, None]
    if not np.all(is_choice.sum(axis=1) == 1):
        bad = int(np.flatnonzero(is_choice.sum(axis=1) != 1)[0])
        raise BehaviourFormatError(
            f"{path}: trial {bad}: choice {choice[bad]} is not one of its items "
            f"{triplets[bad].tolist()}"
        )
    order = np.argsort(is_choice, axis=1, kind="stable")
    return np.take_along_axis(triplets, order, axis=1)


# ----------------------------------------------------------------------------- rating norms

GLASGOW_DIMENSIONS = {
    "AROU": "arousal",
    "VAL": "valence",
    "DOM": "dominance",
    "CNC": "concreteness",
    "IMAG": "imageability",
    "FAM": "familiarity",
    "AOA": "age_of_acquisition",
    "SIZE": "semantic_size",
    "GEND": "gender_association",
}
_GLASGOW_LONG_NAMES = {
    "arousal": "AROU",
    "valence": "VAL",
    "dominance": "DOM",
    "concreteness": "CNC",
    "imageability": "IMAG",
    "familiarity": "FAM",
    "age of acquisition": "AOA",
    "aoa": "AOA",
    "semantic size": "SIZE",
    "size": "SIZE",
    "gender association": "GEND",
    "gender": "GEND",
}
_GLASGOW_STATISTICS = {"M": "mean", "SD": "sd", "N": "n"}
GLASGOW_CITATION = (
    "Scott, G. G., Keitel, A., Becirspahic, M., Yao, B., & Sereno, S. C. (2019). The Glasgow "
    "Norms: Ratings of 5,500 words on nine scales. Behavior Research Methods, 51, 1258-1270."
)


def _glasgow_header(rows: list[list[str]], path: Path) -> tuple[list[str], int]:
    """Column codes (``word``, ``length``, ``AROU_M`` ...) and the number of header rows.

    The published file has two header rows (``Words, Length, Arousal, , , Valence ...``
    over ``, , M, SD, N, M ...``); a flattened copy has one (``AROU_M, AROU_SD ...``).
    """
    first = [f.strip() for f in rows[0]]
    second = [f.strip() for f in rows[1]] if len(rows) > 1 else []
    if {"M", "SD", "N"} <= set(second):
        names, current = [], None
        for top, bottom in zip(first, second, strict=False):
            if top:
                current = top
            if bottom in _GLASGOW_STATISTICS:
                code = _GLASGOW_LONG_NAMES.get(str(current).lower())
                if code is None:
                    raise BehaviourFormatError(
                        f"{path}: unknown Glasgow dimension {current!r} in the first header "
                        f"row; expected one of {sorted(_GLASGOW_LONG_NAMES)}"
                    )
                names.append(f"{code}_{bottom}")
            else:
                names.append(top.lower().rstrip("s") if top else "")
        return names, 2
    return [("word" if f.lower() in ("word", "words") else f) for f in first], 1


def read_glasgow_norms(path: PathLike) -> Recording:
    """Read the Glasgow Norms: 5,553 words rated on nine dimensions (mean, SD, N each).

    Both layouts of the CSV are read: the published one with a two-row header (dimension
    names over ``M SD N``) and the flattened one-row header (``AROU_M, AROU_SD, AROU_N``
    ...). Any line ending (the flattened copy uses old-Mac CR) and a UTF-8 BOM are fine.

    Parameters
    ----------
    path : str or path-like
        ``GlasgowNorms.csv``. No licence is stated: not bundled.

    Returns
    -------
    Recording
        ``data`` (n_words, 27) float32; ``units`` one row per (``dimension``,
        ``statistic``) with ``dimension`` in ``GLASGOW_DIMENSIONS`` values, ``statistic``
        ``mean``/``sd``/``n`` and the file's ``code`` (``AROU_M``); use
        ``rec.select(statistic="mean")`` for the nine means. ``samples`` and
        ``stimuli``: ``stimulus_id`` = the word as listed (unique; ambiguous words carry
        their sense, ``"address (postal)"``), ``text`` = the word without the sense,
        ``sense``, ``length``.

    Raises
    ------
    BehaviourFormatError
        If a dimension column is missing or not numeric, a value is missing, or words
        repeat.
    """
    path = _existing(path)
    rows, _ = _split_lines(_read_text(path), path)
    names, n_header = _glasgow_header(rows, path)
    body = rows[n_header:]
    if any(len(r) != len(names) for r in body):
        bad = next(i for i, r in enumerate(body) if len(r) != len(names))
        raise BehaviourFormatError(
            f"{path}: data line {bad + 1} has {len(body[bad])} fields, the header {len(names)}"
        )
    table = pd.DataFrame(body, columns=names)
    codes = [f"{d}_{s}" for d in GLASGOW_DIMENSIONS for s in _GLASGOW_STATISTICS]
    missing = [c for c in ["word", *codes] if c not in table.columns]
    if missing:
        raise BehaviourFormatError(
            f"{path}: not the Glasgow Norms; missing column(s) {missing}, found {names}"
        )
    words = table["word"]
    if words.duplicated().any():
        raise BehaviourFormatError(
            f"{path}: words repeat: {words[words.duplicated()].head(5).tolist()}"
        )
    values, _, _ = _numeric_block(table, codes, words, False, path)
    parsed = words.str.extract(r"^(?P<text>.*?)\s*(?:\((?P<sense>[^)]*)\))?$")
    samples = pd.DataFrame(
        {
            "stimulus_id": words,
            "text": parsed["text"],
            "sense": parsed["sense"],
            "length": pd.to_numeric(table.get("length"), errors="coerce"),
        }
    )
    stimuli = samples.assign(group="glasgow_norms")
    units = pd.DataFrame(
        {
            "dimension": [GLASGOW_DIMENSIONS[c.split("_")[0]] for c in codes],
            "statistic": [_GLASGOW_STATISTICS[c.split("_")[1]] for c in codes],
            "code": codes,
        }
    )
    meta = {
        "name": "glasgow_norms",
        "modality": "behaviour",
        "task": "word ratings on nine scales",
        "citation": GLASGOW_CITATION,
        "licence": "not stated (test only)",
        "file": str(path),
        "header_rows": n_header,
    }
    return _event_recording(values, samples, units, stimuli, meta, path)


def read_word_norms(
    path: PathLike,
    *,
    id_column: str,
    text_column: str | None = None,
    measures: list[str] | None = None,
    dropna: bool = False,
    name: str | None = None,
) -> Recording:
    """Read a table of per-item ratings or norms (one row per word or concept).

    Parameters
    ----------
    path : str or path-like
        CSV, TSV or semicolon-separated table with a one-row header (separator detected).
    id_column : str
        Column with a unique identifier per item (the ``stimulus_id``).
    text_column : str, optional
        Column with the item's text (default: ``id_column``).
    measures : list of str, optional
        Columns to return as units (default: every numeric column without missing
        values, except ``id_column``/``text_column``).
    dropna : bool
        Drop items with a missing value in one of ``measures`` (listed in
        ``meta["dropped"]``) instead of raising.
    name : str, optional
        Dataset name (default: the file's stem).

    Returns
    -------
    Recording
        ``data`` (n_items, n_measures) float32; ``units`` has ``unit`` (the column
        name); ``samples`` holds ``stimulus_id``, ``text`` and every non-measure
        column; ``stimuli`` the same with ``group`` = ``name``.

    Raises
    ------
    BehaviourFormatError
        If a column is missing, identifiers repeat, a measure is not numeric or has
        missing values (without ``dropna``).
    """
    path = _existing(path)
    text = _read_text(path)
    first = text.split("\n", 1)[0]
    sep = max(("\t", ",", ";"), key=first.count)
    table = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
    text_column = text_column or id_column
    for column in (id_column, text_column, *(measures or [])):
        if column not in table.columns:
            raise BehaviourFormatError(
                f"{path}: no column {column!r}; columns are {list(table.columns)}"
            )
    if table[id_column].duplicated().any():
        repeated = table[id_column][table[id_column].duplicated()].head(5).tolist()
        raise BehaviourFormatError(f"{path}: {id_column!r} values repeat: {repeated}")
    table = table.replace({"": np.nan, "NA": np.nan, "NaN": np.nan, "nan": np.nan})
    if measures is None:
        candidates = [c for c in table.columns if c not in (id_column, text_column)]
        numeric = table[candidates].apply(pd.to_numeric, errors="coerce")
        measures = [c for c in candidates if numeric[c].notna().all()]
        if not measures:
            raise BehaviourFormatError(f"{path}: no numeric column without missing values")
    values, keep, dropped = _numeric_block(table, measures, table[id_column], dropna, path)
    kept = table[keep].reset_index(drop=True)
    name = name or path.stem
    others = [c for c in kept.columns if c not in (*measures, id_column, text_column)]
    samples = pd.concat(
        [
            pd.DataFrame({"stimulus_id": kept[id_column], "text": kept[text_column]}),
            kept[others],
        ],
        axis=1,
    )
    stimuli = samples.assign(group=name)
    units = pd.DataFrame({"unit": measures})
    meta = {"name": name, "modality": "behaviour", "file": str(path), "dropped": dropped}
    return _event_recording(values[keep], samples, units, stimuli, meta, path)


THINGS_CITATION = (
    "Hebart, M. N., Dickter, A. H., Kidder, A., Kwok, W. Y., Corriveau, A., Van Wicklin, C., & "
    "Baker, C. I. (2019). THINGS: A database of 1,854 object concepts and more than 26,000 "
    "naturalistic object images. PLOS ONE, 14(10), e0223792."
)


def read_things_concepts(
    path: PathLike, *, measures: list[str] | None = None, dropna: bool = False
) -> Recording:
    """Read THINGS concept metadata or ratings (``things_concepts.tsv``, ``animacy.csv``,
    ``size_fixed.csv`` of THINGS-data).

    The concept identifier is ``uniqueID`` (unique; ``Word`` repeats for homonyms such as
    *bat*); the text is ``Word`` (or ``word``) where present, else ``uniqueID``.

    Parameters
    ----------
    path : str or path-like
        One of the THINGS concept tables (CC0).
    measures, dropna
        As in :func:`read_word_norms`. By default, the numeric columns without gaps; in
        ``things_concepts.tsv`` several (``Percent_known``, ``BNC freq`` ...) have
        missing entries and need ``dropna=True`` when asked for.

    Returns
    -------
    Recording
        As :func:`read_word_norms`, ``meta`` with the THINGS citation and licence.
    """
    path = _existing(path)
    header = _read_text(path).split("\n", 1)[0]
    text_column = next((c for c in ("Word", "word") if re.search(rf"\b{c}\b", header)), None)
    recording = read_word_norms(
        path,
        id_column="uniqueID",
        text_column=text_column,
        measures=measures,
        dropna=dropna,
        name="things_concepts",
    )
    recording.meta.update(
        {"citation": THINGS_CITATION, "licence": "CC0-1.0", "task": "concept norms"}
    )
    return recording


# ----------------------------------------------------------------------------- RDMs


@dataclass(frozen=True)
class RDMSet:
    """Representational dissimilarity matrices over the same conditions, condensed.

    Parameters
    ----------
    dissimilarities : numpy.ndarray of float64, shape (n_rdms, n_pairs)
        Upper triangles row by row (scipy ``squareform`` / rsatoolbox order),
        ``n_pairs = n_conditions (n_conditions - 1) / 2``. NaN marks a missing pair.
    descriptors : pandas.DataFrame, shape (n_rdms, ...)
        ``name`` of each RDM, ``source`` (file variable or key), ``index`` in a MATLAB
        struct array, and what the name tells: ``label`` (e.g. ``hIT``), ``subject``,
        ``session`` (see :func:`read_rdms`).
    conditions : pandas.DataFrame, shape (n_conditions, ...)
        ``condition`` (0..n-1) and ``label`` where given.
    meta : dict
        ``file`` and conversions applied (``similarity``).
    """

    dissimilarities: np.ndarray
    descriptors: pd.DataFrame
    conditions: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.dissimilarities.shape[0]

    @property
    def n_conditions(self) -> int:
        """Number of conditions (rows of each square matrix)."""
        return len(self.conditions)

    def matrices(self) -> np.ndarray:
        """Square form, shape (n_rdms, n_conditions, n_conditions), zero diagonal."""
        return np.stack([squareform(d, checks=False) for d in self.dissimilarities])

    def select(self, **criteria: Any) -> RDMSet:
        """RDMs whose descriptor columns match (one value or a list per column)."""
        mask = np.ones(len(self), dtype=bool)
        for column, wanted in criteria.items():
            if column not in self.descriptors.columns:
                raise KeyError(f"no descriptor {column!r}; have {list(self.descriptors.columns)}")
            values = list(wanted) if isinstance(wanted, list | tuple | set) else [wanted]
            mask &= self.descriptors[column].isin(values).to_numpy()
        if not mask.any():
            raise KeyError(f"no RDM matches {criteria}")
        return RDMSet(
            self.dissimilarities[mask],
            self.descriptors[mask].reset_index(drop=True),
            self.conditions,
            dict(self.meta),
        )


def _describe_name(name: str) -> dict[str, Any]:
    """Parse ``"hIT | BE | Session: 1"``-style names into label / subject / session."""
    described: dict[str, Any] = {}
    positional = []
    for part in (p.strip() for p in name.split("|")):
        keyed = re.fullmatch(r"([A-Za-z ]+):\s*(.+)", part)
        subject = re.fullmatch(r"(?i)subject\s*(\S+)", part)
        if keyed:
            value = keyed.group(2).strip()
            key = keyed.group(1).strip().lower().replace(" ", "_")
            described[key] = int(value) if value.isdigit() else value
        elif subject:
            described["subject"] = part
        elif part:
            positional.append(part)
    if positional:
        described["label"] = positional[0]
    if len(positional) > 1 and "subject" not in described:
        described["subject"] = positional[1]
    return described


def _as_square_stack(array: np.ndarray, source: str, path: Path) -> np.ndarray:
    """(n, n) / (k, n, n) / (n_pairs,) / (k, n_pairs) -> (k, n, n) float64."""
    array = np.asarray(array, dtype=np.float64)
    if array.ndim == 2 and array.shape[0] == array.shape[1] and array.shape[0] > 1:
        return array[None]
    if array.ndim == 3 and array.shape[1] == array.shape[2]:
        return array
    if array.ndim in (1, 2):
        vectors = np.atleast_2d(array)
        n_pairs = vectors.shape[1]
        n = int(round((1 + np.sqrt(1 + 8 * n_pairs)) / 2))
        if n * (n - 1) // 2 != n_pairs or n < 2:
            raise BehaviourFormatError(
                f"{path} [{source}]: a condensed RDM needs n(n-1)/2 entries; "
                f"{n_pairs} is not such a number (shape {array.shape})"
            )
        return np.stack([squareform(v, checks=False) for v in vectors])
    raise BehaviourFormatError(
        f"{path} [{source}]: expected an RDM of shape (n, n), (k, n, n), (n_pairs,) or "
        f"(k, n_pairs); got {array.shape}"
    )


def _check_squares(
    squares: np.ndarray, source: str, path: Path, similarity: bool, atol: float
) -> np.ndarray:
    """Check values, symmetry and diagonal; convert similarities (1 - s) when asked."""
    infinite = np.isinf(squares)
    if infinite.any():
        k, row, column = np.argwhere(infinite)[0].tolist()
        which = f"RDM {k} ({source}[{k}])" if squares.shape[0] > 1 else f"RDM {source!r}"
        raise BehaviourFormatError(
            f"{path} [{source}]: {int(infinite.sum())} infinite value(s), the first in "
            f"{which} at row {row}, column {column} (0-based conditions; a condensed vector "
            "is read as its square form); dissimilarities must be finite numbers (NaN marks "
            "a missing pair): fix or recompute the file"
        )
    diagonal = np.diagonal(squares, axis1=1, axis2=2)
    if not np.all(np.isfinite(diagonal)):
        raise BehaviourFormatError(f"{path} [{source}]: the diagonal holds NaN or inf")
    if similarity:
        if not np.allclose(diagonal, 1.0, atol=atol):
            raise BehaviourFormatError(
                f"{path} [{source}]: similarity=True needs a unit diagonal (1 - s is then a "
                f"dissimilarity); the diagonal spans {diagonal.min():g}..{diagonal.max():g}"
            )
        squares = 1.0 - squares
        diagonal = np.diagonal(squares, axis1=1, axis2=2)
    if not np.allclose(diagonal, 0.0, atol=atol):
        hint = (
            " It looks like a similarity matrix (unit diagonal): pass similarity=True to "
            "use 1 - similarity."
            if np.allclose(diagonal, 1.0, atol=atol)
            else ""
        )
        raise BehaviourFormatError(
            f"{path} [{source}]: an RDM needs a zero diagonal; it spans "
            f"{diagonal.min():g}..{diagonal.max():g}.{hint}"
        )
    transposed = np.swapaxes(squares, 1, 2)
    same_nan = np.isnan(squares) == np.isnan(transposed)
    close = np.isclose(squares, transposed, atol=atol, rtol=1e-7) | np.isnan(squares)
    if not (same_nan.all() and close.all()):
        worst = np.nanmax(np.abs(squares - transposed))
        raise BehaviourFormatError(
            f"{path} [{source}]: RDM is not symmetric (largest |d[i,j] - d[j,i]| = "
            f"{worst:g}); give a symmetric matrix or its condensed upper triangle"
        )
    return squares


def _mat_entries(path: Path, variable: str | None) -> list[tuple[str, dict[str, Any], Any]]:
    """(source, descriptors, array) for each RDM in a MATLAB file."""
    from scipy.io import loadmat

    try:
        contents = loadmat(path, struct_as_record=False, squeeze_me=True)
    except (ValueError, NotImplementedError, OSError) as error:
        raise BehaviourFormatError(f"{path}: cannot read as a MATLAB file ({error})") from error
    names = [k for k in contents if not k.startswith("__")]
    if variable is not None:
        if variable not in names:
            raise BehaviourFormatError(f"{path}: no variable {variable!r}; it holds {names}")
        names = [variable]
    entries = []
    for key in names:
        value = contents[key]
        array = np.asarray(value) if not hasattr(value, "_fieldnames") else np.array([value])
        if array.dtype == object:
            # Struct array with an RDM field (rsatoolbox's MATLAB RDM structs).
            for index in np.ndindex(array.shape):
                element = array[index]
                if not hasattr(element, "RDM"):
                    break
                name = str(getattr(element, "name", f"{key}{list(index)}"))
                described = {"name": name, "source": key, "index": index}
                entries.append((key, described | _describe_name(name), element.RDM))
        elif np.issubdtype(array.dtype, np.number) and array.ndim >= 1 and variable is not None:
            entries.append((key, {"name": key, "source": key, "index": None}, array))
    if not entries:
        raise BehaviourFormatError(
            f"{path}: no RDM found; expected a struct array with an 'RDM' field (or pass "
            f"variable= naming a numeric matrix); variables: {names}"
        )
    return entries


#: What numpy, zipfile and zlib raise for a truncated, corrupt or pickled .npy / .npz.
_NUMPY_READ_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error)


def _numpy_read_error(path: Path, error: Exception, key: str | None = None) -> BehaviourFormatError:
    """One clear error for a .npy / .npz (or one of its arrays) numpy cannot read."""
    where = f" (array {key!r})" if key is not None else ""
    if "allow_pickle" in str(error):
        return BehaviourFormatError(
            f"{path}{where}: holds a Python object array, which can only be read by "
            "unpickling; brainalign does not unpickle files (they can run code). Save the "
            "RDMs as numeric arrays (numpy.save / numpy.savez of float arrays)"
        )
    return BehaviourFormatError(
        f"{path}{where}: cannot read it as a numpy file: it is truncated or corrupt "
        f"({type(error).__name__}: {error}); download or write it again"
    )


def _array_entries(path: Path, variable: str | None) -> list[tuple[str, dict[str, Any], Any]]:
    """(source, descriptors, array) for .npy / .npz / .csv / .tsv files."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except _NUMPY_READ_ERRORS as error:
            raise _numpy_read_error(path, error) from error
        return [(path.stem, {"name": path.stem, "source": path.name, "index": None}, array)]
    if suffix == ".npz":
        try:
            archive = np.load(path, allow_pickle=False)
        except _NUMPY_READ_ERRORS as error:
            raise _numpy_read_error(path, error) from error
        with archive:
            keys = [variable] if variable is not None else list(archive.files)
            missing = [k for k in keys if k not in archive.files]
            if missing:
                raise BehaviourFormatError(
                    f"{path}: no array {missing[0]!r}; it holds {archive.files}"
                )
            arrays = {}
            for key in keys:
                try:
                    arrays[key] = archive[key]
                except _NUMPY_READ_ERRORS as error:
                    raise _numpy_read_error(path, error, key) from error
        usable = {k: a for k, a in arrays.items() if np.issubdtype(a.dtype, np.number)}
        if not usable:
            raise BehaviourFormatError(f"{path}: no numeric array among {list(arrays)}")
        return [(k, {"name": k, "source": k, "index": None}, a) for k, a in usable.items()]
    if suffix in (".csv", ".tsv", ".txt"):
        text = _read_text(path)
        first = text.split("\n", 1)[0]
        sep = "\t" if "\t" in first else ("," if "," in first else r"\s+")
        fields = re.split(sep, first.strip())
        header = 0 if not all(_is_number(f) for f in fields if f) else None
        table = pd.read_csv(io.StringIO(text), sep=sep, header=header, engine="python")
        if header is not None and not all(_is_number(v) for v in table.iloc[:, 0].astype(str)):
            table = table.set_index(table.columns[0])
        try:
            array = table.to_numpy(dtype=np.float64)
        except ValueError as error:
            raise BehaviourFormatError(f"{path}: RDM table is not numeric ({error})") from error
        if array.shape[1] == 1:
            array = array[:, 0]
        labels = [str(c) for c in table.columns] if header is not None else None
        described = {"name": path.stem, "source": path.name, "index": None, "labels": labels}
        return [(path.stem, described, array)]
    raise BehaviourFormatError(
        f"{path}: unsupported RDM file type {suffix!r}; use .npy, .npz, .mat, .csv or .tsv"
    )


def read_rdms(
    path: PathLike,
    *,
    variable: str | None = None,
    similarity: bool = False,
    conditions: list[str] | np.ndarray | None = None,
    atol: float = 1e-8,
) -> RDMSet:
    """Read precomputed RDMs from .npy, .npz, .mat, .csv or .tsv.

    Each RDM may be square (n, n), a stack (k, n, n), condensed (n_pairs,) or a stack of
    condensed vectors (k, n_pairs). Square RDMs must be symmetric and have a zero
    diagonal (within ``atol``); off-diagonal NaN (missing pairs) is kept, infinite values
    are refused. Object arrays are refused (reading them would unpickle).

    * ``.mat``: every struct array whose elements have an ``RDM`` field (the MATLAB RSA
      toolbox format, e.g. ``92_brainRDMs.mat``: ``RDMs(4, 2)`` with fields ``RDM``,
      ``name``, ``color``), read with ``loadmat(struct_as_record=False,
      squeeze_me=True)``; elements are taken in C order of the struct array (for
      ``RDMs(4, 2)``: subject 1 session 1, subject 1 session 2, ...), the index is kept
      in ``descriptors["index"]``. Names are parsed: parts split on ``|``, ``Key: value``
      parts become a column (``Session: 1`` -> ``session`` = 1), ``subjectN`` becomes
      ``subject``, the first other part is ``label`` and the second, if no subject was
      named, ``subject`` (``"hIT | BE | Session: 1"`` -> label hIT, subject BE, session
      1). A plain numeric variable is read when named with ``variable``.
    * ``.npz``: every numeric array (or ``variable``), named by its key.
    * ``.csv``/``.tsv``: a square table, with or without a header row (and a first
      column of labels); a single column is a condensed vector.

    Parameters
    ----------
    path : str or path-like
        The file.
    variable : str, optional
        Variable (``.mat``) or key (``.npz``) to read; default: all RDMs found.
    similarity : bool
        The file holds similarities with a unit diagonal; they are turned into
        dissimilarities ``1 - s`` (recorded in ``meta``).
    conditions : sequence of str, optional
        Condition labels, length n_conditions (otherwise the CSV header, if any).
    atol : float
        Tolerance of the symmetry and diagonal checks.

    Returns
    -------
    RDMSet
        ``dissimilarities`` (n_rdms, n_pairs) float64 and the tables described there.

    Raises
    ------
    BehaviourFormatError
        For an unknown file type, a truncated or corrupt file, an object (pickled) array,
        an infinite value (naming the RDM, row and column), a shape that is not an RDM,
        an asymmetric matrix, a non-zero diagonal (with a hint when it looks like a
        similarity matrix), RDMs over different numbers of conditions, or labels of the
        wrong length.
    """
    path = _existing(path)
    if path.suffix.lower() == ".mat":
        entries = _mat_entries(path, variable)
    else:
        entries = _array_entries(path, variable)
    blocks, rows, labels = [], [], None
    for source, described, array in entries:
        squares = _check_squares(
            _as_square_stack(array, source, path), source, path, similarity, atol
        )
        labels = described.pop("labels", None) or labels
        for k in range(squares.shape[0]):
            row = dict(described)
            if squares.shape[0] > 1:
                row["name"], row["index"] = f"{described['name']}[{k}]", k
            rows.append(row)
        blocks.append(squares)
    sizes = sorted({b.shape[1] for b in blocks})
    if len(sizes) > 1:
        raise BehaviourFormatError(
            f"{path}: RDMs over different numbers of conditions {sizes}; read them "
            "separately with variable="
        )
    n_conditions = sizes[0]
    squares = np.concatenate(blocks)
    upper = np.triu_indices(n_conditions, k=1)
    table = pd.DataFrame({"condition": np.arange(n_conditions)})
    labels = conditions if conditions is not None else labels
    if labels is not None:
        if len(labels) != n_conditions:
            raise BehaviourFormatError(
                f"{path}: {len(labels)} condition labels for {n_conditions} conditions"
            )
        table["label"] = np.asarray(labels).astype(str)
    return RDMSet(
        dissimilarities=squares[:, upper[0], upper[1]],
        descriptors=pd.DataFrame(rows),
        conditions=table,
        meta={"file": str(path), "similarity": similarity},
    )
