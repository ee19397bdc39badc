"""RSA on the 92 images of Kriegeskorte et al. (2008): model RDMs vs human and monkey IT.

Benchmarks ``kriegeskorte2008-hit-rsa`` (human IT fMRI, 4 subjects x 2 sessions) and
``kriegeskorte2008-mit-rsa`` (monkey IT, 674 neurons of two monkeys, figure 1).

Model RDM. The 92 images (175 x 175 RGB, ``load("kriegeskorte2008-92", images=True)``,
downloaded on first use) are encoded by :class:`~brainalign.encoders.vision.VisionEncoder`
with the model's own image processor and ``pooling="mean"``: per hidden state (0 =
embeddings) the mean over the patch tokens (vision transformers; the CLS token is left
out) or over the spatial positions of the feature map (ConvNets). Mean pooling is used
rather than the CLS token because it exists for every architecture and carries the image
at every layer, whereas a ViT's CLS token is only trained to summarise the image at the
last layer. The RDM of a layer is the correlation distance ``1 - pearson(x, y)`` between
the images' feature vectors (:func:`brainalign.alignment.rsa.rdm` with
``metric="correlation"``, rsatoolbox's ``'correlation'``), computed in float64.

Comparison. Spearman's rank correlation between the condensed model RDM and each data
RDM (:func:`brainalign.alignment.rsa.compare_rdms` with ``method="spearman"``, average
ranks for ties, = :func:`scipy.stats.spearmanr`), the comparison of the original paper.
Kendall's tau-a (Nili et al. 2014) is recommended for model RDMs that predict ties
(categorical models); a network's RDM is continuous, where Spearman is the usual choice
and much cheaper.

Ceiling (``hit`` only). :func:`brainalign.alignment.rsa.rdm_noise_ceiling` (Spearman)
over the 8 human-IT RDMs, each session its own RDM: ``ceiling`` holds the **upper**
bound (mean Spearman of each RDM with the mean rank-RDM of all 8), ``ceiling_lower`` the
lower bound (each RDM with the mean of the other 7; the subject's other session is among
them, so this lower bound is lenient). ``normalized_score = score / ceiling`` (upper
bound: a conservative normalisation). The monkey-IT RDM is one pooled RDM of two
animals: no between-animal consistency can be estimated, so ``ceiling`` is NaN there.

Controls, rows next to the model's, scored exactly as it is (correlation-distance RDM,
Spearman with each data RDM):

- the untrained twin: the same architecture with seeded random weights, same pipeline.
- the control ``random-image-features``: one standard-normal vector per image, seeded by
  the run's seed and the image's condition number (0..91; the same vector for an image
  in any subset), with as many dimensions as the model's last layer; its
  correlation-distance RDM is compared like a layer's. It carries image identity and
  nothing else (no pixels, no category): its expected score is 0. A pixel-space RDM
  would not be content-free (low-level image statistics correlate with category).

Rows: ``hit``: one per (model variant, layer, subject, session), ``unit`` ``"hIT"``;
``mit``: one per (model variant, layer), ``subject`` ``"monkeys-pooled"``, ``unit``
``"mIT"``. Metric ``spearman_r``; extra columns ``session`` (nullable int),
``ceiling_lower`` and ``n_images``. Options: ``conditions`` (a subset of the images).

Heads (``heads=True``, vision transformers): every attention head of every layer
``L >= 1`` is scored exactly as the layer is, from the head's output before the
attention output projection (``"L.heads"`` of
:meth:`~brainalign.encoders.vision.VisionEncoder.encode_images`, shape
(n_images, n_heads, d_head), mean-pooled over the patch tokens like the hidden states):
the head's correlation-distance RDM (all heads of a layer in one batched
:func:`~brainalign.alignment.rsa.rdm` call) compared with every data RDM (all heads of
all layers in one :func:`~brainalign.alignment.rsa.compare_rdms` call). Head rows carry
the 0-based head index in the ``head`` column (missing on whole-layer and control rows).
A ConvNet has no heads: the encoder raises.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from brainalign.alignment.rsa import (
    compare_rdms,
    rdm,
    rdm_noise_ceiling,
    rdm_to_square,
    square_to_rdm,
)
from brainalign.benchmarks.benchmark import ModelScores, constant_feature_sets
from brainalign.benchmarks.controls import random_vectors
from brainalign.benchmarks.word_similarity import head_layers, hidden_state_names
from brainalign.datasets.catalogue import load
from brainalign.datasets.download import NotInCacheError

if TYPE_CHECKING:
    from brainalign.benchmarks.benchmark import Benchmark
    from brainalign.benchmarks.settings import RunSettings
    from brainalign.encoders.features import Features
    from brainalign.encoders.store import FeatureStore
    from brainalign.planning.workload import Workload

__all__ = [
    "COMPARISON",
    "HUMAN_IT",
    "MONKEY_IT",
    "POOLING",
    "RANDOM_CONTROL",
    "ImageRsaTask",
    "encode_image_set",
    "head_rdms",
    "layer_rdms",
    "prepare_human_it",
    "prepare_monkey_it",
    "random_control_rows",
    "random_image_features",
    "score_image_rdms",
    "select_conditions",
]

#: Name of the content-free control.
RANDOM_CONTROL = "random-image-features"
#: Pooling of the vision encoder.
POOLING = "mean"
#: RDM comparison (:func:`brainalign.alignment.rsa.compare_rdms`).
COMPARISON = "spearman"
#: ``roi`` of the human-IT rows.
HUMAN_IT = "hIT"
#: ``roi`` of the monkey-IT rows.
MONKEY_IT = "mIT"
#: ``subject`` of the monkey-IT rows (one RDM of two animals' neurons).
MONKEYS = "monkeys-pooled"
_METRIC = "spearman_r"


def select_conditions(conditions: Sequence[int] | None, n_conditions: int) -> np.ndarray:
    """Checked condition indices (default: all).

    Parameters
    ----------
    conditions : sequence of int, optional
        Indices into the 92 images, unique, at least 3.
    n_conditions : int
        Number of conditions of the data (92).

    Returns
    -------
    numpy.ndarray of int, shape (n_selected,)
    """
    if conditions is None:
        return np.arange(n_conditions)
    values = np.asarray(list(conditions))
    if values.ndim != 1 or values.size < 3 or not np.issubdtype(values.dtype, np.integer):
        raise ValueError(
            f"conditions={conditions!r}: give at least 3 integer image indices (0..91)"
        )
    if np.unique(values).size != values.size:
        raise ValueError(f"conditions={conditions!r} repeats an index; give each image once")
    if values.min() < 0 or values.max() >= n_conditions:
        raise ValueError(f"conditions={conditions!r}: indices must lie in 0..{n_conditions - 1}")
    return values.astype(np.intp)


def _subset_rdms(rdms: np.ndarray, conditions: np.ndarray) -> np.ndarray:
    """Condensed RDMs (n_rdms, n_pairs) restricted to ``conditions`` (in that order)."""
    square = rdm_to_square(np.asarray(rdms, dtype=np.float64))
    return square_to_rdm(square[:, conditions][:, :, conditions])


def random_image_features(conditions: Sequence[int], n_dims: int, *, seed: int = 0) -> np.ndarray:
    """One standard-normal vector per image, fixed by ``seed`` and the image's index.

    :func:`~brainalign.benchmarks.controls.random_vectors` keyed by the image's index, so
    an image gets the same vector whatever the other images.

    Parameters
    ----------
    conditions : sequence of int, length n_images
        Image indices (0..91).
    n_dims : int
        Dimensions per vector (>= 2, so that correlation distances are defined).
    seed : int

    Returns
    -------
    numpy.ndarray of float64, shape (n_images, n_dims)
    """
    if isinstance(n_dims, bool) or not isinstance(n_dims, int | np.integer) or n_dims < 2:
        raise ValueError(f"n_dims={n_dims!r}; it must be an integer >= 2")
    return random_vectors([str(int(c)) for c in conditions], int(n_dims), seed=seed)


def encode_image_set(
    model: str,
    images: Any,
    stimulus_ids: Sequence[int] | Sequence[str] | None = None,
    *,
    weights: str = "pretrained",
    layers: Sequence[int] | None = None,
    device: str = "cpu",
    dtype: str = "float32",
    batch_size: int = 32,
    seed: int = 0,
    store: FeatureStore | None = None,
    progress: bool | str = False,
    heads: bool = False,
    instruction: str | None = None,
    span: str | None = None,
) -> Features:
    """Mean-pooled features of every requested layer for a set of images.

    A vision model (or a dual encoder's image tower) reads the images with
    :class:`~brainalign.encoders.vision.VisionEncoder`, mean-pooled over patches. A
    multimodal language model (:data:`~brainalign.encoders.loading.MULTIMODAL_MODEL_TYPES`,
    told from its config by :func:`~brainalign.encoders.loading.modality_of`) reads each
    image with an instruction through
    :class:`~brainalign.encoders.multimodal.MultimodalEncoder` (its chat template),
    features averaged over the tokens of ``span`` of its language model's hidden states.

    Parameters
    ----------
    model : str
        Hugging Face hub id or local model directory.
    images : numpy.ndarray, Stimuli, folder, .zip or sequence of images
        Anything :func:`~brainalign.encoders.vision.image_stimuli` accepts, e.g. an
        array of shape (n_images, height, width, 3) or a ``Stimuli`` with an ``image``
        column.
    stimulus_ids : sequence of int or str, length n_images, optional
        Row labels (the images' condition indices); not with a ``Stimuli``, which
        carries its ids.
    weights : {"pretrained", "untrained"}
    layers : sequence of int, optional
        Hidden-state indices; all by default.
    device, dtype, batch_size, seed
        Passed to :class:`~brainalign.encoders.vision.VisionEncoder` (``seed``: of the
        untrained weights).
    store : FeatureStore, optional
        Read the features from it when the entry exists (no forward pass), else stream
        them into it; the key (:func:`~brainalign.encoders.vision.image_features_key`)
        holds each image's id and content sha256 and whether heads were captured.
    progress : bool or str
    heads : bool
        Also capture each head's output (``"L.heads"``, shape (n_images, n_heads,
        d_head), for every requested layer ``L >= 1``). Vision transformers only: a
        ConvNet raises the encoder's ValueError.
    instruction : str, optional
        Multimodal language models only: the text read with every image (default
        :data:`~brainalign.encoders.multimodal.DEFAULT_INSTRUCTION`).
    span : {"visual", "instruction", "all"}, optional
        Multimodal language models only: the tokens each row averages (default
        ``"visual"``, the image's tokens).

    Returns
    -------
    Features
        Float32 arrays of shape (n_images, n_dims) per layer (``"0"``, ``"1"``, ...),
        then the ``"L.heads"`` arrays when asked for.

    Raises
    ------
    ValueError
        For ``instruction`` or ``span`` with a model that is not a multimodal language
        model (naming the model and its kind).
    """
    from brainalign.encoders.vision import VisionEncoder, image_stimuli

    ids = None if stimulus_ids is None else np.asarray(stimulus_ids)
    if _is_multimodal(model, instruction, span):
        from brainalign.encoders.multimodal import DEFAULT_INSTRUCTION, MultimodalEncoder

        reader = MultimodalEncoder(
            model,
            weights=weights,
            seed=seed,
            device=device,
            dtype=dtype,
            batch_size=batch_size,
            progress=progress,
        )
        return reader.encode(
            image_stimuli(images, stimulus_ids=ids),
            instruction if instruction is not None else DEFAULT_INSTRUCTION,
            span=span or "visual",
            layers=layers,
            heads=heads,
            store=store,
        )
    encoder = VisionEncoder(
        model,
        weights=weights,
        seed=seed,
        device=device,
        dtype=dtype,
        batch_size=batch_size,
        pooling=POOLING,
        progress=progress,
    )
    if layers is None and encoder.n_layers is not None:
        layers = list(range(encoder.n_layers))
    stimuli = image_stimuli(images, stimulus_ids=ids)
    return encoder.encode_images(stimuli, layers=layers, heads=heads, store=store)


def _is_multimodal(model: str, instruction: str | None, span: str | None) -> bool:
    """Whether ``model`` is a multimodal language model (read from its config, no torch);
    ``instruction``/``span`` with any other model are refused. A hub model whose config
    is not in the cache is taken for one when they are given."""
    from brainalign.encoders.loading import modality_of
    from brainalign.encoders.models import inspect_model, split_model_spec

    config = inspect_model(split_model_spec(model)[0]).config
    given = [name for name, value in (("instruction", instruction), ("span", span)) if value]
    if config is None:  # a hub model not in the cache: the options choose, loading checks
        return bool(given)
    try:
        multimodal = modality_of(config, "image") == "multimodal"
    except ValueError:  # not an image model: the vision encoder says so when it loads
        multimodal = False
    if given and not multimodal:
        kind = "unknown" if config is None else repr(config.get("model_type"))
        raise ValueError(
            f"{' and '.join(given)} are for multimodal language models (an image read with "
            f"an instruction), but model {model!r} (model_type {kind}) reads images alone: "
            f"drop {' and '.join(given)}"
        )
    return multimodal


def layer_rdms(features: Features) -> tuple[list[int], np.ndarray]:
    """Correlation-distance RDM of every layer.

    Parameters
    ----------
    features : Features
        Arrays of shape (n_images, n_dims) per layer.

    Returns
    -------
    layers : list of int, length n_layers
    rdms : numpy.ndarray of float64, shape (n_layers, n_pairs)
        Condensed, n_pairs = n_images * (n_images - 1) / 2.
    """
    names = hidden_state_names(features)
    rdms = np.stack([rdm(np.asarray(features[name], dtype=np.float64)) for name in names])
    return [int(name) for name in names], rdms


def head_rdms(features: Features) -> tuple[list[int], list[int], np.ndarray]:
    """Correlation-distance RDM of every head of every layer with per-head features.

    Parameters
    ----------
    features : Features
        With ``"L.heads"`` arrays of shape (n_images, n_heads, d_head).

    Returns
    -------
    layers, heads : list of int, each of length n_head_layers * n_heads
        The (layer, head) of each RDM, layer-major; heads 0-based.
    rdms : numpy.ndarray of float64, shape (n_head_layers * n_heads, n_pairs)
        Condensed; shape (0, n_pairs) when no layer has heads.
    """
    layers: list[int] = []
    heads: list[int] = []
    blocks = []
    for layer in head_layers(features):
        per_head = np.asarray(features[f"{layer}.heads"], dtype=np.float64)
        blocks.append(rdm(np.swapaxes(per_head, 0, 1)))  # (n_heads, n_pairs), one call
        layers += [layer] * per_head.shape[1]
        heads += list(range(per_head.shape[1]))
    n_images = features.n_items
    empty = np.empty((0, n_images * (n_images - 1) // 2))
    return layers, heads, np.concatenate(blocks) if blocks else empty


def _images(dataset: str, progress: bool) -> Any:
    try:
        return load(dataset, images=True, progress=progress)
    except NotInCacheError as error:
        from brainalign.benchmarks.registry import MissingBenchmarkDataError

        raise MissingBenchmarkDataError(
            f"{dataset}: the images are not in the cache and downloads are off; run "
            f"brainalign.datasets.catalogue.load({dataset!r}, images=True) online once, or "
            f"save the file as listed below.\n{error}"
        ) from error


def _targets(data: Any, target: str, conditions: np.ndarray) -> tuple[np.ndarray, pd.DataFrame]:
    if target == HUMAN_IT:
        rdms = data.human_it
        labels = pd.DataFrame(
            {
                "subject": rdms.descriptors["subject"].astype(str).to_numpy(),
                "session": rdms.descriptors["session"].to_numpy(),
            }
        )
    else:
        rdms = data.monkey_it
        labels = pd.DataFrame({"subject": [MONKEYS], "session": [pd.NA]})
    return _subset_rdms(rdms.dissimilarities, conditions), labels


@dataclass
class ImageRsaTask:
    """The 92 images and the target RDMs prepared for one run (module documentation)."""

    benchmark: Benchmark
    settings: RunSettings
    target: str
    images: np.ndarray
    conditions: np.ndarray
    data_rdms: np.ndarray
    targets: pd.DataFrame

    def _rows(self, model_rdms: np.ndarray, layers: list[Any], heads: list[Any]) -> pd.DataFrame:
        """Rows of the model RDMs (n_rdms, n_pairs) against every data RDM."""
        scores = np.asarray(compare_rdms(model_rdms, self.data_rdms, COMPARISON))
        n_rdms, n_targets = scores.shape
        return pd.DataFrame(
            {
                "layer": pd.array(np.repeat(np.asarray(layers, dtype=object), n_targets).tolist(),
                                  dtype="Int64"),
                "head": pd.array(np.repeat(np.asarray(heads, dtype=object), n_targets).tolist(),
                                 dtype="Int64"),
                "subject": np.tile(self.targets["subject"].to_numpy(), n_rdms),
                "unit": self.target,
                "session": pd.array(np.tile(self.targets["session"].to_numpy(), n_rdms).tolist(),
                                    dtype="Int64"),
                "score": scores.ravel(),
                "n_images": len(self.conditions),
            }
        )  # fmt: skip

    def score_model(self, weights: str) -> ModelScores:
        """Each layer's (and head's) RDM against every data RDM."""
        return score_image_rdms(self, weights)

    def score_controls(self, model: ModelScores) -> dict[str, pd.DataFrame]:
        """The random-image-feature control, as wide as the model's last layer."""
        return random_control_rows(self, model)

    def ceiling(self) -> pd.DataFrame | None:
        """Human IT: the upper and lower bounds of the RSA noise ceiling; monkey IT: none."""
        if self.target != HUMAN_IT:
            return None
        lower, upper = (float(b) for b in rdm_noise_ceiling(self.data_rdms, COMPARISON))
        return pd.DataFrame({"unit": [self.target], "ceiling": [upper], "ceiling_lower": [lower]})

    def workload(self) -> Workload:
        """The images (:func:`image_rsa_workload`) against every data RDM."""
        return image_rsa_workload(self, len(self.data_rdms), self.data_rdms.nbytes)


def image_rsa_workload(task: Any, n_targets: int, data_bytes: int) -> Workload:
    """The workload of an image RSA task: its images read once per variant, every layer's
    (and head's) RDM held at once and compared with ``n_targets`` data RDMs, and the
    random-feature control (as wide as the last layer).

    ``task`` has ``settings``, ``images`` and ``conditions`` (:func:`score_image_rdms`).
    """
    from brainalign.planning.workload import StimulusSet, Width, Workload, feature_set_fits

    n_images = len(task.conditions)
    images = StimulusSet("image", n_images, f"{n_images} images", heads=task.settings.heads)
    return Workload(
        stimuli=(images,),
        fits=feature_set_fits(
            task.settings,
            "rsa",
            n_samples=n_images,
            n_targets=n_targets,
            control_width=Width(),
            stacked=True,
        ),  # fmt: skip
        data_bytes=int(np.asarray(task.images).nbytes) + int(data_bytes),
    )


def score_image_rdms(task: Any, weights: str) -> ModelScores:
    """A task's model scores: each layer's (and head's) RDM of its images, through
    ``task._rows(model_rdms, layers, heads)``.

    Shared by the image RSA tasks (:class:`ImageRsaTask`, and
    :class:`~brainalign.benchmarks.turing_rsa.JudgementRsaTask`): ``task`` has
    ``benchmark``, ``settings``, ``images``, ``conditions`` and ``_rows``.
    """
    settings = task.settings
    features = encode_image_set(
        settings.model,
        task.images,
        task.conditions,
        heads=settings.heads,
        **settings.encoder_options(task.benchmark, weights),
    )
    layer_ids, model_rdms = layer_rdms(features)
    frames = [task._rows(model_rdms, layer_ids, [pd.NA] * len(layer_ids))]
    if settings.heads:
        head_layer_ids, head_ids, rdms_of_heads = head_rdms(features)
        if head_ids:
            frames.append(task._rows(rdms_of_heads, head_layer_ids, head_ids))
    n_dims = features[hidden_state_names(features)[-1]].shape[1]
    constant = constant_feature_sets(features, settings.heads)
    return ModelScores(pd.concat(frames, ignore_index=True), n_dims, constant=constant)


def random_control_rows(task: Any, model: ModelScores) -> dict[str, pd.DataFrame]:
    """The random-image-feature control of an image RSA task, as wide as the model's
    last layer, scored through ``task._rows`` like a layer."""
    vectors = random_image_features(task.conditions, model.n_dims, seed=task.settings.run_seed)
    return {RANDOM_CONTROL: task._rows(rdm(vectors)[None], [pd.NA], [pd.NA])}


def _prepare(benchmark: Benchmark, settings: RunSettings, target: str) -> ImageRsaTask:
    data = _images(benchmark.dataset, settings.progress)
    conditions = settings.options.get("conditions")
    n_available = data.images.shape[0]
    if conditions is None and n_available != data.human_it.n_conditions:
        raise ValueError(
            f"the images file holds {n_available} images but the RDMs "
            f"{data.human_it.n_conditions}; pass the option conditions (indices < "
            f"{n_available})"
        )
    selected = select_conditions(conditions, min(n_available, data.human_it.n_conditions))
    data_rdms, targets = _targets(data, target, selected)
    return ImageRsaTask(
        benchmark, settings, target, data.images[selected], selected, data_rdms, targets
    )


def prepare_human_it(benchmark: Benchmark, settings: RunSettings) -> ImageRsaTask:
    """``kriegeskorte2008-hit-rsa``: layer RDMs vs the 8 human-IT RDMs (module docs).

    Option ``conditions``: score on these images only (indices 0..91, at least 3); the
    data RDMs and the noise ceiling are restricted to them.

    Returns
    -------
    ImageRsaTask
        Rows: one per (layer[, head], subject, session), ``unit`` ``"hIT"``; the
        ceiling's upper bound in ``ceiling``, its lower bound in ``ceiling_lower``.
    """
    return _prepare(benchmark, settings, HUMAN_IT)


def prepare_monkey_it(benchmark: Benchmark, settings: RunSettings) -> ImageRsaTask:
    """``kriegeskorte2008-mit-rsa``: layer RDMs vs the monkey-IT RDM of figure 1.

    Returns
    -------
    ImageRsaTask
        Rows: one per (layer[, head]), ``subject`` ``"monkeys-pooled"``, ``unit``
        ``"mIT"``; no ceiling (one RDM of two animals).
    """
    return _prepare(benchmark, settings, MONKEY_IT)
