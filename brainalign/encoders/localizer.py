"""Language-selective units: the sentences > non-words localizer applied to a model.

The human language network is defined functionally by a stronger response to
sentences than to lists of pronounceable non-words (Fedorenko et al. 2010, J
Neurophysiol 104:1177). AlKhamissi et al. (2025, NAACL, "The LLM Language Network",
arXiv:2411.02280) apply the same contrast to the units of a language model. This module
follows their released code (github.com/bkhmsi/llm-localization, ``localize.py``):

- every stimulus (a 12-word sentence or a matched string of 12 non-words) is read on
  its own, and each unit's response to it is its activation at the end of the stimulus
  (``pooling="last"``, their default ``last-token``; ``"mean"`` averages over the
  stimulus, their alternative). Here words are the unit of pooling: ``"last"`` is the
  last word's feature from :meth:`TextEncoder.encode_words` (its last token with the
  encoder's default ``pooling="last"``: for a causal model exactly their last token;
  for a bidirectional model the last word's token, not the closing ``[SEP]``), and
  ``"mean"`` averages the words' features;
- units are the hidden dimensions of each Transformer block's output (hidden states
  ``1 .. n_layers - 1``; the embedding output is left out unless asked for);
- a unit's selectivity is Welch's t of the *absolute* activation, sentences versus
  non-words (their code compares ``abs`` of the activations; ``absolute=False`` tests
  the signed activation instead);
- the language units are the top ``k`` percent of units by t, ranked across the whole
  model (``scope="model"``, theirs) or within each layer (``scope="layer"``).

Two deliberate differences, each a small one: ``k`` is ``ceil(top_percent / 100 *
n_units)`` (they truncate with ``int``), so at least one unit is always chosen; and ties
are broken by unit order so exactly ``k`` units are chosen (their rank-based selection
keeps every unit tied at the cut). Their stimuli are tokenised with truncation at 12
tokens; here every stimulus is read whole. p-values are one-sided (sentences >
non-words, the localizer's contrast); theirs are two-sided. Selection uses t only.

The default stimuli (``data/localizer/``) are the project's own: 120 sentences written
for brainalign and 120 non-word strings made from them by :func:`make_nonwords`; see
the README there.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from brainalign.encoders.features import Features

if TYPE_CHECKING:
    from brainalign.encoders.store import FeatureStore
    from brainalign.encoders.text import TextEncoder

Scope = Literal["model", "layer"]
StimulusPooling = Literal["last", "mean"]

#: Seed of the shipped non-words (:func:`make_nonwords`).
NONWORD_SEED = 0

# Syllable inventory of the non-word generator. Letters only (no "y", "h", "j", "w",
# "c", "q", "x") so every string reads one way; clusters are common English onsets.
_CONSONANTS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z")
_CLUSTERS = ("bl", "br", "dr", "fl", "fr", "gl", "gr", "kl", "kr", "pl", "pr", "sk")
_CLUSTERS += ("sl", "sp", "st", "tr")
_VOWELS = ("a", "e", "i", "o", "u")
_CODAS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t")
_SINGLE_LETTERS = ("e", "u")

# English words the generator must not produce, besides the sentences' own words:
# common short words and the real words the syllable inventory can spell (found by
# checking earlier candidates against a large English word list, then kept here so the
# generator needs nothing outside this file).
_ENGLISH_CHECK = """
a i o
ab ad ae ag ah ai al am an ar as at aw ax ay ba be bi bo by da de di do ed ef eh el em
en er es et ex fa fe go ha he hi hm ho id if in is it ka ki la li lo ma me mi mo mu my
na ne no nu od oe of oh oi ok om on op or os ow ox pa pe pi po re sh si so ta te ti to
uh um un up us ut we xi xu ya ye yo za zo
bad bag ban bar bat bed beg bet bib bid big bin bit bob bod bog bop bot bud bug bum bun
bus but dab dad dam den dib did dig dim din dip dis dog doe don dot dub dud dug dun
fab fad fag fan far fat fed fen fib fig fin fir fit fob fog fop for fun fur gab gad gag
gal gam gap gas gel gem get gib gig gin git gob god got gum gun gut kab keg ken kid kin
kip kit lab lad lag lam lap lat led leg let lib lid lip lit lob log lop lot lug mad mag
man map mar mat med meg men met mib mid mil mob mod mom mop mud mug mum nab nag nap nat
neb net nib nil nip nit nob nod nog nor not nub nun nut pad pal pam pan par pat peg pen
pep per pet pig pin pip pit pod pol pop pot pub pud pug pun pup pus put rad rag ram ran
rap rat red ref rep ret rib rid rig rim rip rob rod rot rub rug rum run rut sad sag sap
sat sib sin sip sir sis sit sob sod sol son sop sot sub sum sun sup tab tad tag tam tan
tap tar tat ted tel ten tin tip tit tod tog tom ton top tor tot tub tug tum tun tup tut
vat vet vim vol zed zig zip zit zol
abet abut afar agar alas alit also amid amok anus apex avid bale bane bare base bast
bate bide bike bile bite blab bled blob blot blur boar bode bole bone bore brad bran
brat bred brim brig brit brut dale dame dane dare date dine dire dole dome done dope
dose dote drab drag dram drat drip drop drub drug drum dune dupe dure fade fame fare
fate fete file fine fire flab flag flap flat fled flip flit flog flop flub fore frat
fret frog fume fuse gale game gape gate gibe glad glib glob glum glut gone gore grab
grad gram grid grim grin grip grit grog grub kale kite kudo labe lake lame lane late
lime line lire lobe lode lone lope lore lose lube lure lute make male mane mare mate
meme mete mile mime mine mire mite mode mole mope more mote move mule muse mute name
nape nite node none nope nose note nude pale pane pare pave pile pine pipe plan plat
pled plod plop plot plug plum pole pone pope pore pose prim prod prom prop pure rake
rale rate rave ride rife rile rime ripe rise rite robe rode role rope rose rote rube
rude rule rune ruse sake sale same sane sate save side sine sire site skid skim skin
skip skit slab slag slam slap slat sled slid slim slip slit slob slog slop slot slug
slum slur snap spam span spar spat sped spin spit spot spud spun spur stab stag star
stem step stir stop stub stud stun sure tale tame tape tare tide tile time tine tire
tome tone tope tore tote trap tree trek trim trio trip trod trot true tube tune vale
vane vase vibe vile vine vise vole vote
blake bra bro demi dime feb flu fra fro gemma kim mal mala marta mel mig mike nan non
pre pride pro reg ron sim ska ski spa stu tara tre tri urdu val vin zeke
pas pri gi gu
blu dar das gan kun les lim lok mir mis nad nos pak sar ste tak tal
"""


def _english_check_set() -> frozenset[str]:
    return frozenset(_ENGLISH_CHECK.split())


@dataclass(frozen=True)
class LocalizerResult:
    """Per-unit selectivity for sentences over non-words, and the selected units.

    Parameters
    ----------
    t_values : dict of str to numpy.ndarray, each shape (n_units,)
        Welch's t, sentences minus non-words, per unit of each layer (float64). A unit
        constant within both groups gets t = 0; a unit with a non-finite activation
        gets NaN. Units of arrays with more than two axes (e.g. per-head outputs of
        shape (n_items, n_heads, d_head)) are numbered in C order.
    p_values : dict of str to numpy.ndarray, each shape (n_units,)
        One-sided p of the same test (sentences > non-words); 1 where t = 0 because
        both groups were constant, NaN where t is NaN. Not corrected for the number of
        units.
    mask : dict of str to numpy.ndarray of bool, each shape (n_units,)
        The selected (language-selective) units.
    top_percent : float
        Percentage of units selected, in (0, 100].
    scope : {"model", "layer"}
        Whether units were ranked across all layers together or within each layer.
    absolute : bool
        Whether the test compared absolute activations.
    n_sentences, n_nonwords : int
        Stimuli per group.
    """

    t_values: dict[str, np.ndarray]
    p_values: dict[str, np.ndarray]
    mask: dict[str, np.ndarray]
    top_percent: float
    scope: Scope
    absolute: bool = True
    n_sentences: int = 0
    n_nonwords: int = 0

    @property
    def layer_names(self) -> list[str]:
        """Layer names, in the order of the features."""
        return list(self.mask)

    @property
    def n_selected(self) -> dict[str, int]:
        """Selected units per layer."""
        return {name: int(mask.sum()) for name, mask in self.mask.items()}

    def selected_units(self, layer: str | int) -> np.ndarray:
        """Indices of the selected units of one layer, shape (n_selected,), ascending."""
        key = str(layer)
        if key not in self.mask:
            raise KeyError(f"no layer {layer!r}; layers are {self.layer_names}")
        return np.flatnonzero(self.mask[key])


def _check_top_percent(top_percent: float) -> float:
    if isinstance(top_percent, bool) or not isinstance(top_percent, (int, float, np.number)):
        raise ValueError(f"top_percent={top_percent!r}; it must be a number in (0, 100]")
    value = float(top_percent)
    if not (math.isfinite(value) and 0 < value <= 100):
        raise ValueError(f"top_percent={top_percent!r}; it must be in (0, 100] (percent of units)")
    return value


def _as_layers(features: Features | Mapping[str, np.ndarray], which: str) -> dict[str, np.ndarray]:
    layers = features.layers if isinstance(features, Features) else features
    if not isinstance(layers, Mapping) or not layers:
        raise ValueError(f"{which} must be Features or a non-empty mapping of layer -> array")
    out = {}
    for name, array in layers.items():
        array = np.asarray(array)
        if array.ndim < 2:
            raise ValueError(
                f"{which} layer {name!r} has shape {array.shape}; expected "
                "(n_stimuli, n_units) or more axes after the stimuli"
            )
        if array.shape[0] < 2:
            raise ValueError(
                f"{which} layer {name!r} has {array.shape[0]} stimulus; Welch's t-test "
                "needs at least 2 stimuli per group"
            )
        out[str(name)] = array.reshape(array.shape[0], -1)
    return out


def welch_t(
    positive: np.ndarray, negative: np.ndarray, *, alternative: str = "greater"
) -> tuple[np.ndarray, np.ndarray]:
    """Welch's unequal-variance t-test per column, vectorised over all columns.

    Parameters
    ----------
    positive : numpy.ndarray, shape (n_positive, n_units)
    negative : numpy.ndarray, shape (n_negative, n_units)
    alternative : {"greater", "two-sided", "less"}
        Alternative hypothesis for the p-value (as in ``scipy.stats.ttest_ind``).

    Returns
    -------
    t, p : numpy.ndarray, each shape (n_units,)
        ``scipy.stats.ttest_ind(positive, negative, equal_var=False)`` along axis 0,
        in float64, except that a column constant within both groups (zero variance in
        each; t undefined) gets t = 0 and p = 1. Columns holding a non-finite value get
        NaN.
    """
    from scipy import stats

    positive = np.asarray(positive, dtype=np.float64)
    negative = np.asarray(negative, dtype=np.float64)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_ind(
            positive, negative, axis=0, equal_var=False, alternative=alternative
        )
        t = np.array(result.statistic, dtype=np.float64, copy=True).reshape(-1)
        p = np.array(result.pvalue, dtype=np.float64, copy=True).reshape(-1)
        constant = (np.ptp(positive, axis=0) == 0) & (np.ptp(negative, axis=0) == 0)
    constant = constant.reshape(-1)
    t[constant] = 0.0
    p[constant] = 1.0
    broken = ~(np.isfinite(positive).all(axis=0) & np.isfinite(negative).all(axis=0))
    t[broken.reshape(-1)] = np.nan
    p[broken.reshape(-1)] = np.nan
    return t, p


def _top_units(t: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of the ``k`` largest finite ``t`` (ties to the lower index)."""
    key = np.where(np.isfinite(t), -t, np.inf)
    order = np.argsort(key, kind="stable")
    n_finite = int(np.isfinite(t).sum())
    mask = np.zeros(t.shape, dtype=bool)
    mask[order[: min(k, n_finite)]] = True
    return mask


def n_top_units(top_percent: float, n_units: int) -> int:
    """Number of units in the top ``top_percent`` percent: ``ceil(top_percent/100 * n)``."""
    top_percent = _check_top_percent(top_percent)
    # Round before ceil: 1% of 300 units is 3, not 4 (0.01 * 300 == 3.0000000000000004).
    return max(1, math.ceil(round(top_percent / 100 * n_units, 9)))


def language_localizer(
    sentence_features: Features | Mapping[str, np.ndarray],
    nonword_features: Features | Mapping[str, np.ndarray],
    *,
    top_percent: float = 1.0,
    scope: Scope = "model",
    absolute: bool = True,
) -> LocalizerResult:
    """Select the units that respond more to sentences than to non-words.

    Parameters
    ----------
    sentence_features : Features or mapping of str to numpy.ndarray
        Per-layer responses to the sentences, each (n_sentences, n_units) (further
        axes are flattened into units, C order).
    nonword_features : Features or mapping of str to numpy.ndarray
        Per-layer responses to the non-word strings, each (n_nonwords, n_units), with
        the same layers and unit counts.
    top_percent : float
        Percentage of units to select, in (0, 100]. Default 1, as AlKhamissi et al.
    scope : {"model", "layer"}
        ``"model"`` (default, as AlKhamissi et al.): the ``ceil(top_percent / 100 *
        n_units_total)`` units with the largest t across all layers together, so layers
        get different numbers of units. ``"layer"``: ``ceil(top_percent / 100 *
        n_units_layer)`` units within each layer.
    absolute : bool
        Compare absolute activations (default, as their code) or signed ones.

    Returns
    -------
    LocalizerResult
        Layers in the order of ``sentence_features``. Ties in t go to the unit that
        comes first (layer order, then unit index); units with a NaN t are never
        selected, so a layer or model with fewer finite units than asked for gets them
        all and no more.

    Raises
    ------
    ValueError
        For ``top_percent`` outside (0, 100], an unknown ``scope``, fewer than 2
        stimuli in a group, different layers in the two sets, or a layer whose unit
        count differs between them.
    """
    top_percent = _check_top_percent(top_percent)
    if scope not in ("model", "layer"):
        raise ValueError(f"scope={scope!r}; use 'model' or 'layer'")
    sentences = _as_layers(sentence_features, "sentence_features")
    nonwords = _as_layers(nonword_features, "nonword_features")
    if set(sentences) != set(nonwords):
        raise ValueError(
            f"the two feature sets have different layers: sentences {list(sentences)}, "
            f"non-words {list(nonwords)}; encode both with the same layers"
        )
    t_values, p_values = {}, {}
    for name, positive in sentences.items():
        negative = nonwords[name]
        if positive.shape[1] != negative.shape[1]:
            raise ValueError(
                f"layer {name!r} has {positive.shape[1]} units for the sentences but "
                f"{negative.shape[1]} for the non-words; use features of the same model"
            )
        if absolute:
            positive, negative = np.abs(positive), np.abs(negative)
        t_values[name], p_values[name] = welch_t(positive, negative)

    if scope == "layer":
        mask = {
            name: _top_units(t, n_top_units(top_percent, t.size)) for name, t in t_values.items()
        }
    else:
        flat = np.concatenate(list(t_values.values()))
        chosen = _top_units(flat, n_top_units(top_percent, flat.size))
        bounds = np.cumsum([0] + [t.size for t in t_values.values()])
        mask = {
            name: chosen[start:stop]
            for name, start, stop in zip(t_values, bounds[:-1], bounds[1:], strict=True)
        }
    first = next(iter(sentences.values()))
    return LocalizerResult(
        t_values=t_values,
        p_values=p_values,
        mask=mask,
        top_percent=top_percent,
        scope=scope,
        absolute=bool(absolute),
        n_sentences=int(first.shape[0]),
        n_nonwords=int(next(iter(nonwords.values())).shape[0]),
    )


def restrict(features: Features, result: LocalizerResult, *, concatenate: bool = False) -> Features:
    """Keep only the selected units of each layer.

    Parameters
    ----------
    features : Features
        Features of the same model (any stimuli), with every layer of ``result`` and the
        same units per layer; arrays with more than two axes are flattened into units
        (C order), as in :func:`language_localizer`.
    result : LocalizerResult
        The selection.
    concatenate : bool
        ``False`` (default): one layer per layer of ``result`` that has selected units,
        each (n_items, n_selected_in_layer); layers with none are left out. ``True``:
        one layer ``"language"`` of shape (n_items, n_selected_total), the selected
        units of every layer side by side in layer order (the "language network" as a
        whole).

    Returns
    -------
    Features
        Same items, ids, onsets; provenance gains ``"localizer"`` (top_percent, scope,
        absolute, units selected per layer).

    Raises
    ------
    ValueError
        If a layer of ``result`` is missing from ``features`` or has a different number
        of units.
    """
    layers = {}
    for name, mask in result.mask.items():
        if name not in features.layers:
            raise ValueError(
                f"features have no layer {name!r} of the localizer result; layers are "
                f"{features.layer_names}"
            )
        array = features.layers[name]
        flat = array.reshape(array.shape[0], -1)
        if flat.shape[1] != mask.size:
            raise ValueError(
                f"layer {name!r} has {flat.shape[1]} units but the localizer result has "
                f"{mask.size}; restrict features of the model that was localized"
            )
        if mask.any():
            layers[name] = np.asarray(flat[:, mask])
    if not layers:
        raise ValueError("the localizer result selects no unit (every t-value was NaN)")
    if concatenate:
        layers = {"language": np.concatenate(list(layers.values()), axis=1)}
    provenance = {
        **features.provenance,
        "localizer": {
            "top_percent": result.top_percent,
            "scope": result.scope,
            "absolute": result.absolute,
            "n_selected": result.n_selected,
        },
    }
    return Features(
        layers=layers,
        stimulus_ids=features.stimulus_ids,
        onsets=features.onsets,
        provenance=provenance,
    )


def encode_stimuli(
    encoder: TextEncoder,
    stimuli: Sequence[str],
    *,
    layers: Sequence[int] | None = None,
    pooling: StimulusPooling = "last",
    store: FeatureStore | None = None,
) -> Features:
    """One feature vector per stimulus, each stimulus read on its own.

    Parameters
    ----------
    encoder : TextEncoder
        The model. Each word's feature is read as :meth:`TextEncoder.encode_words`
        reads it (the stimulus's preceding words only, pooled over its tokens by
        ``encoder.pooling``); all stimuli run in one batched call, each as its own text.
    stimuli : sequence of str, length n_stimuli
        Each stimulus is one string; words are split on whitespace.
    layers : sequence of int, optional
        Hidden-state indices. Default: every block output, ``1 .. n_layers - 1``.
    pooling : {"last", "mean"}
        ``"last"``: the last word's feature (for a causal model, the state at the
        stimulus's last token, having read all of it). ``"mean"``: the mean over the
        stimulus's words.
    store : FeatureStore, optional
        Where the words' features are read from when present and written otherwise
        (:meth:`TextEncoder.extract`'s key: model, weights, stimuli and reading).

    Returns
    -------
    Features
        Layers ``str(index)`` of shape (n_stimuli, n_dims); ``stimulus_ids`` are
        ``0 .. n_stimuli - 1``; provenance adds ``stimulus_pooling``.

    Raises
    ------
    ValueError
        For an unknown ``pooling``, an empty stimulus list, or a stimulus that is not a
        non-empty string.
    """
    if pooling not in ("last", "mean"):
        raise ValueError(f"pooling={pooling!r}; use 'last' or 'mean'")
    if isinstance(stimuli, str) or not len(stimuli):
        raise ValueError("stimuli must be a non-empty sequence of strings, one per stimulus")
    if layers is None:
        layers = list(range(1, encoder.n_layers))
        if not layers:
            layers = [0]
    words: list[str] = []
    groups: list[int] = []
    for index, stimulus in enumerate(stimuli):
        if not isinstance(stimulus, str) or not stimulus.split():
            raise ValueError(f"stimulus {index} is {stimulus!r}; it must be a non-empty string")
        split = stimulus.split()
        words.extend(split)
        groups.extend([index] * len(split))
    group_of_word = np.asarray(groups)
    longest = int(np.bincount(group_of_word).max())
    # one batched run: each stimulus is its own text (no context crosses stimuli)
    features = encoder.extract(
        words, context="window", groups=group_of_word, layers=layers, store=store
    )
    provenance = features.provenance
    ends = np.cumsum(np.bincount(group_of_word))
    starts = ends - np.bincount(group_of_word)
    rows: dict[str, list[np.ndarray]] = {}
    for name, array in features.layers.items():
        array = np.asarray(array)
        if pooling == "last":
            rows[name] = list(array[ends - 1])
        else:
            rows[name] = [array[a:b].mean(axis=0) for a, b in zip(starts, ends, strict=True)]
    if not encoder.is_causal and longest > encoder.context_words:
        warnings.warn(
            f"the longest stimulus has {longest} words but {encoder.model_id!r} reads "
            f"each word with only {encoder.context_words} words of context; pass "
            f"context_words >= {longest} to TextEncoder to read stimuli whole",
            stacklevel=2,
        )
    provenance = {
        key: value
        for key, value in provenance.items()
        if key not in ("n_words", "n_tokens", "n_windows", "n_groups", "level")
    }
    provenance["stimulus_pooling"] = pooling
    return Features(
        layers={name: np.stack(values).astype(np.float32) for name, values in rows.items()},
        stimulus_ids=np.arange(len(stimuli)),
        provenance=provenance,
    )


def localize_model(
    encoder: TextEncoder,
    *,
    sentences: Sequence[str] | None = None,
    nonwords: Sequence[str] | None = None,
    top_percent: float = 1.0,
    scope: Scope = "model",
    layers: Sequence[int] | None = None,
    pooling: StimulusPooling = "last",
    absolute: bool = True,
    store: FeatureStore | None = None,
) -> LocalizerResult:
    """Localize the language-selective units of a text model.

    Parameters
    ----------
    encoder : TextEncoder
        The model.
    sentences, nonwords : sequence of str, optional
        The two stimulus sets (each string one stimulus, words separated by spaces).
        Default: :func:`default_localizer_stimuli`. Give both or neither.
    top_percent, scope, absolute
        As in :func:`language_localizer`.
    layers : sequence of int, optional
        Hidden-state indices. Default: every block output, ``1 .. n_layers - 1``.
    pooling : {"last", "mean"}
        Response of a unit to a stimulus: its value at the last word (default, as
        AlKhamissi et al.'s last token) or the mean over the words (see
        :func:`encode_stimuli`).
    store : FeatureStore, optional
        Keeps the stimuli's features (:func:`encode_stimuli`), so localizing the same
        model again runs no forward pass.

    Returns
    -------
    LocalizerResult

    Raises
    ------
    ValueError
        If only one of ``sentences`` and ``nonwords`` is given, a set has fewer than 2
        stimuli, or for the errors of :func:`language_localizer`.
    """
    if (sentences is None) != (nonwords is None):
        raise ValueError("give both sentences and nonwords, or neither (the default set)")
    if sentences is None:
        sentences, nonwords = default_localizer_stimuli()
    for name, stimuli in (("sentences", sentences), ("nonwords", nonwords)):
        if isinstance(stimuli, str) or len(stimuli) < 2:
            raise ValueError(
                f"{name} must be a sequence of at least 2 strings (got "
                f"{stimuli!r:.60}); Welch's t-test needs 2 stimuli per group"
            )
    _check_top_percent(top_percent)
    read = {"layers": layers, "pooling": pooling, "store": store}
    sentence_features = encode_stimuli(encoder, sentences, **read)
    nonword_features = encode_stimuli(encoder, nonwords, **read)
    return language_localizer(
        sentence_features,
        nonword_features,
        top_percent=top_percent,
        scope=scope,
        absolute=absolute,
    )


# --------------------------------------------------------------------- stimuli


def localizer_data_dir() -> Path:
    """Folder of the shipped localizer stimuli."""
    return Path(str(resources.files("brainalign.encoders") / "data" / "localizer"))


def _read_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def default_localizer_stimuli() -> tuple[list[str], list[str]]:
    """The shipped stimuli: 120 sentences and 120 matched non-word strings.

    Returns
    -------
    sentences, nonwords : list of str, each length 120
        Lower-case, unpunctuated, 12 words each; ``nonwords[i]`` matches
        ``sentences[i]`` word by word in letter count (see :func:`make_nonwords`).
    """
    directory = localizer_data_dir()
    return _read_lines(directory / "sentences.txt"), _read_lines(directory / "nonwords.txt")


def _choice(options: Sequence[str], *key: object) -> str:
    """A deterministic pick: sha256 of the key, independent of Python's ``random``."""
    digest = hashlib.sha256(":".join(map(str, key)).encode()).digest()
    return options[int.from_bytes(digest[:8], "big") % len(options)]


def _syllable(length: int, first: bool, key: tuple) -> str:
    """One syllable of 2 or 3 letters: CV or VC; CVC or CCV (VC and CCV only first)."""
    if length == 2:
        shape = _choice(("CV", "VC"), *key, "shape") if first else "CV"
    else:
        shape = _choice(("CVC", "CCV"), *key, "shape") if first else "CVC"
    if shape == "CCV":
        return _choice(_CLUSTERS, *key, "onset") + _choice(_VOWELS, *key, "nucleus")
    onset = _choice(_CONSONANTS, *key, "onset") if shape.startswith("C") else ""
    coda = _choice(_CODAS, *key, "coda") if shape.endswith("VC") else ""
    return onset + _choice(_VOWELS, *key, "nucleus") + coda


def _nonword(length: int, key: tuple) -> str:
    if length == 1:
        return _choice(_SINGLE_LETTERS, *key, "single")
    parts, remaining = [], length
    while remaining:
        if remaining in (2, 3):
            size = remaining
        elif remaining == 4:
            size = 2
        else:
            size = int(_choice(("2", "3"), *key, "size", len(parts)))
        parts.append(_syllable(size, not parts, (*key, len(parts))))
        remaining -= size
    return "".join(parts)


def make_nonwords(sentences: Sequence[str], *, seed: int = NONWORD_SEED) -> list[str]:
    """Pronounceable non-word strings matched to sentences word by word.

    For each sentence, every word is replaced by a non-word with the same number of
    letters, built from syllables (CV, VC, CVC, CCV; VC and CCV only at the start of a
    non-word; a one-letter word becomes ``e`` or ``u``) of a small inventory of
    letters. Choices come from sha256 of ``(seed, sentence index, word index, attempt,
    slot)``, so the output depends only on the sentences and the seed (no
    random-number generator whose stream could change between versions). A candidate
    is redrawn if it is a word of the built-in English check list or of the sentences;
    a whole string is redrawn if it repeats an earlier one.

    Parameters
    ----------
    sentences : sequence of str
        Lower-case words separated by spaces, letters only.
    seed : int
        Generator seed (the shipped file uses :data:`NONWORD_SEED`).

    Returns
    -------
    list of str, same length as ``sentences``

    Raises
    ------
    ValueError
        If a word holds anything but the letters a-z.
    """
    vocabulary = {word for sentence in sentences for word in sentence.split()}
    for word in vocabulary:
        if not (word.isascii() and word.isalpha() and word.islower()):
            raise ValueError(f"word {word!r} is not lower-case a-z; the generator matches letters")
    excluded = vocabulary | _english_check_set()
    out: list[str] = []
    seen: set[str] = set()
    for s_index, sentence in enumerate(sentences):
        for attempt in range(1000):
            nonwords = []
            for w_index, word in enumerate(sentence.split()):
                for redraw in range(1000):
                    candidate = _nonword(len(word), (seed, s_index, w_index, attempt, redraw))
                    if candidate not in excluded:
                        break
                else:  # pragma: no cover - the inventory is far larger than the check list
                    raise RuntimeError(f"no non-word of {len(word)} letters found")
                nonwords.append(candidate)
            string = " ".join(nonwords)
            if string not in seen:
                break
        seen.add(string)
        out.append(string)
    return out
