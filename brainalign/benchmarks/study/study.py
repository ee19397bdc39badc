"""A user's own study, run as a benchmark.

A :class:`Study` describes the user's data (stimuli, responses or RDMs or ratings, how
they were sampled) and the analysis; :meth:`Study.benchmark` turns it into a
:class:`~brainalign.benchmarks.benchmark.Benchmark`, so it is scored by the one path
every registered benchmark takes (:meth:`Benchmark.run <brainalign.benchmarks.
benchmark.Benchmark.run>`): the untrained twin, a content-free control, the ceiling, the
tidy result rows, figures, ``report``, ``compare`` and ``sweep``.

Defaults are decided by the data:

- **event** responses (one row per stimulus or trial; images, sentences, words): no
  delays, K-fold over stimuli (shuffled with the run's seed; whole groups held out
  with ``groups``); repeats are averaged for the fit and give the split-half ceiling;
- **epochs** (event-related M/EEG or iEEG trials, time axis kept): the event
  defaults at every time point of the scored ``window`` (default: 0 s to the epoch's
  end), one row per (layer, subject, channel, time) for ridge and per (layer, subject,
  time) for RSA, so a layer's summary (the median over its rows) is the median over
  subjects x channels x window time points; the ceiling is the split-half reliability
  of the trials per channel and time (RSA: of the RDMs per time point)
  (:mod:`brainalign.benchmarks.study.epochs`);
- **continuous** responses (a time series; fMRI volumes): word features
  Lanczos-resampled to the samples, FIR delays 1-4 samples, contiguous folds with a
  gap of the largest delay (whole runs held out when there are several); the
  leave-one-subject-out inter-subject correlation is the ceiling when two or more
  subjects share units;
- **continuous on the M/EEG clock** (a Recording with ``sfreq``, e.g. from
  :func:`~brainalign.datasets.meeg.continuous_recording`, or samples
  :data:`MEEG_MAX_TR` s apart or closer: :attr:`Study.on_meeg_clock`): each layer's
  word features reduced to ``n_components`` whitened principal components and placed
  as impulses at the sample nearest each word's onset, a temporal response function
  per unit from ``tmin`` to ``tmax`` seconds (default -0.1 to 0.6) with each unit's
  penalty chosen by inner blocked folds, whole runs held out (blocked folds with a gap
  of the lag span for one run); control ``word-onsets`` (an impulse per word); the same
  inter-subject ceiling (:mod:`brainalign.benchmarks.story_trf`).

Stimuli may be text, images, or media for continuous responses (story listening, movie
watching): a stimuli table with an ``audio`` or a ``video`` column holds one file per
run (``group`` = the run, ``onset`` = where the file starts on the run's clock,
default 0; one file alone is one run):

- **audio**: the frames of an audio model
  (:class:`~brainalign.encoders.audio.AudioEncoder`), stamped with their time in the
  file plus its onset, Lanczos-resampled onto the run's samples like words; control
  ``sound-envelope`` (the RMS envelope, resampled the same way);
- **video**: a clip of a video model (:class:`~brainalign.encoders.video.VideoEncoder`)
  centred on every sample time of the run; a sample before the video starts or after
  it ends is refused when the study is read (trim the responses to the video); control
  ``frame-luminance`` (the mean pixel intensity of the frame shown at each sample).

The model must read the stimuli's kind (checked from its config before any forward
pass). Images read by a multimodal language model take the options ``instruction`` and
``span`` (:class:`~brainalign.encoders.multimodal.MultimodalEncoder`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from brainalign.benchmarks.study.inputs import (
    StudyInputError,
    read_responses,
    read_stimuli,
    unit_labels,
)
from brainalign.datasets.recording import Recording
from brainalign.stimuli import Stimuli

if TYPE_CHECKING:
    from brainalign.benchmarks.benchmark import Benchmark, BenchmarkTask
    from brainalign.benchmarks.settings import RunSettings
    from brainalign.benchmarks.study.epochs import EpochsResponses
    from brainalign.datasets.behaviour import RDMSet

__all__ = ["ANALYSES", "OPTIONS", "Study", "StudyInputError"]

#: Analyses a study can run.
ANALYSES = ("ridge", "rsa", "ratings")

#: Options of text studies (a task instruction) and of image studies read by a
#: multimodal language model (an instruction and a token span).
_INSTRUCTION_OPTIONS = {
    "instruction": "text: a task instruction read before every text, its tokens never "
    "pooled [none]; images with a multimodal language model: the text read with every "
    "image [Describe the image.]",
    "instruction_format": "text, with an instruction: plain (a prefix) or chat (the "
    "model's chat template) [plain]",
    "span": "images with a multimodal language model only: the tokens averaged, visual, "
    "instruction or all [visual]",
}
#: Of those, the options only a multimodal language model reading images takes.
_MULTIMODAL_ONLY = ("span",)
#: Stimulus kinds read from files, one file per run, for continuous responses.
MEDIA = ("audio", "video")

#: Options of each analysis and what they do (defaults in brackets).
OPTIONS: dict[str, dict[str, str]] = {
    "ridge": {
        "n_splits": "outer folds [5]",
        "inner_splits": "inner folds choosing each unit's penalty [5]",
        "alphas": "ridge penalty grid [logspace(-1, 8, 19)]",
        "delays": "FIR delays in samples, continuous responses (not on the M/EEG clock) only "
        "[1, 2, 3, 4]",
        "tmin": "continuous on the M/EEG clock only: first TRF lag in seconds [-0.1]",
        "tmax": "continuous on the M/EEG clock only: last TRF lag in seconds [0.6]",
        "n_components": "continuous on the M/EEG clock only: whitened principal components "
        "of each layer's word features [16]",
        "ceiling_splits": "random split-halves of the repeats for the ceiling [100]",
        **_INSTRUCTION_OPTIONS,
    },
    "rsa": {
        "dissimilarity": "RDM distance of model features and response patterns [correlation]",
        "comparison": "how two RDMs are compared [spearman]",
        "ceiling_splits": "epochs only: random split-halves of the trials for the RDM "
        "ceiling [100]",
        **_INSTRUCTION_OPTIONS,
    },
    "ratings": {
        "n_splits": "outer folds of the norms probe [5]",
        "inner_splits": "inner folds of the norms probe [5]",
        "alphas": "ridge penalty grid of the norms probe [logspace(-1, 8, 19)]",
    },
}

#: Continuous samples this close (seconds) or closer are on the M/EEG clock (10 Hz+):
#: scored with impulses and a TRF instead of resampling and FIR delays.
MEEG_MAX_TR = 0.1
#: The options only continuous studies on the M/EEG clock take.
_TRF_OPTIONS = ("tmin", "tmax", "n_components")

#: The metric column of each analysis (RSA: the comparison's name).
_METRICS = {"ridge": "pearson_r", "spearman": "spearman_r", "pearson": "pearson_r"}


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise StudyInputError(f"name={name!r}: give the study a short name, e.g. 'v4-images'")
    cleaned = name.strip()
    if cleaned != cleaned.lower() or "@" in cleaned or " " in cleaned:
        raise StudyInputError(
            f"name={name!r}: use lower case, no spaces and no '@' (e.g. "
            f"{cleaned.lower().replace(' ', '-').replace('@', '-')!r}); it names the study's "
            "rows in the benchmark column"
        )
    from brainalign.benchmarks.registry import BENCHMARKS

    if cleaned in BENCHMARKS:
        raise StudyInputError(
            f"name={name!r} is a registered benchmark; give the study another name"
        )
    return cleaned


def _check_epochs_keys(sampling: str | None, responses: Any, **given: Any) -> None:
    """Keys that only epochs take (trials, times), and keys epochs refuse, named."""
    if sampling != "epochs":
        only = [k for k in ("trials", "times") if given[k] is not None]
        if only:
            raise StudyInputError(
                f"{' and '.join(only)} are for sampling: epochs (trials with their time "
                f"axis); sampling is {sampling!r}: drop them"
            )
        return
    if responses is None:
        raise StudyInputError("sampling: epochs needs responses (one epochs file per subject)")
    refused = [k for k in ("units", "tr", "mask") if given[k] is not None]
    if refused:
        raise StudyInputError(
            f"{', '.join(refused)}: epochs bring their own channels and time axis; drop "
            f"{'it' if len(refused) == 1 else 'them'}"
        )


def _hash_table(digest: Any, table: pd.DataFrame) -> None:
    """Feed a table (its columns and values, as CSV) into a running sha256."""
    digest.update(table.to_csv(index=False).encode())


class Study:
    """A user's own data and analysis, scored like a registered benchmark.

    Parameters
    ----------
    name : str
        Short lower-case name; results carry ``NAME@VERSION`` in their ``benchmark``
        column.
    stimuli : Stimuli or path, optional
        What was presented: a :class:`~brainalign.stimuli.Stimuli`, a CSV/TSV table
        (``stimulus_id`` and ``text`` or ``image``; image paths relative to the table),
        a folder of images or a ``.zip`` of images (ids = file stems). Continuous
        studies give words with ``onset`` (seconds), or one media file per run: a table
        with an ``audio`` or ``video`` column (``group`` = the run, optional ``onset`` =
        where the file starts on the run's clock), or one audio or video file (one
        run). Optional for ratings of word pairs and when ``responses`` is a Recording
        (its own stimuli).
    responses : Recording, array, mne.Epochs or path, optional
        What was measured (:func:`~brainalign.benchmarks.study.inputs.read_responses`):
        event arrays (n_stimuli, n_units) or with a trailing repeats axis (n_stimuli,
        n_units, n_repeats), NaN-padded where counts differ; continuous arrays
        (n_samples, n_units); ``.npy``, ``.npz``, ``.csv`` (``stimulus_id`` [, ``repeat``]
        and a column per unit), NIfTI beta maps (with ``mask``), MNE epochs (with
        ``window``), or a Recording. With ``sampling="epochs"``
        (:func:`~brainalign.benchmarks.study.epochs.read_epochs_responses`): MNE
        (``-epo.fif``) or EEGLAB (``.set``) epochs, ``.npy`` (n_trials, n_channels,
        n_times) with ``times``, ``.npz`` with ``data`` and ``times``, or a mapping of
        subject -> one of those (one file per subject).
    rdms : RDMSet or path, optional
        Precomputed data RDMs over the stimuli, in their order (``read_rdms`` formats:
        ``.mat``, ``.npz``, ``.npy``, ``.csv``); implies ``analysis="rsa"``.
    ratings : Recording, path or mapping, optional
        Human ratings: word pairs (a path in the SimLex/WordSim format or
        ``{"pairs": path}``), or norms (``{"norms": path, "id_column": ..., "text_column":
        ..., "measures": [...]}``, optionally ``sd_suffix``/``n_suffix`` columns naming
        each measure's SD and number of raters); implies ``analysis="ratings"``.
    analysis : {"ridge", "rsa", "ratings"}, optional
        Default: ``rsa`` with ``rdms``, ``ratings`` with ``ratings``, else ``ridge``.
    sampling : {"event", "continuous", "epochs"}, optional
        How the responses were sampled; required for arrays and files (a Recording
        knows its own). ``epochs``: trials with their time axis, scored per time point
        (module documentation).
    units : DataFrame or path, optional
        One row per unit (``subject``, ``roi``, ``unit`` ...).
    tr : float, optional
        Seconds between samples of continuous arrays.
    groups : str, optional
        A column of the stimuli table (event) whose values are held out together in
        the folds (passages, image categories, sessions); for continuous responses a
        column of the samples (runs; default ``run`` when present).
    context : {"isolated", "passage"}, optional
        How text items are read: alone (default) or after the earlier items of their
        ``group``.
    pooling : str, optional
        How an item's tokens become one vector (text, default ``"mean"``); images are
        mean-pooled over patches, audio and video read as their encoders read them
        (refused for them).
    text_column : str
        Column of a stimuli table holding the text.
    mask : path, optional
        Mask image of NIfTI responses.
    window : (float, float), optional
        Event responses from M/EEG epochs: the seconds averaged into one response per
        trial. ``sampling="epochs"``: the scored time points (default: 0 s to the
        epoch's end); only they become rows.
    trials : DataFrame or path, optional
        ``sampling="epochs"``: one row per trial (``stimulus_id``; optional ``subject``,
        ``group``), for epochs whose metadata do not name the stimuli.
    times : sequence of float, optional
        ``sampling="epochs"``: seconds of each time point of epochs given as ``.npy``
        or an array.
    options : mapping, optional
        Analysis options (:data:`OPTIONS`); ``instruction`` and ``span`` for images read
        by a multimodal language model only.
    version : int
        Bump when the study's data or analysis changes.
    description, citation : str
    base : path, optional
        Folder that relative paths are resolved against (a study file's folder).

    Attributes
    ----------
    modality : {"text", "image", "audio", "video"}
        What the stimuli are.
    media : pandas.DataFrame or None
        Media studies: one row per run (``stimulus_id``, ``run``, ``path``, ``onset``,
        ``sha256``, ``duration``).
    digest : str
        sha256 of everything that makes the scores (data, files' bytes, options).

    Raises
    ------
    StudyInputError
        For anything missing, malformed or inconsistent, naming the file, column, id or
        key and what to do.
    """

    def __init__(
        self,
        name: str,
        *,
        stimuli: Stimuli | str | os.PathLike | None = None,
        responses: Any = None,
        rdms: Any = None,
        ratings: Any = None,
        analysis: str | None = None,
        sampling: str | None = None,
        units: pd.DataFrame | str | os.PathLike | None = None,
        tr: float | None = None,
        groups: str | None = None,
        context: str | None = None,
        pooling: str | None = None,
        text_column: str = "text",
        mask: str | os.PathLike | None = None,
        window: Sequence[float] | None = None,
        trials: pd.DataFrame | str | os.PathLike | None = None,
        times: Sequence[float] | None = None,
        options: Mapping[str, Any] | None = None,
        version: int = 1,
        description: str = "",
        citation: str = "",
        base: str | os.PathLike | None = None,
    ) -> None:
        self.name = _check_name(name)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise StudyInputError(f"version={version!r}: give an integer >= 1")
        self.version = version
        self.description = str(description or "")
        self.citation = str(citation or "")
        base_path = None if base is None else Path(base)
        given = [
            k
            for k, v in (("responses", responses), ("rdms", rdms), ("ratings", ratings))
            if v is not None
        ]
        if len(given) != 1:
            raise StudyInputError(
                f"study {self.name}: give exactly one of responses, rdms or ratings (got "
                f"{', '.join(given) or 'none'})"
            )
        implied = {"responses": "ridge", "rdms": "rsa", "ratings": "ratings"}[given[0]]
        self.analysis = analysis or implied
        if self.analysis not in ANALYSES:
            raise StudyInputError(f"analysis={analysis!r}: use one of {', '.join(ANALYSES)}")
        if (
            (given[0] == "rdms" and self.analysis != "rsa")
            or (given[0] == "ratings" and self.analysis != "ratings")
            or (given[0] == "responses" and self.analysis == "ratings")
        ):
            raise StudyInputError(
                f"analysis={self.analysis!r} does not fit {given[0]}: {given[0]} are scored "
                f"with analysis {implied!r}" + (" or 'rsa'" if given[0] == "responses" else "")
            )
        self.options = self._check_options(options)
        self.recording: Recording | None = None
        self.rdm_set: RDMSet | None = None
        self.rating_kind: str | None = None
        self.ratings: Recording | None = None
        self._rating_spread: tuple[np.ndarray, np.ndarray] | None = None
        self.epochs: EpochsResponses | None = None
        self.window: tuple[float, float] | None = None
        self.scored_times: np.ndarray | None = None
        _check_epochs_keys(sampling, responses, units=units, tr=tr, mask=mask, trials=trials,
                           times=times)  # fmt: skip
        if ratings is not None:
            self._read_ratings(ratings, base_path)
            self.stimuli = self.ratings.stimuli
        else:
            self.stimuli = self._read_stimuli(stimuli, responses, base_path, text_column)
            if sampling == "epochs":
                self._read_epochs(responses, trials, times, window, base_path)
            elif responses is not None:
                self.recording = read_responses(
                    responses,
                    stimuli=self.stimuli,
                    sampling=sampling,
                    units=units,
                    tr=tr,
                    name=self.name,
                    base=base_path,
                    mask=mask,
                    window=window,
                )
            else:
                self._read_rdms(rdms, base_path)
        self.sampling = "event" if self.recording is None else self.recording.sampling
        if self.epochs is not None:
            self.sampling = "epochs"
        self._check_clock_options()
        if "ceiling_splits" in self.options and self.analysis == "rsa" and not self.epochs:
            raise StudyInputError(
                "option ceiling_splits of analysis 'rsa' is for sampling: epochs (the split-"
                "half RDM ceiling); these RDMs have no trials to split: drop it"
            )
        columns = self.stimuli.table.columns
        self.modality = next((k for k in ("image", *MEDIA) if k in columns), "text")
        if self.modality == "text" and "text" not in columns:
            raise StudyInputError(
                f"study {self.name}: the stimuli have neither text, images, audio nor video "
                f"(columns {list(columns)}); a model needs something to read"
            )
        self._check_multimodal_options()
        self.images = self._read_images()
        self.groups = self._check_groups(groups)
        self.context = self._check_context(context)
        self.pooling = pooling or "mean"
        if self.modality != "text" and pooling not in (None, "mean"):
            raise StudyInputError(
                f"pooling={pooling!r}: pooling is for text; {self.modality} stimuli are read "
                "as their encoder reads them (module documentation): drop pooling"
            )
        self.media: pd.DataFrame | None = None
        if self.modality in MEDIA:
            self.media = self._read_media()
        elif self.sampling == "continuous":
            self._check_continuous()
        if self.analysis == "rsa" and self.sampling not in ("event", "epochs"):
            raise StudyInputError(
                "analysis 'rsa' needs event responses (one per stimulus) or epochs"
            )
        self._check_fold_sizes()
        self.digest = self._digest()

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> Study:
        """Read a study file (:func:`~brainalign.benchmarks.study.config.load_study`;
        keys: :data:`~brainalign.benchmarks.study.config.STUDY_KEYS`)."""
        from brainalign.benchmarks.study.config import load_study

        return load_study(path)

    # ----------------------------------------------------------------- inputs

    def _check_options(self, options: Mapping[str, Any] | None) -> dict[str, Any]:
        import difflib

        options = dict(options or {})
        known = OPTIONS[self.analysis]
        for key in options:
            if key not in known:
                close = difflib.get_close_matches(key, list(known), n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise StudyInputError(
                    f"option {key!r} is not an option of analysis {self.analysis!r}; {hint}"
                    f"its options: {', '.join(known)}"
                )
        if self.analysis == "rsa":
            from brainalign.alignment.rsa import COMPARISONS, METRICS

            for key, allowed in (("dissimilarity", METRICS), ("comparison", COMPARISONS)):
                if key in options and options[key] not in allowed:
                    raise StudyInputError(
                        f"{key}={options[key]!r}: use one of {', '.join(allowed)}"
                    )
        if "span" in options:
            from brainalign.encoders.multimodal import SPANS

            if options["span"] not in SPANS:
                raise StudyInputError(f"span={options['span']!r}: use one of {', '.join(SPANS)}")
        if "instruction" in options and (
            not isinstance(options["instruction"], str) or not options["instruction"].strip()
        ):
            raise StudyInputError(
                f"instruction={options['instruction']!r}: give the instruction's text"
            )
        if "instruction_format" in options:
            if options["instruction_format"] not in ("plain", "chat"):
                raise StudyInputError(
                    f"instruction_format={options['instruction_format']!r}: use plain or chat"
                )
            if "instruction" not in options:
                raise StudyInputError("instruction_format applies with an instruction: give both")
        for key in ("n_splits", "inner_splits", "ceiling_splits"):
            value = options.get(key)
            lowest = 1 if key == "ceiling_splits" else 2
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < lowest
            ):
                raise StudyInputError(f"{key}={value!r}: give an integer >= {lowest}")
        return options

    def _read_stimuli(
        self, stimuli: Any, responses: Any, base: Path | None, text_column: str
    ) -> Stimuli:
        if stimuli is None:
            if isinstance(responses, Recording):
                return responses.stimuli
            raise StudyInputError(f"study {self.name}: give stimuli (a table, folder or zip)")
        return read_stimuli(stimuli, base=base, text_column=text_column, default_group=self.name)

    def _read_epochs(
        self,
        responses: Any,
        trials: Any,
        times: Sequence[float] | None,
        window: Sequence[float] | None,
        base: Path | None,
    ) -> None:
        """Epochs per subject, their scored window and time points (``sampling: epochs``)."""
        from brainalign.benchmarks.study.epochs import read_epochs_responses

        self.epochs = read_epochs_responses(
            responses, stimuli=self.stimuli, times=times, trials=trials, base=base
        )
        self.window, self.scored_times = self.epochs.window_mask(window)

    def stimulus_fold_groups(self) -> np.ndarray | None:
        """Fold group of every stimulus (stimuli order), (n_stimuli,), or None.

        The stimuli table's ``groups`` column; for epochs whose trials table has a
        ``group`` column, that group (one per stimulus, checked when the study is read).
        """
        if self.groups is not None:
            return self.stimuli.table[self.groups].astype(str).to_numpy()
        if self.epochs is None or self.epochs.subjects[0].groups is None:
            return None
        return self._trial_groups().loc[self.stimuli.table["stimulus_id"].astype(str)].to_numpy()

    def _trial_groups(self) -> pd.Series:
        """The trials table's group of each stimulus id, checked to be one per stimulus."""
        pairs = pd.concat(
            pd.DataFrame({"stimulus_id": e.stimulus_ids, "group": e.groups})
            for e in self.epochs.subjects
        ).drop_duplicates()
        split = pairs[pairs["stimulus_id"].duplicated(keep=False)]
        if not split.empty:
            raise StudyInputError(
                f"the trials table gives stimuli several groups, e.g. "
                f"{split.groupby('stimulus_id')['group'].unique().head(3).to_dict()}; a "
                "group is held out whole in the folds, so each stimulus needs one"
            )
        return pairs.set_index("stimulus_id")["group"]

    def _read_rdms(self, rdms: Any, base: Path | None) -> None:
        from brainalign.datasets.behaviour import RDMSet, read_rdms

        if not isinstance(rdms, RDMSet):
            from brainalign.benchmarks.study.inputs import resolve_path

            rdms = read_rdms(resolve_path(rdms, base, "rdms"))
        if rdms.n_conditions != len(self.stimuli):
            raise StudyInputError(
                f"the RDMs are over {rdms.n_conditions} conditions but there are "
                f"{len(self.stimuli)} stimuli; give one stimulus per condition, in the RDMs' "
                "order"
            )
        self.rdm_set = rdms

    def _read_ratings(self, ratings: Any, base: Path | None) -> None:
        from brainalign.benchmarks.study.inputs import resolve_path
        from brainalign.datasets.behaviour import read_word_norms, read_word_pairs

        if isinstance(ratings, Recording):
            recording = ratings
        else:
            spec = dict(ratings) if isinstance(ratings, Mapping) else {"pairs": ratings}
            kinds = [k for k in ("pairs", "norms") if k in spec]
            if len(kinds) != 1:
                raise StudyInputError(
                    f"ratings={ratings!r}: give {{pairs: FILE}} (word pairs) or {{norms: FILE, "
                    "id_column: COLUMN}} (per-item norms)"
                )
            path = resolve_path(spec.pop(kinds[0]), base, f"ratings {kinds[0]}")
            if kinds[0] == "pairs":
                if spec:
                    raise StudyInputError(f"ratings pairs take no other keys; got {sorted(spec)}")
                recording = read_word_pairs(path, name=self.name)
            else:
                recording = self._read_norms(path, spec, read_word_norms)
        if {"word1", "word2"} <= set(recording.samples.columns):
            self.rating_kind = "pairs"
        elif "text" in recording.stimuli.table.columns:
            self.rating_kind = "norms"
        else:
            raise StudyInputError(
                "ratings: a Recording of word pairs (word1, word2) or of per-item norms "
                "(stimuli with text) is needed"
            )
        self.ratings = recording

    def _read_norms(self, path: Path, spec: dict[str, Any], reader: Any) -> Recording:
        allowed = {"id_column", "text_column", "measures", "sd_suffix", "n_suffix"}
        unknown = sorted(set(spec) - allowed)
        if unknown:
            raise StudyInputError(
                f"ratings norms: unknown key(s) {unknown}; the keys are {sorted(allowed)}"
            )
        if "id_column" not in spec:
            raise StudyInputError("ratings norms: name the id_column (one id per item)")
        sd_suffix, n_suffix = spec.pop("sd_suffix", None), spec.pop("n_suffix", None)
        recording = reader(path, name=self.name, **spec)
        if (sd_suffix is None) != (n_suffix is None):
            raise StudyInputError("ratings norms: give both sd_suffix and n_suffix, or neither")
        if sd_suffix is not None:
            table = pd.read_csv(path, sep=None, engine="python")
            measures = recording.units["unit"].tolist()
            columns = [f"{m}{suffix}" for suffix in (sd_suffix, n_suffix) for m in measures]
            missing = [c for c in columns if c not in table.columns]
            if missing:
                raise StudyInputError(f"ratings norms {path}: no column(s) {missing}")
            index = table[spec["id_column"]].astype(str)
            order = (
                index.reset_index()
                .set_index(spec["id_column"])
                .loc[recording.samples["stimulus_id"].astype(str), "index"]
            )
            sds = table[[f"{m}{sd_suffix}" for m in measures]].to_numpy(float)[order]
            counts = table[[f"{m}{n_suffix}" for m in measures]].to_numpy(float)[order]
            self._rating_spread = (sds, counts)
        return recording

    def _read_images(self) -> Any:
        """The images read, hashed and checked once (an ``ImageStimuli``), or None for text.

        Every run encodes these (no image is read or hashed again to build a store key),
        and the digest holds their hashes, so an unreadable image fails here, before any
        model runs.
        """
        if self.modality != "image":
            return None
        from brainalign.encoders.vision import image_stimuli

        try:
            return image_stimuli(self.stimuli)
        except (OSError, TypeError, ValueError) as error:
            raise StudyInputError(f"study {self.name}: stimuli: {error}") from None

    def _check_multimodal_options(self) -> None:
        given = sorted(set(self.options) & set(_INSTRUCTION_OPTIONS))
        allowed = {
            "text": {"instruction", "instruction_format"},
            "image": {"instruction", "span"},
        }.get(self.modality, set())
        refused = [option for option in given if option not in allowed]
        if refused:
            reads = {
                "text": "an instruction (and its format) for text",
                "image": "an instruction and a span for images read by a multimodal language model",
            }
            raise StudyInputError(
                f"option(s) {refused} do not apply to {self.modality} stimuli; the "
                f"instruction options are {reads['text']}, and {reads['image']}: drop them"
            )

    def _read_media(self) -> pd.DataFrame:
        """Each run's media file, matched to the responses' runs, hashed and measured.

        Returns
        -------
        pandas.DataFrame
            One row per run: ``stimulus_id``, ``run`` (None for one unnamed run),
            ``path``, ``onset`` (s on the run's clock), ``sha256``, ``duration`` (s).
        """
        from brainalign.encoders.common import content_sha256

        if self.sampling != "continuous":
            raise StudyInputError(
                f"study {self.name}: {self.modality} stimuli are read for continuous responses "
                "(a time series per run: sampling continuous, with one file per run); for one "
                "response per clip, encode the clips and give event responses"
            )
        if "onset" not in self.recording.samples.columns:
            raise StudyInputError("continuous responses need the onset of every sample")
        table = self.stimuli.table
        paths = table[self.modality].astype(str).tolist()
        media = pd.DataFrame(
            {
                "stimulus_id": table["stimulus_id"].astype(str).to_numpy(),
                "run": self._media_runs(table),
                "path": paths,
                "onset": table["onset"].to_numpy(dtype=float) if "onset" in table else 0.0,
                "duration": [self._media_duration(path) for path in paths],
            }
        )
        media["sha256"] = [content_sha256(path) for path in paths]
        if self.modality == "video":
            self._check_video_times(media)
        return media

    def _media_runs(self, table: pd.DataFrame) -> list[str | None]:
        """The run of each media file, checked against the responses' runs."""
        if self.groups is None:
            if len(table) != 1:
                raise StudyInputError(
                    f"study {self.name}: {len(table)} {self.modality} files but the responses "
                    "have no runs: give the responses a 'run' column (or name it with groups) "
                    "and each file its run in the stimuli's 'group' column"
                )
            return [None]
        runs = table["group"].astype(str)
        repeated = runs[runs.duplicated()].unique().tolist()
        if repeated:
            raise StudyInputError(
                f"the stimuli give several {self.modality} files for run(s) {repeated[:5]}; "
                "give one file per run (the 'group' column names its run)"
            )
        sampled = set(self.recording.samples[self.groups].astype(str))
        if sampled != set(runs):
            raise StudyInputError(
                f"the samples' {self.groups!r} values {sorted(sampled)[:5]} must equal the "
                f"stimuli's group values {sorted(runs)[:5]} (the {self.modality} of each run)"
            )
        return runs.tolist()

    def _media_duration(self, path: str) -> float:
        """Seconds of a media file, read before any model runs (an unreadable file fails)."""
        try:
            if self.modality == "video":
                from brainalign.encoders.video_io import probe_video

                return float(probe_video(path).duration)
            from brainalign.encoders.audio_io import open_audio

            with open_audio(path, sampling_rate=None) as source:
                return source.n_samples / source.sampling_rate
        except (OSError, ValueError) as error:
            raise StudyInputError(f"study {self.name}: stimuli: {error}") from None

    def _check_video_times(self, media: pd.DataFrame) -> None:
        """Refuse samples outside their run's video: a clip needs the video at its centre."""
        from brainalign.encoders.video_io import TIME_TOLERANCE

        for row in media.itertuples():
            times = self.media_times(row.run, row.onset)
            outside = (times < -TIME_TOLERANCE) | (times > row.duration + TIME_TOLERANCE)
            if outside.any():
                run = "" if row.run is None else f"run {row.run!r}: "
                raise StudyInputError(
                    f"{run}{int(outside.sum())} sample(s) fall outside the video {row.path} "
                    f"({row.duration:.2f} s, starting at {row.onset:g} s on the run's clock): "
                    f"sample times {np.round(times[outside][:3] + row.onset, 3).tolist()} s; "
                    "trim the responses to the samples the video spans (or correct the "
                    "stimuli's onset)"
                )

    def run_samples(self, run: str | None) -> np.ndarray:
        """Boolean mask of the samples of ``run`` (all samples for None), (n_samples,)."""
        if run is None:
            return np.ones(self.recording.n_samples, dtype=bool)
        return (self.recording.samples[self.groups].astype(str) == run).to_numpy()

    def media_times(self, run: str | None, onset: float) -> np.ndarray:
        """The times (s) of a run's samples on its media file's clock, (n_run_samples,)."""
        return self.recording.sample_times[self.run_samples(run)] - float(onset)

    def text_instruction(self) -> dict[str, str]:
        """``instruction`` and ``instruction_format`` of a text study, as TextEncoder
        keywords (empty without an instruction or for other stimuli)."""
        if self.modality != "text" or "instruction" not in self.options:
            return {}
        return {
            "instruction": self.options["instruction"],
            "instruction_format": self.options.get("instruction_format", "plain"),
        }

    def check_model(self, model: str) -> None:
        """Refuse, before any forward pass, a model that cannot read these stimuli.

        Media studies need an audio (video) model; the options ``instruction`` and
        ``span`` need a multimodal language model. A model whose config cannot be read
        without a download is checked when it loads.

        Raises
        ------
        StudyInputError
            Naming the study, the model, its kind and what the stimuli need.
        """
        given = (
            sorted(set(self.options) & {"instruction", "span"}) if self.modality == "image" else []
        )
        if self.modality not in MEDIA and not given:
            return
        from brainalign.encoders.loading import modality_of
        from brainalign.encoders.models import inspect_model

        config = inspect_model(model).config
        if config is None:  # a hub model not in the cache: checked when it loads
            return
        try:
            modality = modality_of(config, self.modality)
        except ValueError as error:
            raise StudyInputError(f"study {self.name}: model {model}: {error}") from None
        if modality != ("vision" if self.modality == "image" else self.modality) and not given:
            raise StudyInputError(
                f"study {self.name}: model {model} reads the sound of videos ({modality}); a "
                "video study needs a video model: give the files in an 'audio' column to "
                "score an audio model on their sound"
            )
        if given and modality != "multimodal":
            raise StudyInputError(
                f"study {self.name}: option(s) {given} are for a multimodal language model, "
                f"but model {model} is read as a {modality} model: drop them"
            )

    def _check_groups(self, groups: str | None) -> str | None:
        if self.epochs is not None and self.epochs.subjects[0].groups is not None:
            if groups is not None:
                raise StudyInputError(
                    f"groups={groups!r} and the trials table's group column both give fold "
                    "groups: drop one"
                )
            self._trial_groups()  # one group per stimulus
        if groups is None:
            if self.sampling == "continuous" and "run" in self.recording.samples.columns:
                return "run"
            return None
        table = self.recording.samples if self.sampling == "continuous" else self.stimuli.table
        if groups not in table.columns:
            where = "samples" if self.sampling == "continuous" else "stimuli table"
            raise StudyInputError(
                f"groups={groups!r} is not a column of the {where}; it has {list(table.columns)}"
            )
        return groups

    def _check_context(self, context: str | None) -> str:
        if self.modality == "image":
            if context not in (None, "image"):
                raise StudyInputError(f"context={context!r}: images are read one at a time")
            return "image"
        if self.modality in MEDIA:
            if context not in (None, self.modality):
                raise StudyInputError(
                    f"context={context!r}: each run's {self.modality} is read whole; drop context"
                )
            return self.modality
        if self.sampling == "continuous":
            if context not in (None, "window"):
                raise StudyInputError(
                    f"context={context!r}: the words of a continuous study are read with their "
                    "preceding words (context window); drop context"
                )
            return "window"
        if context is None:
            return "isolated"
        if context not in ("isolated", "passage"):
            raise StudyInputError(f"context={context!r}: use 'isolated' or 'passage'")
        if context == "passage" and self.stimuli.table["group"].nunique() < 2:
            raise StudyInputError(
                "context='passage' reads each item after the earlier items of its group, but "
                "the stimuli table has no 'group' column (or one group): add one"
            )
        return context

    def _check_continuous(self) -> None:
        table = self.stimuli.table
        if self.modality != "text" or "onset" not in table.columns:
            raise StudyInputError(
                f"study {self.name}: continuous responses need timed words (stimuli with "
                "text and onset in seconds on the responses' clock) or one audio or video "
                "file per run (a stimuli table with an audio or video column)"
            )
        if "onset" not in self.recording.samples.columns:
            raise StudyInputError("continuous responses need the onset of every sample")
        if self.groups is not None:
            runs = set(self.recording.samples[self.groups].astype(str))
            words = set(table["group"].astype(str))
            if runs != words:
                raise StudyInputError(
                    f"the samples' {self.groups!r} values {sorted(runs)[:5]} must equal the "
                    f"stimuli's group values {sorted(words)[:5]} (the words of each run)"
                )

    def _check_fold_sizes(self) -> None:
        """Refuse, before any model runs, folds the study has too few items for.

        Every outer fold holds out at least 2 items, and every inner fold of the
        smallest training set at least 2 (a held-out Pearson r needs 2 points).
        """
        fitted = (self.analysis == "ridge" and self.sampling in ("event", "epochs")) or (
            self.analysis == "ratings" and self.rating_kind == "norms"
        )
        if not fitted:
            return
        n_splits = self.options.get("n_splits", 5)
        inner = self.options.get("inner_splits", 5)
        if self.analysis == "ratings":
            n_items, what = self.ratings.n_samples, "rated items"
        else:
            if self.epochs is not None:
                ids = self.stimuli.table["stimulus_id"].astype(str)
            else:
                ids = self.recording.samples["stimulus_id"].astype(str)
            n_items, what = ids.nunique(), "stimuli"
            fold_groups = self.stimulus_fold_groups() if self.epochs is not None else None
            if fold_groups is not None and self.groups is None:
                if len(set(fold_groups)) < 2:
                    raise StudyInputError(
                        "the trials table's group column puts every stimulus in one group; "
                        "group folds need at least 2"
                    )
                return
            if self.groups is not None:
                labels = self.stimuli.table.set_index(
                    self.stimuli.table["stimulus_id"].astype(str)
                )[self.groups]
                n_groups = labels.loc[ids.unique()].nunique()
                if n_groups < 2:
                    raise StudyInputError(
                        f"groups={self.groups!r} puts every stimulus in {n_groups} group; "
                        "group folds need at least 2 (or drop groups)"
                    )
                return
        smallest_train = n_items - -(-n_items // n_splits)
        if n_items < 2 * n_splits or smallest_train < 2 * inner:
            raise StudyInputError(
                f"{n_items} {what} are too few for n_splits={n_splits} outer and "
                f"inner_splits={inner} inner folds (each fold holds out at least 2): lower "
                "them in options, e.g. {n_splits: 3, inner_splits: 3}, or add items"
            )

    def _digest(self) -> str:
        """sha256 of everything that makes the study's scores (data, analysis, options)."""
        digest = hashlib.sha256()
        settings = (
            self.name,
            self.version,
            self.analysis,
            sorted(self.options.items()),
            self.groups,
            self.context,
            self.pooling,
        )
        digest.update(repr(settings).encode())
        # images and media files enter by their content hashes (below), not their paths
        files = ["image", *MEDIA]
        _hash_table(digest, self.stimuli.table.drop(columns=files, errors="ignore"))
        for recording in (self.recording, self.ratings):
            if recording is not None:
                digest.update(np.ascontiguousarray(recording.data).tobytes())
                _hash_table(digest, recording.samples)
                _hash_table(digest, recording.units)
        if self.rdm_set is not None:
            digest.update(np.ascontiguousarray(self.rdm_set.dissimilarities).tobytes())
            _hash_table(digest, self.rdm_set.descriptors)
        if self.epochs is not None:
            digest.update(repr((self.window, self.epochs.channels)).encode())
            digest.update(np.ascontiguousarray(self.epochs.times).tobytes())
            for epochs in self.epochs.subjects:
                groups = None if epochs.groups is None else epochs.groups.tolist()
                digest.update(repr((epochs.subject, epochs.stimulus_ids.tolist())).encode())
                digest.update(repr(groups).encode())
                digest.update(np.ascontiguousarray(epochs.data).tobytes())
        if self._rating_spread is not None:
            for array in self._rating_spread:
                digest.update(np.ascontiguousarray(array).tobytes())
        if self.images is not None:
            digest.update("".join(self.images.sha256).encode())
        if self.media is not None:
            digest.update("".join(self.media["sha256"]).encode())
        return digest.hexdigest()

    # ----------------------------------------------------------------- analysis settings

    @property
    def comparison(self) -> str:
        """How RDMs are compared (RSA)."""
        return self.options.get("comparison", "spearman")

    @property
    def dissimilarity(self) -> str:
        """The RDM distance (RSA)."""
        return self.options.get("dissimilarity", "correlation")

    @property
    def metric(self) -> str:
        """Value of the results' ``metric`` column."""
        if self.analysis == "rsa":
            return _METRICS.get(self.comparison, self.comparison)
        if self.analysis == "ratings" and self.rating_kind == "pairs":
            return "spearman_r"
        return "pearson_r"

    @property
    def on_meeg_clock(self) -> bool:
        """Whether continuous responses are on the M/EEG clock: a Recording with
        ``sfreq``, or samples at most :data:`MEEG_MAX_TR` seconds apart."""
        recording = self.recording
        if recording is None or self.sampling != "continuous":
            return False
        return recording.sfreq is not None or (
            recording.tr is not None and recording.tr <= MEEG_MAX_TR
        )

    def _check_clock_options(self) -> None:
        """Refuse options of the other clock, naming them; check the TRF's numbers."""
        given = [k for k in _TRF_OPTIONS if k in self.options]
        if given and not self.on_meeg_clock:
            raise StudyInputError(
                f"option(s) {given} are for continuous responses on the M/EEG clock (a "
                f"Recording with sfreq, or samples <= {MEEG_MAX_TR} s apart); these "
                f"responses are {self.sampling} on a slower clock: drop them"
            )
        if self.on_meeg_clock and "delays" in self.options:
            raise StudyInputError(
                "option delays (FIR delays in samples) is for fMRI-like continuous responses; "
                "on the M/EEG clock give the TRF's lags in seconds with tmin and tmax"
            )
        if self.on_meeg_clock and self.analysis == "ridge":
            settings = self.trf_settings()
            n = settings.n_components
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise StudyInputError(f"n_components={n!r}: give an integer >= 1")
            if not settings.tmin < settings.tmax:
                raise StudyInputError(
                    f"tmin={settings.tmin!r} must be below tmax={settings.tmax!r} (seconds)"
                )

    def trf_settings(self) -> Any:
        """The TRF of a continuous study on the M/EEG clock
        (:class:`~brainalign.benchmarks.story_trf.StoryTRFSettings`; ``sfreq`` from the
        recording, or ``1 / tr``)."""
        from brainalign.benchmarks.story_trf import StoryTRFSettings

        recording = self.recording
        sfreq = recording.sfreq if recording.sfreq is not None else 1.0 / recording.tr
        options = self.options
        alphas = options.get("alphas")
        try:
            return StoryTRFSettings(
                tmin=float(options.get("tmin", StoryTRFSettings.tmin)),
                tmax=float(options.get("tmax", StoryTRFSettings.tmax)),
                sfreq=float(sfreq),
                n_components=options.get("n_components", StoryTRFSettings.n_components),
                alphas=None if alphas is None else tuple(float(a) for a in alphas),
                n_splits=options.get("n_splits", 5),
                inner_splits=options.get("inner_splits", 5),
            )
        except (TypeError, ValueError) as error:
            raise StudyInputError(f"options tmin/tmax/alphas must be numbers: {error}") from None

    def ridge_options(self) -> dict[str, Any]:
        """Keywords of :func:`~brainalign.alignment.encoding.cross_validated_encoding`."""
        options: dict[str, Any] = {
            "n_splits": self.options.get("n_splits", 5),
            "inner_splits": self.options.get("inner_splits", 5),
        }
        if "alphas" in self.options:
            options["alphas"] = np.asarray(self.options["alphas"], dtype=float)
        if "delays" in self.options:
            if self.sampling != "continuous":
                raise StudyInputError("option delays is for continuous responses only")
            options["delays"] = tuple(int(d) for d in self.options["delays"])
        return options

    # ----------------------------------------------------------------- ceilings

    def repeat_ceiling(self, labels: np.ndarray) -> pd.DataFrame | None:
        """Split-half ceiling of every unit from the repeats; None without repeats.

        Returns
        -------
        pandas.DataFrame or None
            ``subject``, ``unit``, ``ceiling`` (sqrt of the Spearman-Brown corrected
            split-half reliability), ``reliability``.
        """
        from brainalign.alignment.ceiling import ceiling_from_reliability, split_half_reliability

        recording = self.recording
        if recording is None or recording.n_repeats < 2:
            return None
        _, array = recording.repeat_array()
        reliability = split_half_reliability(
            array, n_splits=self.options.get("ceiling_splits", 100), seed=0
        )
        from brainalign.benchmarks.study.tasks import _subjects

        return pd.DataFrame(
            {
                "subject": _subjects(recording.units),
                "unit": labels,
                "ceiling": ceiling_from_reliability(reliability),
                "reliability": reliability,
            }
        )

    def isc_ceiling(self, labels: np.ndarray, runs: np.ndarray | None) -> pd.DataFrame | None:
        """Leave-one-subject-out ISC of units every subject has; None with one subject."""
        from brainalign.alignment.ceiling import leave_one_out_isc
        from brainalign.benchmarks.study.tasks import _subjects

        units = self.recording.units
        subjects = _subjects(units)
        order = list(dict.fromkeys(subjects.tolist()))
        if len(order) < 2:
            return None
        shared = [
            label
            for label in dict.fromkeys(labels.tolist())
            if all(((subjects == s) & (labels == label)).sum() == 1 for s in order)
        ]
        if not shared:
            return None
        cube = np.stack(
            [
                np.column_stack(
                    [
                        self.recording.data[:, (subjects == s) & (labels == label)][:, 0]
                        for label in shared
                    ]
                )
                for s in order
            ]
        ).astype(np.float64)
        isc = leave_one_out_isc(cube, runs=runs)
        return pd.DataFrame(
            {
                "subject": np.repeat(order, len(shared)),
                "unit": np.tile(shared, len(order)),
                "ceiling": isc.reshape(-1),
            }
        )

    # ----------------------------------------------------------------- as a benchmark

    def describe_ceiling(self) -> str:
        """What the ``ceiling`` column holds for this study, in words."""
        if self.analysis == "ratings":
            if self._rating_spread is not None:
                return "sqrt of the reliability of the item means from each measure's SD and raters"
            return "none: the ratings file holds mean ratings only"
        if self.epochs is not None:
            splits = self.options.get("ceiling_splits", 100)
            if self.analysis == "rsa":
                return (
                    f"sqrt of the split-half reliability of the RDMs over {splits} random "
                    "splits of each stimulus's trials, Spearman-Brown corrected, per subject "
                    "and time point; none for a subject with a stimulus shown once"
                )
            return (
                f"sqrt of the split-half reliability over {splits} random splits of each "
                "stimulus's trials, Spearman-Brown corrected, per subject, channel and time "
                "point; none for a subject without repeated stimuli"
            )
        if self.analysis == "rsa":
            return (
                "upper bound of the RDM noise ceiling over the data RDMs of each unit "
                "(ceiling_lower: the lower bound); none with one RDM"
            )
        if self.sampling == "continuous":
            return (
                "leave-one-subject-out inter-subject correlation of units shared by every "
                "subject (z-scored); none with one subject"
            )
        if self.recording.n_repeats >= 2:
            splits = self.options.get("ceiling_splits", 100)
            return (
                f"sqrt of the split-half reliability over {splits} "
                "random splits of the repeats, Spearman-Brown corrected, per unit"
            )
        return "none: one presentation per stimulus and no repeats to split"

    def benchmark(self) -> Benchmark:
        """The study as a :class:`~brainalign.benchmarks.benchmark.Benchmark` (not
        registered): scored by :meth:`Benchmark.run` like any other."""
        from brainalign.benchmarks.benchmark import Benchmark

        what = {
            "ridge": "cross-validated ridge encoding, held-out Pearson r per unit",
            "rsa": f"RSA: {self.dissimilarity} RDMs compared by {self.comparison}",
            "ratings": f"ratings ({self.rating_kind})",
        }[self.analysis]
        return Benchmark(
            id=self.name,
            version=self.version,
            dataset=self.name,
            description=self.description or f"A user's study: {what}.",
            presentation=self._presentation(),
            context=self.context,
            pooling=self._pooling(),
            metric=self.metric,
            cross_validation=self._cross_validation(),
            ceiling=self.describe_ceiling(),
            aggregation=self._aggregation(),
            controls=self._controls(),
            citation=self.citation,
            runner=self.prepare,
            scores_heads=self.sampling in ("event", "epochs"),
            uses_context_words=self.context == "window",
            selects_units=self.modality == "text",
            seeded=self._seeded(),
            digest=self.digest,
        )

    def _aggregation(self) -> str:
        if self.epochs is None:
            return "one row per (model, layer[, head], subject, unit)"
        start, stop = self.window
        rsa = self.analysis == "rsa"
        unit = "unit = 'rdm'" if rsa else "unit = channel"
        over = (
            "subjects x window time points" if rsa else "subjects x channels x window time points"
        )
        return (
            f"one row per (model, layer[, head], subject, {unit}, time) for the time points "
            f"in the window [{start:g}, {stop:g}] s; a layer's summary is the median over {over}"
        )

    def _pooling(self) -> str:
        return {
            "text": self.pooling,
            "audio": "none (one vector per model frame)",
            "video": "the video encoder's (VideoMAE: mean over tokens; else the CLS token)",
        }.get(self.modality, "mean")

    def _presentation(self) -> str:
        if self.modality == "image":
            if "instruction" in self.options or "span" in self.options:
                from brainalign.encoders.multimodal import DEFAULT_INSTRUCTION

                span = self.options.get("span", "visual")
                instruction = self.options.get("instruction", DEFAULT_INSTRUCTION)
                return (
                    f"each image with the instruction {instruction!r} "
                    f"through a multimodal language model, mean over its {span} tokens"
                )
            return "each image through the model's image processor, mean over patches"
        if self.modality == "audio":
            return (
                "each run's audio through the model, one vector per frame at its time plus the "
                "file's onset, Lanczos-resampled onto the run's samples"
            )
        if self.modality == "video":
            return "a clip of the run's video centred on every sample, through the video model"
        after = (
            f", after the instruction {self.options['instruction']!r} "
            f"({self.options.get('instruction_format', 'plain')}; never pooled)"
            if "instruction" in self.options
            else ""
        )
        if self.on_meeg_clock:
            n = self.trf_settings().n_components
            return (
                f"the words in order, each with its preceding words (window){after}, reduced "
                f"to {n} whitened principal components placed as impulses at the word onsets"
            )
        if self.sampling == "continuous":
            return (
                f"the words in order, each with its preceding words (window){after}, "
                "Lanczos-resampled"
            )
        return f"each text item read {self.context}{after}, {self.pooling}-pooled over its tokens"

    def _seeded(self) -> str:
        if self.analysis == "ratings":
            vectors = "the random word vectors"
            return vectors if self.rating_kind == "pairs" else f"{vectors} and the shuffled folds"
        if self.analysis == "rsa":
            return "the random stimulus features"
        if self.sampling == "continuous":
            return ""
        folds = "" if self.stimulus_fold_groups() is not None else " and the shuffled folds"
        return f"the random stimulus features{folds}"

    def _cross_validation(self) -> str:
        if self.analysis == "rsa" or (self.analysis == "ratings" and self.rating_kind == "pairs"):
            return "none (nothing is fitted)"
        if self.analysis == "ratings":
            return (
                "a ridge probe per rated dimension: outer shuffled KFold over items, inner "
                "shuffled KFold choosing each dimension's penalty"
            )
        if self.on_meeg_clock:
            t = self.trf_settings()
            return (
                f"a TRF from {t.tmin:g} to {t.tmax:g} s per unit: whole runs held out (one run: "
                "contiguous blocks with a gap of the lag span), inner contiguous blocks choose "
                "each unit's penalty, lags never cross a run"
            )
        if self.sampling == "continuous":
            return "contiguous blocks of samples with a gap of the largest delay (runs held out)"
        group = f"GroupKFold by {self.groups!r}" if self.groups else "shuffled KFold over stimuli"
        if self.epochs is not None:
            if self.groups is None and self.stimulus_fold_groups() is not None:
                group = "GroupKFold by the trials table's group"
            return (
                f"{group} (trials averaged per stimulus), no delays, one fit per fold for "
                "every channel and time point, inner folds choose each one's penalty"
            )
        return f"{group}, no delays, inner folds choose each unit's penalty"

    def _controls(self) -> str:
        twin = "the untrained twin (same architecture, seeded random weights)"
        if self.analysis == "ratings":
            return f"{twin} and 'random-word-vectors' (one seeded vector per word)"
        if self.modality == "audio":
            return f"{twin} and 'sound-envelope' (RMS envelope, resampled like the frames)"
        if self.modality == "video":
            return (
                f"{twin} and 'frame-luminance' (mean pixel intensity of the frame at each sample)"
            )
        if self.on_meeg_clock:
            return f"{twin} and 'word-onsets' (an impulse at each word onset, the same TRF)"
        if self.sampling == "continuous":
            return f"{twin} and 'word-rate' (words per sample, resampled like the features)"
        return f"{twin} and 'random-stimulus-features' (one seeded vector per stimulus)"

    def prepare(self, benchmark: Benchmark, settings: RunSettings) -> BenchmarkTask:
        """The task of one run (the runner of :meth:`benchmark`)."""
        from brainalign.benchmarks.study import tasks

        if self.analysis == "ratings":
            return self._ratings_task(benchmark, settings)
        if self.analysis == "rsa" and self.epochs is None:
            self.check_model(settings.model)
            data_rdms, targets = self._data_rdms()
            return tasks.RsaTask(self, benchmark, settings, data_rdms, targets)
        self.check_model(settings.model)
        if self.epochs is not None:
            from brainalign.benchmarks.study.epochs import epochs_task

            return epochs_task(self, benchmark, settings)
        labels = unit_labels(self.recording.units)
        if self.sampling == "continuous":
            runs = None
            if self.groups is not None:
                runs = self.recording.samples[self.groups].astype(str).to_numpy()
            kind = {
                "audio": tasks.AudioEncodingTask,
                "video": tasks.VideoEncodingTask,
            }.get(self.modality, tasks.ContinuousEncodingTask)
            return kind(self, benchmark, settings, runs, labels)
        averaged = self.recording.average_repeats()
        ids = averaged.samples["stimulus_id"].astype(str)
        position = pd.Series(
            np.arange(len(self.stimuli)), index=self.stimuli.table["stimulus_id"].astype(str)
        )
        rows = position.loc[ids].to_numpy()
        groups = None
        if self.groups is not None:
            groups = self.stimuli.table[self.groups].astype(str).to_numpy()[rows]
        return tasks.EventEncodingTask(self, benchmark, settings, averaged, rows, groups, labels)

    def _data_rdms(self) -> tuple[np.ndarray, pd.DataFrame]:
        """Data RDMs (n_rdms, n_pairs) in stimulus order, with subject/unit per RDM."""
        from brainalign.alignment.rsa import rdm

        if self.rdm_set is not None:
            descriptors = self.rdm_set.descriptors
            n = len(descriptors)
            targets = pd.DataFrame(
                {
                    "subject": (
                        descriptors["subject"].astype(str).to_numpy()
                        if "subject" in descriptors
                        else descriptors["name"].astype(str).to_numpy()
                    ),
                    "unit": (
                        descriptors["label"].astype(str).to_numpy()
                        if "label" in descriptors
                        else np.full(n, "rdm")
                    ),
                }
            )
            if "session" in descriptors:
                targets["session"] = pd.array(descriptors["session"].tolist(), dtype="Int64")
            return np.asarray(self.rdm_set.dissimilarities, dtype=np.float64), targets
        averaged = self.recording.average_repeats()
        position = pd.Series(
            np.arange(averaged.n_samples), index=averaged.samples["stimulus_id"].astype(str)
        )
        order = position.loc[self.stimuli.table["stimulus_id"].astype(str)].to_numpy()
        units = averaged.units
        subjects = (
            units["subject"].astype(str) if "subject" in units else pd.Series(["all"] * len(units))
        )
        regions = units["roi"].astype(str) if "roi" in units else pd.Series(["all"] * len(units))
        keys = pd.DataFrame({"subject": subjects.to_numpy(), "unit": regions.to_numpy()})
        rdms, targets = [], []
        for (subject, region), rows in keys.groupby(["subject", "unit"], sort=False):
            patterns = averaged.data[order][:, rows.index.to_numpy()].astype(np.float64)
            rdms.append(rdm(patterns, metric=self.dissimilarity))
            targets.append({"subject": subject, "unit": region})
        return np.stack(rdms), pd.DataFrame(targets)

    def _ratings_task(self, benchmark: Benchmark, settings: RunSettings) -> BenchmarkTask:
        from brainalign.benchmarks.norms import NormTable
        from brainalign.benchmarks.study.tasks import RatingNormsTask
        from brainalign.benchmarks.word_similarity import WordPairsTask, word_types

        recording = self.ratings
        if self.rating_kind == "pairs":
            samples = recording.samples
            types, (first, second) = word_types(
                samples["word1"].tolist(), samples["word2"].tolist()
            )
            ratings = recording.data[:, 0].astype(np.float64)
            unit = str(recording.units["unit"].iloc[0])
            return WordPairsTask(benchmark, settings, ratings, types, first, second, unit)
        texts = recording.stimuli.table.set_index("stimulus_id")["text"]
        ids = recording.samples["stimulus_id"].tolist()
        words = [str(texts[i]) for i in ids]
        means = recording.data.astype(np.float64)
        spread = self._rating_spread or (np.full_like(means, np.nan), np.full_like(means, np.nan))
        dimensions = recording.units["unit"].astype(str).tolist()
        table = NormTable([str(i) for i in ids], words, dimensions, means, *spread)
        types, (index,) = word_types(table.words)
        probe = {
            "n_splits": self.options.get("n_splits", 5),
            "inner_splits": self.options.get("inner_splits", 5),
            "seed": settings.run_seed,
            "alphas": self.options.get("alphas"),
        }
        return RatingNormsTask(
            benchmark,
            settings,
            table,
            types,
            index,
            probe,
            has_spread=self._rating_spread is not None,
        )

    def __repr__(self) -> str:
        if self.epochs is not None:
            n_trials = sum(len(e.stimulus_ids) for e in self.epochs.subjects)
            what = (
                f"epochs of {len(self.epochs.subjects)} subject(s), {n_trials} trials, "
                f"{len(self.epochs.channels)} channels, window {list(self.window)} s"
            )
        elif self.recording is not None:
            what = repr(self.recording)
        elif self.rdm_set is not None:
            what = f"{len(self.rdm_set)} RDMs over {self.rdm_set.n_conditions} conditions"
        else:
            what = f"{self.rating_kind} ratings of {self.ratings.n_samples} items"
        return (
            f"<Study {self.name}@{self.version}: {self.analysis} on {len(self.stimuli)} "
            f"{self.modality} stimuli; {what}>"
        )
