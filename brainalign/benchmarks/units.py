"""Localized model units: score only a model's language-selective units, next to random ones.

``units="language:1%"`` (``--units language:1%``) restricts every text benchmark of a
run to the model's language-selective units (:mod:`brainalign.encoders.localizer`: the
sentences > non-words localizer of AlKhamissi et al. 2025, on the project's localizer
stimuli), as the shallow-untrained-network and LLM-language-network studies do:

- the units are localized once per model variant (pretrained and untrained twin each
  from their own activations) and reused by every benchmark of the run; with a feature
  store, the localizer's forward passes are stored there under their provenance key, so
  a later run recomputes the selection (a Welch t-test) from stored features without a
  forward pass;
- the localizer ranks the units of the block outputs (hidden states ``1 .. n_layers``;
  the embedding output is left out, as in AlKhamissi et al.), so a benchmark's hidden
  state ``0`` is not scored under ``units``;
- a benchmark's features of each hidden state are restricted to that layer's selected
  units (:func:`brainalign.encoders.localizer.restrict`); hidden states with no
  selected unit (possible with the model-wide ranking) are not scored;
- next to the model's rows the run reports the control ``random-units``: the same
  number of units per hidden state drawn uniformly at random (the run's seed), scored
  exactly as the localized ones;
- rows carry ``units`` (the specification) and ``n_model_units`` (units scored in that
  hidden state).

The specification is ``LOCALIZER:PERCENT%`` with an optional ``:layer`` (rank within
each layer instead of across the model): ``language:1%``, ``language:0.5%:layer``.
Head scores are not restricted (a head's output is not a hidden-state unit), so
``units`` with ``heads`` is refused.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from brainalign.benchmarks.settings import RunSettings
    from brainalign.encoders.features import Features
    from brainalign.encoders.localizer import LocalizerResult

__all__ = [
    "LOCALIZERS",
    "RANDOM_UNITS_CONTROL",
    "UnitSpec",
    "localized_units",
    "parse_units",
    "random_units_like",
    "restrict_run_features",
    "units_per_row",
]

LOCALIZERS = {"language": "sentences > non-words (brainalign.encoders.localizer)"}
"""Localizer sets a run can restrict to, and what each contrasts."""

RANDOM_UNITS_CONTROL = "random-units"
"""Name of the control: as many units per hidden state, drawn at random."""

UNIT_DRAWS = ("localized", "random")
"""Which units a run scores: the localized ones, or the random control's."""

_SPEC = re.compile(
    r"(?P<localizer>[a-z]+):(?P<percent>[0-9]*\.?[0-9]+)%(?::(?P<scope>model|layer))?"
)


@dataclass(frozen=True)
class UnitSpec:
    """A parsed ``units`` specification.

    Attributes
    ----------
    localizer : str
        A key of :data:`LOCALIZERS`.
    top_percent : float
        Percentage of units selected, in (0, 100].
    scope : {"model", "layer"}
        Rank across the whole model (default) or within each layer.
    """

    localizer: str
    top_percent: float
    scope: str = "model"

    @property
    def text(self) -> str:
        """The canonical specification (``language:1%``)."""
        scope = "" if self.scope == "model" else f":{self.scope}"
        return f"{self.localizer}:{self.top_percent:g}%{scope}"


def parse_units(spec: str) -> UnitSpec:
    """Parse ``LOCALIZER:PERCENT%[:SCOPE]``.

    Raises
    ------
    ValueError
        Naming the value and the accepted form, an unknown localizer (with the known
        ones) or a percentage outside (0, 100].
    """
    match = _SPEC.fullmatch(str(spec).strip()) if isinstance(spec, str) else None
    if match is None:
        raise ValueError(
            f"units={spec!r}: use LOCALIZER:PERCENT% with an optional :layer, e.g. "
            "'language:1%' or 'language:0.5%:layer'"
        )
    if match["localizer"] not in LOCALIZERS:
        raise ValueError(
            f"units={spec!r}: no localizer {match['localizer']!r}; the localizers are "
            f"{', '.join(LOCALIZERS)}"
        )
    percent = float(match["percent"])
    if not 0 < percent <= 100:
        raise ValueError(f"units={spec!r}: the percentage must be in (0, 100]")
    return UnitSpec(match["localizer"], percent, match["scope"] or "model")


def random_units_like(result: LocalizerResult, *, seed: int = 0) -> LocalizerResult:
    """The random-units control of a selection: as many units per layer, drawn at random.

    Parameters
    ----------
    result : LocalizerResult
        The localized selection.
    seed : int
        Seeds the draw (``numpy.random.default_rng(seed)``, layers in their order).

    Returns
    -------
    LocalizerResult
        The same t- and p-values with a mask of ``result.n_selected[layer]`` units of
        each layer drawn uniformly without replacement.
    """
    rng = np.random.default_rng(seed)
    masks = {}
    for name, mask in result.mask.items():
        drawn = np.zeros(mask.size, dtype=bool)
        drawn[rng.choice(mask.size, size=int(mask.sum()), replace=False)] = True
        masks[name] = drawn
    return dataclasses.replace(result, mask=masks)


#: Words a bidirectional model reads before each localizer word: more than the longest
#: localizer stimulus (12 words), so each stimulus is read whole, as a causal model reads it.
LOCALIZER_CONTEXT_WORDS = 16

_CACHE: dict[tuple, LocalizerResult] = {}
_LOCK = threading.Lock()


def localized_units(settings: RunSettings, weights: str) -> LocalizerResult:
    """The run's localized units of the model with ``weights`` (computed once per process
    for the same settings and weight files).

    The localizer reads every hidden state of the model through a
    :class:`~brainalign.encoders.text.TextEncoder` built with the run's model settings
    (device, dtype, seed of untrained weights, batch size), its forward passes kept in
    the run's feature store.
    """
    from brainalign.encoders.localizer import localize_model
    from brainalign.encoders.models import weights_state
    from brainalign.encoders.text import TextEncoder

    spec = parse_units(settings.units)
    key = (settings.model, weights, settings.run_seed, settings.device, settings.dtype,
           settings.store, spec, weights_state(settings.model))  # fmt: skip
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
    encoder = TextEncoder(
        settings.model,
        weights=weights,
        seed=settings.run_seed,
        device=settings.device,
        dtype=settings.dtype,
        batch_size=settings.batch_size or 32,
        context_words=LOCALIZER_CONTEXT_WORDS,
        progress=False,
    )
    result = localize_model(
        encoder, top_percent=spec.top_percent, scope=spec.scope, store=settings.feature_store()
    )
    with _LOCK:
        _CACHE[key] = result
    return result


def units_per_row(rows: pd.DataFrame, settings: RunSettings) -> pd.Series:
    """``n_model_units`` of a benchmark's rows: units scored in the row's hidden state.

    Model rows (of each weights variant) and ``random-units`` rows get the selection's
    count in their layer; other control rows get ``<NA>``.

    Returns
    -------
    pandas.Series of Int64, shape (n_rows,)
    """
    counts = pd.Series(pd.NA, index=rows.index, dtype="Int64")
    control = rows["control"].fillna("").astype(str)
    for weights in settings.variants:
        selected = localized_units(settings, weights).n_selected
        mine = (control == "") & (rows["weights"] == weights)
        if weights == settings.weights:
            mine |= control == RANDOM_UNITS_CONTROL
        layers = rows.loc[mine, "layer"].astype("Int64")
        counts[mine] = [selected.get(str(layer), pd.NA) for layer in layers]
    return counts


def restrict_run_features(features: Features, settings: RunSettings, weights: str) -> Features:
    """A benchmark's text features restricted to the run's units (unchanged without).

    Parameters
    ----------
    features : Features
        Hidden states ``"0"``, ``"1"``, ... of shape (n_items, n_dims) (and, only when
        the run scores no heads, nothing else is read).
    settings : RunSettings
        With ``units`` (None: ``features`` is returned as it is) and ``unit_draw``.
    weights : {"pretrained", "untrained"}

    Returns
    -------
    Features
        Each hidden state of ``features`` restricted to its selected units (hidden
        states without one dropped); provenance gains ``localizer`` and ``units``.
    """
    if settings.units is None:
        return features
    from brainalign.encoders.features import Features as FeatureSet
    from brainalign.encoders.localizer import restrict

    result = localized_units(settings, weights)
    if settings.unit_draw == "random":
        result = random_units_like(result, seed=settings.run_seed)
    hidden = [name for name in features.layer_names if name.isdigit()]
    masks = {name: result.mask[name] for name in hidden if name in result.mask}
    if not any(mask.any() for mask in masks.values()):
        raise ValueError(
            f"units={settings.units!r}: the scored hidden states {hidden} hold none of the "
            f"localized units of {settings.model!r} (selected per hidden state: "
            f"{result.n_selected}); score more layers or use ':layer' to select in each"
        )
    restricted = restrict(features, dataclasses.replace(result, mask=masks))
    provenance = {**restricted.provenance, "units": settings.units, "unit_draw": settings.unit_draw}
    return FeatureSet(
        layers=dict(restricted.layers),
        stimulus_ids=restricted.stimulus_ids,
        onsets=restricted.onsets,
        provenance=provenance,
    )
