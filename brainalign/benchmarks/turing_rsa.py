"""Person-level RSA ("Turing RSA"): is a model's RDM within the spread of 16 people?

Benchmark ``kriegeskorte2008-judgement-rsa``: the similarity-judgement RDMs of 16 people
on the 92 images of Kriegeskorte et al. (2008) (Mur et al. 2013; bundled, from the
rsatoolbox demos), against a vision model's RDM of the same images per layer (and per
head), made exactly as in :mod:`brainalign.benchmarks.image_rsa` (mean-pooled features,
correlation-distance RDM, Spearman comparison).

The human spread. Each person's consistency with the group is the Spearman correlation of
their RDM with the pooled RDM of the **other 15** (the mean of their rank-transformed
RDMs, rsatoolbox's ``pool_rdm``; :func:`brainalign.alignment.rsa.subject_consistency`).
The model is compared with the pooled RDM of **all 16** people in the same way. A model
that a person could not tell from one more participant scores inside that distribution:
``human_percentile`` is the percentage of people whose consistency with the rest is at
or below the model's score, ``human_median`` the median person's consistency. (The model
is compared with 16 pooled people and each person with 15, so the model's pooled RDM is
slightly less noisy: a small advantage to the model, stated here.)

Rows, per model variant and layer (and head):

- one row per person (``subject`` ``subject1`` .. ``subject16``, ``unit``
  ``"judgements"``): Spearman of the model's RDM with that person's RDM; ``ceiling``
  the upper bound of the RSA noise ceiling over the 16 people and ``ceiling_lower`` its
  lower bound (:func:`~brainalign.alignment.rsa.rdm_noise_ceiling`);
- one row for the group (``subject`` ``"group"``, ``unit`` ``"judgements-pooled"``):
  Spearman with the pooled RDM of all 16, with ``human_percentile`` and
  ``human_median``; no ceiling (the group's own pooled RDM is what is compared with).

Controls, scored exactly as the model: the untrained twin and ``random-image-features``
(as in :mod:`~brainalign.benchmarks.image_rsa`). Option ``conditions``: a subset of the
images (the people's RDMs are restricted to it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from brainalign.alignment.rsa import compare_rdms, rdm_noise_ceiling, subject_consistency
from brainalign.benchmarks.image_rsa import (
    COMPARISON,
    _images,
    _subset_rdms,
    random_control_rows,
    score_image_rdms,
    select_conditions,
)

if TYPE_CHECKING:
    from brainalign.benchmarks.benchmark import Benchmark, ModelScores
    from brainalign.benchmarks.settings import RunSettings
    from brainalign.planning.workload import Workload

__all__ = [
    "GROUP",
    "GROUP_UNIT",
    "PERSON_UNIT",
    "JudgementRsaTask",
    "human_percentile",
    "prepare",
]

#: ``unit`` of the rows against one person's RDM.
PERSON_UNIT = "judgements"
#: ``unit`` and ``subject`` of the rows against the pooled RDM of all people.
GROUP_UNIT, GROUP = "judgements-pooled", "group"


def human_percentile(score: np.ndarray, people: np.ndarray) -> np.ndarray:
    """Percentage of people whose consistency with the rest is at or below ``score``.

    Parameters
    ----------
    score : numpy.ndarray, shape (n,)
        A model's similarity with the pooled RDM of all people (one per layer or head).
    people : numpy.ndarray, shape (n_people,)
        Each person's similarity with the pooled RDM of the others.

    Returns
    -------
    numpy.ndarray, shape (n,)
        In [0, 100].
    """
    score = np.asarray(score, dtype=np.float64)
    people = np.sort(np.asarray(people, dtype=np.float64))
    return 100.0 * np.searchsorted(people, score, side="right") / people.size


@dataclass
class JudgementRsaTask:
    """The images and the 16 people's RDMs prepared for one run (module documentation)."""

    benchmark: Benchmark
    settings: RunSettings
    images: np.ndarray
    conditions: np.ndarray
    people: np.ndarray  # (n_people, n_pairs)
    subjects: np.ndarray  # (n_people,)

    def __post_init__(self) -> None:
        consistency = subject_consistency(self.people, COMPARISON)
        self.to_others = np.asarray(consistency.to_others, dtype=np.float64)
        self.pooled = np.asarray(consistency.pooled, dtype=np.float64)

    def _rows(self, model_rdms: np.ndarray, layers: list[Any], heads: list[Any]) -> pd.DataFrame:
        """Person rows and group rows of the model RDMs (n_rdms, n_pairs)."""
        targets = np.vstack([self.people, self.pooled[None]])
        scores = np.asarray(compare_rdms(model_rdms, targets, COMPARISON))
        n_rdms, n_people = scores.shape[0], len(self.subjects)
        group = scores[:, -1]
        return pd.DataFrame(
            {
                "layer": pd.array(np.repeat(np.asarray(layers, dtype=object), n_people + 1)
                                  .tolist(), dtype="Int64"),
                "head": pd.array(np.repeat(np.asarray(heads, dtype=object), n_people + 1)
                                 .tolist(), dtype="Int64"),
                "subject": np.tile([*self.subjects, GROUP], n_rdms),
                "unit": np.tile([PERSON_UNIT] * n_people + [GROUP_UNIT], n_rdms),
                "score": scores.ravel(),
                "human_percentile": np.column_stack(
                    [np.full((n_rdms, n_people), np.nan), human_percentile(group, self.to_others)]
                ).ravel(),
                "human_median": np.column_stack(
                    [np.full((n_rdms, n_people), np.nan),
                     np.full(n_rdms, np.median(self.to_others))]
                ).ravel(),
                "n_images": len(self.conditions),
            }
        )  # fmt: skip

    def score_model(self, weights: str) -> ModelScores:
        """Each layer's (and head's) RDM against every person and the group."""
        return score_image_rdms(self, weights)

    def score_controls(self, model: ModelScores) -> dict[str, pd.DataFrame]:
        """The random-image-feature control, as wide as the model's last layer."""
        return random_control_rows(self, model)

    def ceiling(self) -> pd.DataFrame:
        """The RSA noise ceiling over the people, for the person rows."""
        lower, upper = (float(b) for b in rdm_noise_ceiling(self.people, COMPARISON))
        return pd.DataFrame({"unit": [PERSON_UNIT], "ceiling": [upper], "ceiling_lower": [lower]})

    def workload(self) -> Workload:
        """The images against every person's RDM and the group's
        (:func:`~brainalign.benchmarks.image_rsa.image_rsa_workload`)."""
        from brainalign.benchmarks.image_rsa import image_rsa_workload

        return image_rsa_workload(self, len(self.subjects) + 1, self.people.nbytes)


def prepare(benchmark: Benchmark, settings: RunSettings) -> JudgementRsaTask:
    """``kriegeskorte2008-judgement-rsa``: the 92 images and the 16 people's RDMs.

    Option ``conditions``: score on these images only (indices 0..91, at least 3).

    Returns
    -------
    JudgementRsaTask
    """
    data = _images(benchmark.dataset, settings.progress)
    behaviour = data.behaviour
    conditions = settings.options.get("conditions")
    n_available = data.images.shape[0]
    if conditions is None and n_available != behaviour.n_conditions:
        raise ValueError(
            f"the images file holds {n_available} images but the RDMs "
            f"{behaviour.n_conditions}; pass the option conditions (indices < {n_available})"
        )
    selected = select_conditions(conditions, min(n_available, behaviour.n_conditions))
    return JudgementRsaTask(
        benchmark,
        settings,
        data.images[selected],
        selected,
        _subset_rdms(behaviour.dissimilarities, selected),
        behaviour.descriptors["subject"].astype(str).to_numpy(),
    )
