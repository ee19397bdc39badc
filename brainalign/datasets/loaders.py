"""Dataset-specific loading steps used by the catalogue (:mod:`brainalign.datasets.registry`).

* :func:`load_kriegeskorte2008_92` gathers the bundled 92-image RDMs into one
  :class:`Kriegeskorte92` record, with the images themselves when their (downloaded)
  file is given (:func:`read_kriegeskorte_images`).
* :func:`read_brainscore_assembly` reads a Brain-Score assembly with
  :func:`~brainalign.datasets.brainio.read_assembly`, first selecting one experiment and
  dropping neuroids that hold no value there: Brain-Score packages some studies (Pereira
  2018) with every subject as neuroids and NaN where a subject did not see an experiment,
  which ``read_assembly`` rightly refuses.
* :func:`read_lebel_responses` reads one preprocessed story of LeBel et al. (2023,
  OpenNeuro ds003020, ``derivative/preprocessed_data/<subject>/<story>.hf5``) as a
  continuous Recording, with the story's words from its TextGrid
  (:func:`read_lebel_words`).
* :func:`load_narratives_run` reads one BOLD run of the Narratives dataset (OpenNeuro
  ds002345) with its events through :func:`brainalign.datasets.fmri.load_fmri_run`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainalign.datasets.behaviour import RDMSet, read_rdms
from brainalign.datasets.brainio import read_assembly
from brainalign.datasets.recording import Recording
from brainalign.stimuli import Stimuli

PathLike = str | os.PathLike

KRIEGESKORTE_CITATION = (
    "Kriegeskorte, N., Mur, M., Ruff, D. A., Kiani, R., Bodurka, J., Esteky, H., Tanaka, K., & "
    "Bandettini, P. A. (2008). Matching categorical object representations in inferior "
    "temporal cortex of man and monkey. Neuron, 60(6), 1126-1141."
)
#: Figure-1 RDMs in fig1_mIT_hIT_rdms.npz: key -> (label, number of units).
FIG1_RDMS = {"mIT_674neurons": ("mIT", 674), "hITvisStim_316vx": ("hIT", 316)}
N_IMAGES = 92
#: Flags of each image in ``stimuli_92objs`` of the supplemental data file.
IMAGE_FLAGS = ("human", "face", "animal", "natural")


@dataclass(frozen=True)
class Kriegeskorte92:
    """The 92-image RSA data of Kriegeskorte et al. (2008), as bundled.

    All RDM sets share ``conditions`` (the 92 images in the published order) and hold
    condensed RDMs, shape (n_rdms, 4186) with 4186 = 92 * 91 / 2 (scipy ``squareform`` order).

    Parameters
    ----------
    human_it : RDMSet
        Human IT fMRI RDMs, 8 = 4 subjects (BE, KO, SN, TI) x 2 sessions; descriptors
        ``subject``, ``session``, ``label`` (``hIT``).
    fig1 : RDMSet
        The two RDMs of figure 1: monkey IT (``label`` ``mIT``, 674 neurons) and human IT
        (``hIT``, 316 voxels, averaged over subjects); descriptor ``n_units``.
    behaviour : RDMSet
        Similarity-judgement RDMs of 16 subjects (Mur et al. 2013), ``label`` ``simJudge``.
    models : RDMSet
        8 model RDMs: animacy, FaceBodyManmadeNatobj, monkeyIT, EVA, HMAX, V1, Silhouette,
        RADON (``label``).
    conditions : pandas.DataFrame, shape (92, 13)
        ``condition`` (0..91) and one boolean column per image category of the paper
        (``animate``, ``inanim``, ``human``, ``nonhumani``, ``body``, ``face``,
        ``natObj``, ``artiObj``, ``rand24``, ``rand48``, ``other48``, ``monkeyape``).
    meta : dict
        ``name``, ``citation``, ``licence``, ``source``, ``folder`` (and ``images_file``
        when the images were read).
    images : numpy.ndarray of uint8, shape (n_images, 175, 175, 3), optional
        The stimuli, RGB, in the order of the RDMs' conditions (92 for the published
        file); ``None`` unless asked for (``load("kriegeskorte2008-92", images=True)``).
    image_categories : pandas.DataFrame, shape (n_images, 6), optional
        ``condition`` (0..n_images-1), ``category`` (e.g. ``"human face"``) and the
        boolean flags ``human``, ``face``, ``animal``, ``natural`` of each image, as in
        the supplemental data file; ``None`` without images.
    """

    human_it: RDMSet
    fig1: RDMSet
    behaviour: RDMSet
    models: RDMSet
    conditions: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)
    images: np.ndarray | None = None
    image_categories: pd.DataFrame | None = None

    @property
    def monkey_it(self) -> RDMSet:
        """Monkey IT RDM of figure 1, shape (1, 4186)."""
        return self.fig1.select(label="mIT")

    @property
    def human_it_fig1(self) -> RDMSet:
        """Human IT RDM of figure 1 (subject average), shape (1, 4186)."""
        return self.fig1.select(label="hIT")


def _category_table(archive: Path) -> pd.DataFrame:
    with np.load(archive, allow_pickle=False) as arrays:
        labels = [str(label) for label in arrays["category_labels"]]
        vectors = np.asarray(arrays["category_vectors"])
    if vectors.shape != (N_IMAGES, len(labels)):
        raise ValueError(
            f"{archive}: category_vectors has shape {vectors.shape}, expected "
            f"({N_IMAGES}, {len(labels)})"
        )
    table = pd.DataFrame({"condition": np.arange(N_IMAGES)})
    for column, label in enumerate(labels):
        table[label] = vectors[:, column].astype(bool)
    return table


def _fig1(archive: Path, conditions: pd.DataFrame) -> RDMSet:
    sets = [read_rdms(archive, variable=key) for key in FIG1_RDMS]
    descriptors = pd.DataFrame(
        {
            "name": list(FIG1_RDMS),
            "source": list(FIG1_RDMS),
            "label": [label for label, _ in FIG1_RDMS.values()],
            "n_units": [n for _, n in FIG1_RDMS.values()],
        }
    )
    return RDMSet(
        dissimilarities=np.concatenate([s.dissimilarities for s in sets]),
        descriptors=descriptors,
        conditions=conditions,
        meta={"file": str(archive), "similarity": False},
    )


def read_kriegeskorte_images(path: PathLike) -> tuple[np.ndarray, pd.DataFrame]:
    """Read the 92 images of Kriegeskorte et al. (2008) and their category flags.

    The file is ``Kriegeskorte_Neuron2008_supplementalData.mat`` of the rsatoolbox demos
    (``demos/92imageData``); its struct array ``stimuli_92objs`` holds per image
    ``image`` (175 x 175 x 3 uint8), ``category`` and the 0/1 flags ``human``, ``face``,
    ``animal``, ``natural``, in the order of the RDMs' conditions (the flags agree with
    the file's ``categoryVectors``, which order the bundled RDMs).

    Parameters
    ----------
    path : str or path-like
        The ``.mat`` file (a file with the same layout and fewer images is read as is).

    Returns
    -------
    images : numpy.ndarray of uint8, shape (n_images, height, width, 3)
    categories : pandas.DataFrame, shape (n_images, 6)
        ``condition``, ``category`` and the boolean :data:`IMAGE_FLAGS`.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file has no ``stimuli_92objs`` or an image is not an RGB uint8 array of
        the same shape as the others.
    """
    from scipy.io import loadmat

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"kriegeskorte2008-92: missing images file {path}")
    contents = loadmat(path, struct_as_record=False, squeeze_me=True)
    if "stimuli_92objs" not in contents:
        raise ValueError(
            f"{path}: no variable 'stimuli_92objs'; expected "
            "Kriegeskorte_Neuron2008_supplementalData.mat of the rsatoolbox demos"
        )
    stimuli = np.atleast_1d(contents["stimuli_92objs"])
    images = [np.asarray(item.image) for item in stimuli]
    shapes = {image.shape for image in images}
    if len(shapes) != 1 or len(images[0].shape) != 3 or images[0].shape[2] != 3:
        raise ValueError(f"{path}: images must be RGB arrays of one shape; got shapes {shapes}")
    if any(image.dtype != np.uint8 for image in images):
        raise ValueError(f"{path}: images must be uint8")
    categories = pd.DataFrame(
        {"condition": np.arange(len(images)), "category": [str(s.category) for s in stimuli]}
    )
    for flag in IMAGE_FLAGS:
        categories[flag] = np.array([int(getattr(s, flag)) for s in stimuli]) == 1
    return np.stack(images), categories


def load_kriegeskorte2008_92(
    folder: PathLike, *, images_file: PathLike | None = None
) -> Kriegeskorte92:
    """Read the bundled 92-image RDMs (see ``data/kriegeskorte2008_92/SOURCE.txt``).

    Parameters
    ----------
    folder : str or path-like
        Folder with ``92_brainRDMs.mat``, ``92_modelRDMs.mat``, ``92_behavRDMs.mat`` and
        ``fig1_mIT_hIT_rdms.npz``.
    images_file : str or path-like, optional
        ``Kriegeskorte_Neuron2008_supplementalData.mat`` (downloaded by the catalogue):
        read with :func:`read_kriegeskorte_images` into ``images`` and
        ``image_categories``.

    Returns
    -------
    Kriegeskorte92
        See :class:`Kriegeskorte92`.

    Raises
    ------
    FileNotFoundError
        If a file is missing.
    """
    folder = Path(folder)
    archive = folder / "fig1_mIT_hIT_rdms.npz"
    if not archive.is_file():
        raise FileNotFoundError(f"kriegeskorte2008-92: missing file {archive}")
    conditions = _category_table(archive)

    def with_conditions(rdms: RDMSet) -> RDMSet:
        if rdms.n_conditions != N_IMAGES:
            raise ValueError(
                f"{rdms.meta.get('file')}: {rdms.n_conditions} conditions, expected {N_IMAGES}"
            )
        return dataclasses.replace(rdms, conditions=conditions)

    images, image_categories, meta = None, None, {}
    if images_file is not None:
        images, image_categories = read_kriegeskorte_images(images_file)
        meta["images_file"] = str(images_file)
    return Kriegeskorte92(
        human_it=with_conditions(read_rdms(folder / "92_brainRDMs.mat")),
        fig1=_fig1(archive, conditions),
        behaviour=with_conditions(read_rdms(folder / "92_behavRDMs.mat")),
        models=with_conditions(read_rdms(folder / "92_modelRDMs.mat")),
        conditions=conditions,
        meta={
            "name": "kriegeskorte2008-92",
            "citation": KRIEGESKORTE_CITATION,
            "licence": "MIT (rsatoolbox demos)",
            "source": "https://github.com/rsagroup/rsatoolbox/tree/main/demos/92imageData",
            "folder": str(folder),
            **meta,
        },
        images=images,
        image_categories=image_categories,
    )


# ----------------------------------------------------------------------------- Brain-Score


def read_brainscore_assembly(path: PathLike, *, experiment: str | None = None) -> Recording:
    """Read a Brain-Score neural assembly, optionally one experiment, without empty neuroids.

    :func:`~brainalign.datasets.brainio.read_assembly` with ``experiment`` and
    ``drop_empty_neuroids=True``: neuroids that are NaN for every selected presentation
    (subjects who did not do the experiment) are dropped and listed in
    ``meta["dropped_neuroids"]``; NaN left after that is an error.

    Parameters
    ----------
    path : str or path-like
        The ``.nc`` assembly.
    experiment : str, optional
        Presentations to keep (a value of the ``experiment`` presentation coordinate).

    Returns
    -------
    Recording

    Raises
    ------
    AssemblyFormatError
        As :func:`~brainalign.datasets.brainio.read_assembly`.
    """
    return read_assembly(path, experiment=experiment, drop_empty_neuroids=True)


# ----------------------------------------------------------------------------- LeBel 2023

LEBEL_CITATION = (
    "LeBel, A., Wagner, L., Jain, S., Adhikari-Desai, A., Gupta, B., Morgenthal, A., Tang, J., "
    "Xu, L., & Huth, A. G. (2023). A natural language fMRI dataset for voxelwise encoding "
    "models. Scientific Data, 10, 555. OpenNeuro ds003020."
)
#: Acquisition TR of ds003020 in seconds.
LEBEL_TR = 2.0045
#: Time of the first row of a preprocessed .hf5 after the story's audio onset, in seconds:
#: the authors' code (HuthLab/deep-fMRI-dataset, encoding/) simulates TRs from 10 s before
#: the audio onset and trims 5 + 5 TRs at the start of the stimulus matrix
#: (``[5 + trim:-trim]``, ``trim=5``) to match the rows of these files, so row 0 is TR 10,
#: at 10 TRs x 2 s - 10 s = 10 s.
LEBEL_FIRST_ONSET = 10.0
#: TextGrid labels that are not words (the authors' ``DEFAULT_BAD_WORDS``, compared after
#: lower-casing and stripping ``{}`` and spaces), plus empty intervals.
LEBEL_NON_WORDS = frozenset({"sentence_start", "sentence_end", "br", "lg", "ls", "ns", "sp", ""})


class LebelFormatError(ValueError):
    """A file is not in the layout of the LeBel et al. (2023) derivatives."""


def _read_hf5_data(path: Path) -> np.ndarray:
    import h5py

    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise LebelFormatError(f"{path}: not a readable HDF5 file ({error})") from error
    with handle:
        if "data" not in handle or not isinstance(handle["data"], h5py.Dataset):
            raise LebelFormatError(
                f"{path}: no dataset 'data' (found {sorted(handle)}); the ds003020 "
                "preprocessed_data/<subject>/<story>.hf5 files hold the responses in 'data'"
            )
        dataset = handle["data"]
        if dataset.ndim != 2 or not np.issubdtype(dataset.dtype, np.floating):
            raise LebelFormatError(
                f"{path}: dataset 'data' has shape {dataset.shape} and dtype {dataset.dtype}; "
                "expected floating-point (n_TRs, n_voxels)"
            )
        return np.asarray(dataset[()])


def _check_finite(path: Path, data: np.ndarray, nan_to_zero: bool) -> np.ndarray:
    bad = ~np.isfinite(data)
    if not bad.any():
        return data
    if not nan_to_zero:
        voxels = np.flatnonzero(bad.any(axis=0))
        raise LebelFormatError(
            f"{path}: {int(bad.sum())} NaN/infinite values in {voxels.size} voxel(s), e.g. "
            f"{voxels[:5].tolist()}; pass nan_to_zero=True to set them to 0 as the authors' "
            "code does (np.nan_to_num)"
        )
    return np.where(bad, 0.0, data)


def read_lebel_words(textgrid: PathLike, story: str) -> Stimuli:
    """The words of one LeBel et al. (2023) story from its TextGrid.

    The word tier is the tier named ``word``/``words`` (any case), else the second interval
    tier (the authors' ``grids[story].tiers[1]``); silences and noises
    (:data:`LEBEL_NON_WORDS`) are dropped as in the authors' ``make_word_ds``.

    Parameters
    ----------
    textgrid : str or path-like
        ``derivative/TextGrids/<story>.TextGrid``.
    story : str
        Story name (the ``group`` of every word).

    Returns
    -------
    Stimuli
        Shape (n_words, 6): ``stimulus_id`` (``<story>_w<index>``), ``group``, ``text``,
        ``onset`` and ``duration`` (seconds after the story's audio onset), ``position``
        (0-based word index).

    Raises
    ------
    LebelFormatError
        If there is no word tier.
    """
    from brainalign.datasets.textgrid import read_textgrid

    path = Path(textgrid)
    tiers = read_textgrid(path)
    named = [name for name in tiers if name.strip().lower() in ("word", "words")]
    if named:
        words = tiers[named[0]]
    elif len(tiers) >= 2:
        words = tiers[list(tiers)[1]]
    else:
        raise LebelFormatError(
            f"{path}: no word tier (interval tiers: {list(tiers)}); expected a tier named "
            "'word' or a second interval tier as in the ds003020 TextGrids"
        )
    labels = words["text"].astype(str).str.strip()
    keep = ~labels.str.lower().str.strip("{}").str.strip().isin(LEBEL_NON_WORDS)
    words = words[keep.to_numpy()].reset_index(drop=True)
    position = np.arange(len(words))
    return Stimuli(
        pd.DataFrame(
            {
                "stimulus_id": [f"{story}_w{i:05d}" for i in position],
                "group": story,
                "text": labels[keep].tolist(),
                "onset": words["onset"].to_numpy(dtype=float),
                "duration": (words["offset"] - words["onset"]).to_numpy(dtype=float),
                "position": position,
            }
        )
    )


def read_lebel_responses(
    path: PathLike,
    *,
    subject: str,
    story: str,
    textgrid: PathLike | None = None,
    tr: float = LEBEL_TR,
    first_onset: float = LEBEL_FIRST_ONSET,
    nan_to_zero: bool = False,
) -> Recording:
    """Read one preprocessed story of LeBel et al. (2023) as a continuous Recording.

    The ds003020 file ``derivative/preprocessed_data/<subject>/<story>.hf5`` holds one
    HDF5 dataset ``data`` of shape (n_TRs, n_voxels): the subject's cortical voxels,
    already trimmed at both ends of the story (see :data:`LEBEL_FIRST_ONSET`).

    Parameters
    ----------
    path : str or path-like
        The ``.hf5`` file.
    subject : str
        Subject label (``UTS01`` ...), written to ``units``.
    story : str
        Story name, written to ``samples`` and used as the stimuli group.
    textgrid : str or path-like, optional
        The story's TextGrid; its words become the Recording's stimuli (see
        :func:`read_lebel_words`). Without it the stimuli are empty.
    tr : float
        Seconds between rows (default the acquisition TR, 2.0045 s; the authors' encoding
        code places TRs every 2.0 s: pass ``tr=2.0`` to reproduce its alignment).
    first_onset : float
        Seconds from the story's audio onset to row 0 (default 10.0).
    nan_to_zero : bool
        Set NaN/infinite values to 0 (as the authors' code does); by default they are an
        error.

    Returns
    -------
    Recording
        Continuous, data (n_TRs, n_voxels) float32; ``samples``: ``tr_index``, ``onset``
        (``first_onset + tr_index * tr``, seconds on the TextGrid clock), ``duration``,
        ``story``; ``units``: ``subject``, ``voxel`` (column index in the file).

    Raises
    ------
    LebelFormatError
        If the file is not HDF5, has no 2-D floating ``data`` dataset, holds NaN without
        ``nan_to_zero``, or ``tr`` is not positive.
    """
    path = Path(path)
    if not tr > 0:
        raise LebelFormatError(f"tr={tr!r} must be a positive number of seconds")
    data = _check_finite(path, _read_hf5_data(path), nan_to_zero)
    index = np.arange(data.shape[0])
    samples = pd.DataFrame(
        {"tr_index": index, "onset": first_onset + index * tr, "duration": tr, "story": story}
    )
    units = pd.DataFrame({"subject": subject, "voxel": np.arange(data.shape[1])})
    stimuli = (
        read_lebel_words(textgrid, story)
        if textgrid is not None
        else Stimuli(pd.DataFrame({"stimulus_id": [], "group": [], "text": []}))
    )
    return Recording(
        data=data,
        samples=samples,
        units=units,
        sampling="continuous",
        stimuli=stimuli,
        tr=tr,
        meta={
            "name": "lebel2023",
            "citation": LEBEL_CITATION,
            "licence": "CC0",
            "file": str(path),
            "subject": subject,
            "story": story,
            "first_onset": first_onset,
            "textgrid": str(textgrid) if textgrid is not None else None,
        },
    )


# ----------------------------------------------------------------------------- Narratives

NARRATIVES_CITATION = (
    "Nastase, S. A., Liu, Y.-F., Hillman, H., Zadbood, A., Hasenfratz, L., et al. (2021). "
    "The 'Narratives' fMRI dataset for evaluating models of naturalistic language "
    "comprehension. Scientific Data, 8, 250. OpenNeuro ds002345."
)


def _narratives_masker(bold: Path, masker: Any) -> Any:
    if not (isinstance(masker, str) and masker == "epi"):
        return masker
    from nilearn.masking import compute_epi_mask

    from brainalign.datasets.fmri import VoxelMask

    return VoxelMask(compute_epi_mask(str(bold)), name="epi_mask")


def load_narratives_run(
    bold: PathLike,
    events: PathLike,
    *,
    subject: str,
    task: str,
    masker: Any = "epi",
    **options: Any,
) -> Recording:
    """Read one Narratives BOLD run (raw, native space) with its events.

    Parameters
    ----------
    bold : str or path-like
        ``sub-<id>_task-<story>_bold.nii.gz``, shape (nx, ny, nz, n_volumes).
    events : str or path-like
        The run's ``events.tsv`` (one row: the story's onset and duration on the run clock).
    subject, task : str
        BIDS labels, written to the Recording (``subject``, run ``task-<task>``).
    masker : "epi", VoxelMask, Parcels, Spheres or a mask image
        What the units are. ``"epi"`` (default) keeps the voxels of
        ``nilearn.masking.compute_epi_mask`` of the run; any other value is passed to
        :func:`~brainalign.datasets.fmri.load_fmri_run` (images must be on the run's grid:
        the data are not registered to a template).
    **options
        Other :func:`~brainalign.datasets.fmri.load_fmri_run` options (``standardize``,
        ``detrend``, ``high_pass`` ...).

    Returns
    -------
    Recording
        Continuous, data (n_volumes, n_voxels), TR from the NIfTI header (1.5 s in
        Narratives); stimuli from the events file.
    """
    from brainalign.datasets.fmri import load_fmri_run

    bold = Path(bold)
    recording = load_fmri_run(
        bold,
        masker=_narratives_masker(bold, masker),
        events=events,
        subject=f"sub-{subject}",
        run=f"task-{task}",
        name="narratives",
        **options,
    )
    recording.meta.update(
        {"citation": NARRATIVES_CITATION, "licence": "CC0", "subject": subject, "task": task}
    )
    return recording
