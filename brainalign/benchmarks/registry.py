"""Named, versioned benchmarks: a dataset, how the model reads it, a metric, a ceiling.

A :class:`Benchmark` fixes everything that makes a score comparable between models:
the catalogue dataset, how its stimuli are presented to the model (context mode and
pooling), the metric, the cross-validation, the ceiling, the aggregation and the
controls. Its id is versioned (``"simlex999@1"``): any change that can move a score
bumps ``version``, and every result row carries the versioned id in its ``benchmark``
column.

``get(name)`` accepts ``"simlex999"`` or ``"simlex999@1"``; :func:`available` lists the
ids, :func:`info` returns the record, :func:`register` adds one. Each benchmark's
runner is named as ``"module:function"`` and imported only when the benchmark runs, so
listing benchmarks imports neither torch nor the readers.

Before running, :meth:`Benchmark.run` makes sure the dataset's files are present (or
downloadable); offline with a file missing it raises :class:`MissingBenchmarkDataError`
(a :class:`~brainalign.datasets.download.NotInCacheError`) that says to run
``brainalign datasets fetch NAME``.
"""

from __future__ import annotations

import difflib
from typing import Any

from brainalign.benchmarks.benchmark import Benchmark, MissingBenchmarkDataError

__all__ = [
    "BENCHMARKS",
    "Benchmark",
    "MissingBenchmarkDataError",
    "UnknownBenchmarkError",
    "available",
    "get",
    "info",
    "register",
]


class UnknownBenchmarkError(KeyError, ValueError):
    """A benchmark name (or version) the registry does not know."""

    def __str__(self) -> str:
        return str(self.args[0])


# ----------------------------------------------------------------------------- registry

#: Every registered benchmark by id.
BENCHMARKS: dict[str, Benchmark] = {}


def register(benchmark: Benchmark, *, replace: bool = False) -> Benchmark:
    """Add a benchmark to the registry.

    Parameters
    ----------
    benchmark : Benchmark
    replace : bool
        Allow replacing an existing entry with the same id.

    Returns
    -------
    Benchmark
        The registered record.

    Raises
    ------
    ValueError
        If the id is taken and ``replace`` is False.
    """
    if not isinstance(benchmark, Benchmark):
        raise ValueError(f"register() takes a Benchmark; got {type(benchmark).__name__}")
    if benchmark.id in BENCHMARKS and not replace:
        raise ValueError(
            f"a benchmark {benchmark.id!r} is already registered; bump its version in place "
            "or pass replace=True"
        )
    BENCHMARKS[benchmark.id] = benchmark
    return benchmark


def available() -> list[str]:
    """Ids of the registered benchmarks, sorted.

    Returns
    -------
    list of str
        Shape (n_benchmarks,).
    """
    return sorted(BENCHMARKS)


def get(name: str) -> Benchmark:
    """The benchmark called ``name`` (``"simlex999"`` or versioned ``"simlex999@1"``).

    Raises
    ------
    UnknownBenchmarkError
        For an unknown name (listing the close matches and every id) or a version other
        than the registered one.
    """
    if not isinstance(name, str):
        raise UnknownBenchmarkError(f"benchmark name must be a string; got {name!r}")
    base, _, version = name.strip().partition("@")
    base = base.lower()
    if base not in BENCHMARKS:
        close = difflib.get_close_matches(base, available(), n=3, cutoff=0.6)
        if not close:  # a dataset's name (alice2016) names its benchmarks
            datasets = {b.dataset for b in BENCHMARKS.values()}
            near = set(difflib.get_close_matches(base, sorted(datasets), n=2, cutoff=0.6))
            close = [name for name in available() if BENCHMARKS[name].dataset in near][:3]
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise UnknownBenchmarkError(
            f"unknown benchmark {name!r}; {hint}available: {', '.join(available())} "
            "(see: brainalign benchmarks list)"
        )
    benchmark = BENCHMARKS[base]
    if version and version != str(benchmark.version):
        raise UnknownBenchmarkError(
            f"benchmark {base!r} has version {benchmark.version} here, not {version!r}; "
            f"use {benchmark.versioned_id} (scores of other versions are not comparable)"
        )
    return benchmark


def info(name: str) -> Benchmark:
    """Everything the registry knows about a benchmark (same lookup as :func:`get`)."""
    return get(name)


# ----------------------------------------------------------------------------- entries

_WORD_PAIRS_PRESENTATION = (
    "every word type of the dataset read alone (context='isolated': the tokenizer's special "
    "tokens around the word, no other text; one forward pass per word, batched), its "
    "representation the mean over its own tokens (pooling='mean'; special tokens excluded), "
    "at every hidden state (0 = embeddings)"
)
_TWIN = (
    "the untrained twin (weights 'untrained': same architecture, seeded random weights, "
    "same pipeline)"
)
_WORD_PAIRS_CONTROLS = (
    f"{_TWIN} and the control 'random-word-vectors' (one seeded Gaussian vector per word "
    "type, as many dimensions as the model's layers: word identity without any lexical "
    "content). Scored exactly as the model: cosine per pair, Spearman with the ratings"
)
_NORMS_CONTROLS = (
    f"{_TWIN} and the control 'random-word-vectors' (one seeded Gaussian vector per word, "
    "as many dimensions as the model's layers). Scored exactly as the model: the same "
    "ridge probe, folds and metric"
)
_SEEDED_WORDS = "the random word vectors"
_SEEDED_NORMS = "the random word vectors and the shuffled outer and inner folds"
_NORMS_CV = (
    "outer KFold(5, shuffle=True, random_state=seed) over words (items are independent, "
    "so shuffled folds leak nothing), ridge penalty per dimension chosen by an inner "
    "shuffled KFold(5) (RidgeCV), features and ratings z-scored with training-fold "
    "statistics (brainalign.alignment.encoding.cross_validated_encoding, delays (0,))"
)
_NORMS_OPTIONS = {
    "n_splits": "outer folds (default 5)",
    "inner_splits": "inner folds choosing each dimension's penalty (default 5)",
    "alphas": "ridge penalty grid (default logspace(-1, 8, 19))",
}
_NORMS_CEILING = (
    "sqrt of the reliability of the item means, estimated from the published per-item SD "
    "and number of raters: 1 - mean(SD^2 / N) / var(means) (independent rater noise assumed)"
)


def _word_pairs(name: str, citation: str, what: str) -> Benchmark:
    return Benchmark(
        id=name,
        version=1,
        dataset=name,
        description=(
            f"{what} Spearman correlation between the cosine similarity of the two words' "
            "representations and the human ratings, over all pairs, one score per layer."
        ),
        presentation=_WORD_PAIRS_PRESENTATION,
        context="isolated",
        pooling="mean",
        metric="spearman_r",
        cross_validation="none (nothing is fitted)",
        ceiling=(
            "NaN: the files hold mean ratings only, so the inter-annotator agreement cannot "
            "be derived here (the papers report it)"
        ),
        aggregation="one row per (model, layer); no aggregation over pairs beyond the correlation",
        controls=_WORD_PAIRS_CONTROLS,
        citation=citation,
        runner="brainalign.benchmarks.word_similarity:prepare",
        reads_instruction=True,
        selects_units=True,
        dataset_files=("pairs",),
        scores_heads=True,
        seeded=_SEEDED_WORDS,
    )


_ENTRIES = [
    Benchmark(
        id="alice2016-encoding",
        version=2,
        dataset="alice2016",
        description=(
            "fMRI time courses of six language ROIs of 27 listeners of Alice in Wonderland "
            "ch. 1 predicted from a language model's word features (Lanczos-resampled to "
            "volumes, FIR delays 1-4 TRs, ridge); held-out Pearson r per subject and ROI."
        ),
        presentation=(
            "the story read word by word with preceding context only (causal window for "
            "causal models, preceding 16 words for bidirectional ones), last-token pooling"
        ),
        context="window",
        pooling="last",
        metric="pearson_r",
        cross_validation=(
            "5 contiguous blocks of volumes (gap = max delay); inner blocks choose alpha"
        ),
        ceiling=(
            "leave-one-subject-out inter-subject correlation of each subject and ROI, each "
            "subject's time course z-scored before the others are averaged "
            "(brainalign.alignment.ceiling.leave_one_out_isc); NaN when one subject is scored"
        ),
        aggregation="one row per (model, layer, subject, ROI); the ROI in the unit column",
        controls=(
            f"{_TWIN}; the control 'word-rate+sound-power' (the authors' HRF-convolved "
            "regressors, with a delay of 0 volumes added to the FIR delays as they are "
            "already convolved) and the control 'position' (each word's index in the "
            "story as position_features, Lanczos-resampled like the model's features). "
            "Scored exactly as the model: the same delays, blocked folds, ridge and metric"
        ),
        citation=(
            "Brennan, J. R., Stabler, E. P., Van Wagenen, S. E., Luh, W.-M., & Hale, J. T. "
            "(2016). Brain and Language, 157-158, 81-94."
        ),
        runner="brainalign.benchmarks.alice2016:prepare",
        reads_instruction=True,
        selects_units=True,
        uses_context_words=True,
        options={
            "radius_mm": "ROI sphere radius in mm, 6 (default) or 10",
            "subjects": "score these subjects only (default: all 27), e.g. [s18, s22]",
        },
    ),
    Benchmark(
        id="lebel2023-audio-encoding",
        version=1,
        dataset="lebel2023",
        description=(
            "fMRI of every cortical voxel of LeBel et al. (2023) subject UTS01 listening to "
            "the story 'cocoonoflove', predicted from an audio model's frame features of the "
            "story's waveform (Lanczos-resampled to volumes, FIR delays 1-4 TRs, ridge); "
            "held-out Pearson r per voxel."
        ),
        presentation=(
            "the story's audio at the model's sampling rate (polyphase resampling), read in "
            "overlapping windows with every frame taken from the window where it has the "
            "most left context; one feature vector per model frame, stamped with its time"
        ),
        context="audio",
        pooling="frames",
        metric="pearson_r",
        cross_validation=(
            "5 contiguous blocks of volumes (gap = max delay); inner blocks choose alpha"
        ),
        ceiling=(
            "none: the catalogue lists one presentation of this story for one subject, so "
            "there is neither a repeat nor an inter-subject ceiling (NaN)"
        ),
        aggregation="one row per (model, layer, voxel); the voxel index in the unit column",
        controls=(
            f"{_TWIN}; the control 'sound-envelope' (the waveform's RMS envelope in 10 ms "
            "frames, Lanczos-resampled like the model's features). Scored exactly as the "
            "model: the same delays, blocked folds, ridge and metric"
        ),
        citation=(
            "LeBel, A., Wagner, L., Jain, S., et al. (2023). A natural language fMRI dataset "
            "for voxelwise encoding models. Scientific Data, 10, 555."
        ),
        runner="brainalign.benchmarks.lebel_audio:prepare",
        dataset_files=("UTS01_cocoonoflove", "audio_cocoonoflove"),
        batch_size=4,
        options={
            "voxels": "score these voxel indices only (columns of the .hf5), default all",
            "nan_to_zero": "set non-finite response values to 0, as the authors' code does",
        },
    ),
    Benchmark(
        id="meg-masc-trf",
        version=1,
        dataset="meg-masc",
        description=(
            "MEG of every sensor of MEG-MASC listeners (four stories, two sessions) predicted "
            "in time from a language model's word features: whitened principal components "
            "as impulses at the word onsets, a temporal response function from -0.1 to 0.6 s "
            "per sensor; held-out Pearson r per subject and sensor."
        ),
        presentation=(
            "each story read word by word with preceding context only (causal window for "
            "causal models, preceding 16 words for bidirectional ones), last-token pooling; "
            "each layer reduced to 16 whitened principal components fitted on the words of "
            "every story (features only) and placed as impulses at the sample nearest each "
            "word's onset"
        ),
        context="window",
        pooling="last",
        metric="pearson_r",
        cross_validation=(
            "leave one run out (a subject's runs; contiguous blocks with a gap of the lag "
            "span when there is one run); inner contiguous blocks (gap = lag span) choose "
            "each sensor's penalty; lags never cross a run's boundary"
        ),
        ceiling=(
            "the square root of each sensor's Pearson r between the two sessions of the "
            "same stories, every sound's segment aligned on its onset "
            "(brainalign.benchmarks.story_trf.session_ceiling); NaN without a repeated story"
        ),
        aggregation="one row per (model, layer, subject, sensor); the channel in the unit column",
        controls=(
            f"{_TWIN}; the control 'word-onsets' (1 at each word onset: the response to any "
            "word) and the control 'sound-envelope' (the RMS envelope of the story's audio "
            "on the MEG clock). Scored exactly as the model: the same lags, penalties, folds "
            "and metric"
        ),
        citation=(
            "Gwilliams, L., Flick, G., Marantz, A., Pylkkänen, L., Poeppel, D., & King, J.-R. "
            "(2023). Introducing MEG-MASC, a high-quality magneto-encephalography dataset for "
            "evaluating natural speech processing. Scientific Data, 10, 862."
        ),
        runner="brainalign.benchmarks.meg_masc_trf:prepare",
        reads_instruction=True,
        selects_units=True,
        uses_context_words=True,
        batch_size=8,
        options={
            "root": "the MEG-MASC BIDS folder (required; https://osf.io/ag3kj/, with "
            "stimuli/audio)",
            "subjects": "score these subjects only, e.g. [01, 02] (default: every subject)",
            "sessions": "use these sessions only, e.g. [0] (default: both, which give the ceiling)",
            "tasks": "use these tasks (stories) only, e.g. [0, 1] (default: all found)",
            "sfreq": "sampling rate of the fit in Hz (default 100; at most the recording's)",
            "l_freq": "high-pass edge in Hz before resampling (default 0.5; null for none)",
            "h_freq": "low-pass edge in Hz before resampling (default 30; null for none)",
            "tmin": "first TRF lag in seconds (default -0.1)",
            "tmax": "last TRF lag in seconds (default 0.6)",
            "n_components": "whitened principal components kept per layer (default 16)",
            "alphas": "penalties the inner folds choose from per sensor (default the TRF's "
            "grid, logspace(-1, 8, 19))",
        },
    ),
    _word_pairs(
        "simlex999",
        "Hill, F., Reichart, R., & Korhonen, A. (2015). SimLex-999. Computational "
        "Linguistics, 41(4), 665-695.",
        "SimLex-999: 999 word pairs rated for similarity (not relatedness), 0-10.",
    ),
    _word_pairs(
        "wordsim353",
        "Finkelstein, L., et al. (2002). Placing search in context: the concept revisited. "
        "ACM TOIS, 20(1), 116-131.",
        "WordSim-353: 353 word pairs rated for relatedness, 0-10.",
    ),
    _word_pairs(
        "men3k",
        "Bruni, E., Tran, N. K., & Baroni, M. (2014). Multimodal distributional semantics. "
        "JAIR, 49, 1-47.",
        "MEN: 3,000 word pairs rated for relatedness, 0-50.",
    ),
    Benchmark(
        id="glasgow-norms",
        version=1,
        dataset="glasgow-norms",
        description=(
            "Glasgow Norms: 5,553 words rated on nine dimensions (arousal, valence, "
            "dominance, concreteness, imageability, familiarity, age of acquisition, "
            "semantic size, gender association). A cross-validated ridge probe from each "
            "layer's word representation to each dimension's mean rating; held-out "
            "Pearson r per dimension."
        ),
        presentation=_WORD_PAIRS_PRESENTATION.replace("word type of the dataset", "word"),
        context="isolated",
        pooling="mean",
        metric="pearson_r",
        cross_validation=_NORMS_CV,
        ceiling=_NORMS_CEILING,
        aggregation="one row per (model, layer, dimension); the dimension in the unit column",
        controls=_NORMS_CONTROLS,
        citation=(
            "Scott, G. G., Keitel, A., Becirspahic, M., Yao, B., & Sereno, S. C. (2019). "
            "The Glasgow Norms. Behavior Research Methods, 51, 1258-1270."
        ),
        runner="brainalign.benchmarks.norms:prepare",
        reads_instruction=True,
        selects_units=True,
        scores_heads=True,
        seeded=_SEEDED_NORMS,
        options=_NORMS_OPTIONS,
        dataset_files=("norms",),
    ),
    Benchmark(
        id="things-concepts",
        version=1,
        dataset="things-concepts",
        description=(
            "THINGS: 1,854 object concepts rated on eleven dimensions (man-made, precious, "
            "lives, heavy, natural, moves, grasp, hold, be moved, pleasant, arousing; "
            "animacy.csv of THINGS-data). A cross-validated ridge probe from each layer's "
            "representation of the concept word (the 'Word' of things_concepts.tsv) to "
            "each dimension's mean rating; held-out Pearson r per dimension."
        ),
        presentation=_WORD_PAIRS_PRESENTATION.replace("word type of the dataset", "concept word"),
        context="isolated",
        pooling="mean",
        metric="pearson_r",
        cross_validation=_NORMS_CV,
        ceiling=_NORMS_CEILING,
        aggregation="one row per (model, layer, dimension); the dimension in the unit column",
        controls=_NORMS_CONTROLS,
        citation=(
            "Hebart, M. N., et al. (2019). THINGS. PLOS ONE, 14(10), e0223792; Hebart, M. N., "
            "et al. (2023). THINGS-data. eLife, 12, e82580."
        ),
        runner="brainalign.benchmarks.norms:prepare",
        reads_instruction=True,
        selects_units=True,
        scores_heads=True,
        seeded=_SEEDED_NORMS,
        options=_NORMS_OPTIONS,
        dataset_files=("concepts", "animacy"),
    ),
]


_KRIEGESKORTE_PRESENTATION = (
    "the 92 images (175 x 175 RGB, downloaded with load('kriegeskorte2008-92', "
    "images=True)) through the model's own image processor, one forward pass per image "
    "(batched); per hidden state (0 = embeddings) the mean over patch tokens (ViTs, CLS "
    "excluded) or spatial positions (ConvNets) (pooling='mean'); the layer's RDM is the "
    "correlation distance 1 - Pearson r between images (rsatoolbox 'correlation')"
)
_KRIEGESKORTE_CONTROLS = (
    f"{_TWIN} and the control 'random-image-features' (one seeded Gaussian vector per "
    "image, as many dimensions as the model's last layer: image identity without any "
    "content; expected score 0). Scored exactly as the model: correlation-distance RDM, "
    "Spearman with each data RDM"
)
_KRIEGESKORTE_CITATION = (
    "Kriegeskorte, N., Mur, M., Ruff, D. A., Kiani, R., Bodurka, J., Esteky, H., Tanaka, K., "
    "& Bandettini, P. A. (2008). Matching categorical object representations in inferior "
    "temporal cortex of man and monkey. Neuron, 60(6), 1126-1141."
)


def _kriegeskorte_rsa(name: str, runner: str, **fields: str) -> Benchmark:
    return Benchmark(
        id=name,
        version=1,
        dataset="kriegeskorte2008-92",
        presentation=_KRIEGESKORTE_PRESENTATION,
        context="image",
        pooling="mean",
        metric="spearman_r",
        cross_validation="none (nothing is fitted)",
        controls=_KRIEGESKORTE_CONTROLS,
        citation=fields.pop("citation", _KRIEGESKORTE_CITATION),
        runner=runner,
        scores_heads=True,
        seeded="the random image features",
        options={"conditions": "score these images only (indices 0..91, at least 3)"},
        dataset_files=("images",),
        **fields,
    )


_ENTRIES += [
    _kriegeskorte_rsa(
        "kriegeskorte2008-hit-rsa",
        "brainalign.benchmarks.image_rsa:prepare_human_it",
        description=(
            "Kriegeskorte et al. 2008: the RDM of a vision model's layer over the 92 object "
            "images compared with the human IT fMRI RDM of each of 4 subjects x 2 sessions "
            "by Spearman correlation (the paper's comparison; the network's RDM is "
            "continuous, so Kendall tau-a's handling of tied predictions is not needed)."
        ),
        ceiling=(
            "upper bound of the RSA noise ceiling over the 8 human-IT RDMs "
            "(brainalign.alignment.rsa.rdm_noise_ceiling, Spearman; each RDM with the mean "
            "rank-RDM of all 8); the lower bound (each with the mean of the other 7, the "
            "subject's other session included) is in the ceiling_lower column"
        ),
        aggregation=(
            "one row per (model, layer, subject, session), unit 'hIT'; the session in the "
            "session column"
        ),
    ),
    _kriegeskorte_rsa(
        "kriegeskorte2008-mit-rsa",
        "brainalign.benchmarks.image_rsa:prepare_monkey_it",
        description=(
            "Kriegeskorte et al. 2008: the RDM of a vision model's layer over the 92 object "
            "images compared with the monkey IT RDM of figure 1 (674 neurons of two "
            "monkeys, Kiani et al. 2007) by Spearman correlation."
        ),
        ceiling=(
            "NaN: one RDM pooled over two animals, so no between-animal consistency can "
            "be estimated"
        ),
        aggregation="one row per (model, layer), subject 'monkeys-pooled', unit 'mIT'",
    ),
    _kriegeskorte_rsa(
        "kriegeskorte2008-judgement-rsa",
        "brainalign.benchmarks.turing_rsa:prepare",
        description=(
            "Person-level ('Turing') RSA: the RDM of a vision model's layer over the 92 "
            "object images compared with the similarity-judgement RDM of each of 16 people "
            "(Mur et al. 2013) and with their pooled RDM, by Spearman correlation; the "
            "group score is placed within the spread of each person's consistency with the "
            "other 15 (human_percentile, human_median)."
        ),
        ceiling=(
            "person rows: upper bound of the RSA noise ceiling over the 16 people "
            "(brainalign.alignment.rsa.rdm_noise_ceiling, Spearman), the lower bound in "
            "ceiling_lower; group rows: none (compared with the people's own pooled RDM, "
            "placed by human_percentile instead)"
        ),
        aggregation=(
            "per (model, layer[, head]): one row per person (unit 'judgements') and one for "
            "the group (subject 'group', unit 'judgements-pooled', with human_percentile "
            "and human_median)"
        ),
        citation=(
            "Mur, M., Meys, M., Bodurka, J., Goebel, R., Bandettini, P. A., & Kriegeskorte, "
            "N. (2013). Human object-similarity judgments reflect and transcend the "
            "primate-IT object representation. Frontiers in Psychology, 4, 128."
        ),
    ),
]

_ENTRIES += [
    Benchmark(
        id="futrell2018-surprisal",
        version=2,
        dataset="futrell2018",
        description=(
            "Natural Stories self-paced reading (Futrell et al. 2018): how well a causal "
            "language model's per-word surprisal (bits, summed over the word's tokens) "
            "predicts the mean reading time over readers, over all words except the first "
            "of each sentence: held-out Pearson r of a linear fit of reading time on "
            "surprisal, each story predicted from a fit to the other stories. Brain-Score's "
            "Futrell2018-pearsonr (the unfitted r) is kept in the raw_pearson_r column."
        ),
        presentation=(
            "each story read as its words joined by single spaces, the BOS token (where the "
            "model has one) first; surprisal -log2 p(word | preceding words of the story) "
            "from the LM head, sliding windows of the model's maximum length with at least "
            "half a window of left context; context never crosses stories"
        ),
        context="passage",
        pooling="sum of the word's token surprisals",
        metric="pearson_r",
        cross_validation=(
            "leave-one-story-out: ordinary least squares of reading time on the predictor "
            "(with an intercept), fitted to the other stories' words, predicts each story's; "
            "Pearson r of all held-out predictions with the reading times"
        ),
        ceiling=(
            "square root of the reliability of the mean RT across readers over the scored "
            "words, 1 - mean(SD^2 / N) / var(means): the expected Spearman-Brown corrected "
            "split-half consistency (Brain-Score divides by the reliability itself; its "
            "per-reader resampling needs processed_RTs.tsv, which the catalogue does not "
            "fetch): reliability 0.832, ceiling 0.912 on the full corpus"
        ),
        aggregation=(
            "one row per model (layer missing: the LM head, not a layer), subject 'mean', "
            "unit 'reading_time'; n_words, n_sentence_initial and n_missing columns give "
            "the exclusions"
        ),
        controls=(
            f"{_TWIN} and the control 'story-position' (the word's position in its story "
            "instead of surprisal: no stimulus content beyond position). Scored exactly as "
            "the model: the same held-out linear fit, so a predictor that explains as much "
            "reading-time variance scores as high whatever the sign of its correlation"
        ),
        citation=(
            "Futrell, R., Gibson, E., Tily, H. J., Blank, I., Vishnevetsky, A., Piantadosi, "
            "S. T., & Fedorenko, E. (2021). The Natural Stories corpus. Language Resources "
            "and Evaluation, 55, 63-77."
        ),
        runner="brainalign.benchmarks.futrell2018:prepare",
        dataset_files=("processed_wordinfo",),
        uses_layers=False,
        layers_note="it scores the LM head's next-word surprisal, which belongs to no layer",
        batch_size=8,
        options={
            "stories": "score these stories only (1..10, at least 2), e.g. [1, 2]",
            "window": "tokens per sliding window (default: the model's maximum length)",
            "min_context": "least left context of a window in tokens (default: half a window)",
        },
    ),
]


_TRIPLETS_CITATION = (
    "Hebart, M. N., et al. (2023). THINGS-data. eLife, 12, e82580; Hebart, M. N., Zheng, C. Y., "
    "Pereira, F., & Baker, C. I. (2020). Nature Human Behaviour, 4, 1173-1185; Muttenthaler, "
    "L., et al. (2023). Human alignment of neural network representations. ICLR 2023."
)
_TRIPLETS_OPTIONS = {
    "triplets": "path of a THINGS odd-one-out triplet file (required; e.g. validationset.txt)",
    "ceiling_triplets": (
        "path of a triplet file with repeated triplets for the ceiling (default: the scored "
        "file's own repeats)"
    ),
    "similarity": "'cosine' (default, Muttenthaler et al. 2023) or 'dot' (SPoSE)",
}


def _things_triplets(name: str, runner: str, **fields: Any) -> Benchmark:
    return Benchmark(
        id=name,
        version=1,
        dataset="things-triplets",
        pooling="mean",
        metric="odd_one_out_accuracy",
        cross_validation="none (nothing is fitted)",
        ceiling=(
            "mean agreement with each repeated triplet's most frequent answer (Hebart et al. "
            "2023; an upper bound); the expected accuracy of predicting each answer by the "
            "majority of the other answers is in ceiling_lower "
            "(brainalign.alignment.triplets.odd_one_out_ceiling); NaN without repeats"
        ),
        aggregation=(
            "one row per (model, layer[, head]) over all trials of the file, subject 'all', "
            "unit 'odd_one_out'; chance (1/3), n_triplets, n_concepts, ceiling_lower and "
            "ceiling_sets columns"
        ),
        controls=(
            f"{_TWIN} and the control 'random-concept-vectors' (one seeded Gaussian vector "
            "per concept, as many dimensions as the model's last layer: concept identity "
            "without content; expected accuracy 1/3). Scored exactly as the model"
        ),
        citation=_TRIPLETS_CITATION,
        runner=runner,
        scores_heads=True,
        seeded="the random concept vectors",
        **fields,
    )


_ENTRIES += [
    _things_triplets(
        "things-triplets-words",
        "brainalign.benchmarks.triplets:prepare_words",
        description=(
            "THINGS odd-one-out (Hebart et al. 2023): for each trial, the model's odd one out "
            "is the concept outside the pair whose word representations are most similar "
            "(cosine, or dot product with the option similarity); accuracy = fraction of "
            "trials where it is the participant's choice."
        ),
        presentation=_WORD_PAIRS_PRESENTATION.replace(
            "word type of the dataset", "concept's word (the 'Word' of things_concepts.tsv)"
        ),
        context="isolated",
        reads_instruction=True,
        selects_units=True,
        options=_TRIPLETS_OPTIONS,
    ),
    _things_triplets(
        "things-triplets-images",
        "brainalign.benchmarks.triplets:prepare_images",
        description=(
            "THINGS odd-one-out (Hebart et al. 2023) on images: for each trial, the model's "
            "odd one out is the concept outside the pair whose image representations are "
            "most similar (cosine, or dot product with the option similarity); accuracy = "
            "fraction of trials matching the participant."
        ),
        presentation=(
            "one image per concept from the folder given as the option images (the THINGS "
            "images are licence-restricted: the user supplies them), through the model's "
            "own image processor; per hidden state (0 = embeddings) the mean over patch "
            "tokens (ViTs, CLS excluded) or spatial positions (ConvNets)"
        ),
        context="image",
        options={
            **_TRIPLETS_OPTIONS,
            "images": (
                "folder of concept images (required): <uniqueID>.<ext> files or <uniqueID>/ "
                "subfolders (first image by name)"
            ),
        },
    ),
]


_LANGUAGE_RIDGE_CV = (
    "outer GroupKFold by {unit} ({n_splits} folds, fewer when there are fewer groups; a "
    "{unit} is never split between training and test), ridge penalty per unit chosen by an "
    "inner GroupKFold(5) over the training {unit}s, features and responses z-scored with "
    "training-fold statistics, no delays (brainalign.alignment.encoding."
    "cross_validated_encoding); fold_by= groups by another presentation coordinate"
)
_LANGUAGE_RIDGE_CONTROLS = (
    _TWIN + " and the control 'position' (position_features: only the position of each "
    "item within its {unit}: index, log(1 + index), relative position, two sine/cosine "
    "pairs; no content). Scored exactly as the model: the same folds, ridge and metric"
)
_LANGUAGE_RIDGE_AGGREGATION = (
    "held-out Pearson r per voxel or electrode (mean over folds); one row per (model, "
    "layer, subject, ROI), the ROI in the unit column, holding the median over that "
    "subject's voxels or electrodes of the ROI (n_units); head rows with heads=True"
)
_LANGUAGE_RIDGE_OPTIONS = {
    "n_splits": "outer group folds (default per benchmark; fewer when there are fewer groups)",
    "inner_splits": "inner group folds choosing each unit's penalty (default 5)",
    "alphas": "ridge penalty grid (default logspace(-1, 8, 19))",
    "fold_by": "a presentation coordinate grouping the folds instead of the default group",
    "n_harmonics": "sine/cosine pairs of the position control (default 2)",
}


def _language_ridge(
    name: str, dataset: str, unit: str, n_splits: int, version: int = 1, **fields: str
) -> Benchmark:
    return Benchmark(
        id=name,
        version=version,
        dataset=dataset,
        pooling="last",
        metric="pearson_r",
        cross_validation=_LANGUAGE_RIDGE_CV.format(unit=unit, n_splits=n_splits),
        aggregation=_LANGUAGE_RIDGE_AGGREGATION,
        controls=_LANGUAGE_RIDGE_CONTROLS.format(unit=unit),
        runner="brainalign.benchmarks.language_ridge:prepare",
        reads_instruction=True,
        selects_units=True,
        scores_heads=True,
        options=_LANGUAGE_RIDGE_OPTIONS,
        uses_context_words=fields.get("context") == "window",
        dataset_files=("fROI",) if dataset == "blank2014" else ("language",),
        **fields,
    )


_PEREIRA_CITATION = (
    "Pereira, F., Lou, B., Pritchett, B., Ritter, S., Gershman, S. J., Kanwisher, N., "
    "Botvinick, M., & Fedorenko, E. (2018). Toward a universal decoder of linguistic meaning "
    "from brain activation. Nature Communications, 9, 963."
)
_PEREIRA_PRESENTATION = (
    "the sentences of each passage in reading order (stimulus_num), each read after the "
    "earlier sentences of its passage (context='passage'), last-token pooling, every hidden "
    "state (as Brain-Score digests Pereira passage by passage)"
)
_LOSO_ENCODING_CEILING = (
    "attrs['ceiling'] of the assembly when present; else per (subject, ROI) the median over "
    "the subject's units of how well the other subjects' units predict them (same ridge "
    "pipeline and folds; no extrapolation to more subjects, unlike Brain-Score)"
)

_ENTRIES += [
    _language_ridge(
        f"pereira2018-{n}-ridge",
        "pereira2018",
        "passage",
        5,
        description=(
            f"Pereira et al. 2018, experiment with {n} sentences (Brain-Score assembly "
            "Pereira2018.language, language-network voxels): each voxel's response to a "
            "sentence predicted from a layer's features by cross-validated ridge; held-out "
            "Pearson r."
        ),
        presentation=_PEREIRA_PRESENTATION,
        context="passage",
        ceiling=_LOSO_ENCODING_CEILING,
        citation=_PEREIRA_CITATION,
    )
    for n in ("243", "384")
] + [
    _language_ridge(
        "blank2014-ridge",
        "blank2014",
        "story",
        8,
        version=2,
        description=(
            "Blank et al. 2014 (Brain-Score assembly Blank2014.fROI): language fROI time "
            "courses of story listening, one row per TR with the words heard in it (shifted "
            "by 4 s by Brain-Score), predicted by cross-validated ridge; held-out Pearson r."
        ),
        presentation=(
            "each story's TR word chunks in time order (timepoint_value), each read after "
            "the earlier chunks of its story (context='passage'), last-token pooling"
        ),
        context="passage",
        ceiling=(
            "attrs['ceiling'] of the assembly when present; else the leave-one-subject-out "
            "inter-subject correlation of each subject's fROI, time courses z-scored within "
            "each story (same fROIs in every subject; else the leave-one-subject-out "
            "encoding ceiling)"
        ),
        citation=(
            "Blank, I., Kanwisher, N., & Fedorenko, E. (2014). A functional dissociation "
            "between language and multiple-demand systems revealed in patterns of BOLD "
            "signal fluctuations. Journal of Neurophysiology, 112(5), 1105-1118."
        ),
    ),
    _language_ridge(
        "fedorenko2016-ridge",
        "fedorenko2016",
        "sentence",
        5,
        description=(
            "Fedorenko et al. 2016 (Brain-Score assembly Fedorenko2016.language): ECoG "
            "high-gamma of language-responsive electrodes to each word of 8-word sentences, "
            "predicted by cross-validated ridge; held-out Pearson r; unit 'language'."
        ),
        presentation=(
            "the words of each sentence read in order as continuous text (context='window', "
            "one text per sentence), each word's last token"
        ),
        context="window",
        ceiling=_LOSO_ENCODING_CEILING,
        citation=(
            "Fedorenko, E., Scott, T. L., Brunner, P., Coon, W. G., Pritchett, B., Schalk, "
            "G., & Kanwisher, N. (2016). Neural correlate of the construction of sentence "
            "meaning. PNAS, 113(41), E6256-E6262."
        ),
    ),
    _language_ridge(
        "tuckute2024-ridge",
        "tuckute2024",
        "sentence",
        10,
        description=(
            "Tuckute et al. 2024 (Brain-Score assembly Tuckute2024.language): the left "
            "language network's response to 1,000 single sentences, averaged over 5 "
            "subjects, predicted by cross-validated ridge; held-out Pearson r."
        ),
        presentation=(
            "each sentence alone (context='isolated'), last-token pooling; the position "
            "control uses the index of the sentence's last word"
        ),
        context="isolated",
        ceiling=(
            "attrs['ceiling'] of the assembly when present; else NaN: one neuroid averaged "
            "over subjects, so no inter-subject ceiling (Brain-Score has none either)"
        ),
        citation=(
            "Tuckute, G., Sathe, A., Srikant, S., Taliaferro, M., Wang, M., Schrimpf, M., "
            "Kay, K., & Fedorenko, E. (2024). Driving and suppressing the human language "
            "network using large language models. Nature Human Behaviour, 8, 544-561."
        ),
    ),
]


for _entry in _ENTRIES:
    register(_entry)
