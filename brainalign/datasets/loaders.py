"""Dataset-specific loading steps used by the catalogue (:mod:`brainalign.datasets.registry`).

* :func:`load_kriegeskorte2008_92` gathers the bundled 92-image RDMs into one
  :class:`Kriegeskorte92` record.
* :func:`read_brainscore_assembly` reads a Brain-Score assembly with
  :func:`~brainalign.datasets.brainio.read_assembly`, first selecting one experiment and
  dropping neuroids that hold no value there: Brain-Score packages some studies (Pereira
  2018) with every subject as neuroids and NaN where a subject did not see an experiment,
  which ``read_assembly`` rightly refuses.
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

PathLike = str | os.PathLike

KRIEGESKORTE_CITATION = (
    "Kriegeskorte, N., Mur, M., Ruff, D. A., Kiani, R., Bodurka, J., Esteky, H., Tanaka, K., & "
    "Bandettini, P. A. (2008). Matching categorical object representations in inferior "
    "temporal cortex of man and monkey. Neuron, 60(6), 1126-1141."
)
#: Figure-1 RDMs in fig1_mIT_hIT_rdms.npz: key -> (label, number of units).
FIG1_RDMS = {"mIT_674neurons": ("mIT", 674), "hITvisStim_316vx": ("hIT", 316)}
N_IMAGES = 92


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
        ``name``, ``citation``, ``licence``, ``source``, ``folder``.
    """

    human_it: RDMSet
    fig1: RDMSet
    behaviour: RDMSet
    models: RDMSet
    conditions: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

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


def load_kriegeskorte2008_92(folder: PathLike) -> Kriegeskorte92:
    """Read the bundled 92-image RDMs (see ``data/kriegeskorte2008_92/SOURCE.txt``).

    Parameters
    ----------
    folder : str or path-like
        Folder with ``92_brainRDMs.mat``, ``92_modelRDMs.mat``, ``92_behavRDMs.mat`` and
        ``fig1_mIT_hIT_rdms.npz``.

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
        },
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
