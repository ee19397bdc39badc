"""The entries of the dataset catalogue: what each dataset is, where it comes from, how to load it.

Each dataset is one :class:`DatasetInfo` in :data:`REGISTRY`. This module imports only the
standard library and :mod:`brainalign.datasets.download` at import time (so
``brainalign datasets list`` is fast); every loader imports its reader when called.

Access kinds
------------
``bundled``
    The files ship inside the package; :func:`~brainalign.datasets.catalogue.load` works
    offline at once.
``download``
    The files are downloaded on first use from their published address into the cache
    (``BRAINALIGN_DATA``, see :mod:`brainalign.datasets.download`), checked against the
    checksum listed here, and read by the entry's loader.
``download-only``
    The catalogue knows published files and their checksums
    (:func:`~brainalign.datasets.catalogue.fetch` downloads them), but brainalign has no
    loader for them yet: read the fetched files with the readers named in ``how_to_get``.
``local path``
    No file can be downloaded automatically (registration, a data-use agreement, or no
    published checksum): obtain the data as ``how_to_get`` says and pass ``path=`` to
    ``load``.

Checksums
---------
SHA-256 where the file was checked here (computed from a local copy that is the same git
blob as the published file); otherwise the publisher's own checksum: SHA-1 for Brain-Score
assemblies (``load_from_s3(..., sha1=...)`` in brain-score/language) and MD5 from the
git-annex keys (``MD5E-s<size>--<md5>``) of OpenNeuro's GitHub mirrors. Each entry's
``checksum_source`` says which.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from brainalign.datasets.download import RemoteFile

Access = Literal["bundled", "download", "download-only", "local path"]
ACCESS_KINDS: tuple[str, ...] = ("bundled", "download", "download-only", "local path")
#: ``get(key)`` returns the local path of the entry's file ``key`` (fetching it if needed).
FileGetter = Callable[[str], Path]


class CatalogueError(ValueError):
    """A dataset cannot be loaded as asked (missing ``path=``, no loader, bad option)."""


@dataclass(frozen=True)
class DatasetInfo:
    """Everything the catalogue knows about one dataset.

    Parameters
    ----------
    name : str
        Catalogue name (lower case, ``-`` separated), e.g. ``"pereira2018"``.
    title : str
        One line: what the data are.
    description : str
        A paragraph: what was measured, how it is organised, caveats.
    modality : str
        ``fmri``, ``ecog``, ``meg``, ``eeg``, ``behaviour`` or ``rsa`` (precomputed RDMs).
    subjects : str
        Who was measured (number of participants, or animals).
    stimuli : str
        What was presented.
    size : str
        Download or bundle size (as published; "unknown" where not published).
    citation : str
        The paper to cite.
    licence : str
        Licence of the data as stated by the publisher (or "not stated").
    access : {"bundled", "download", "download-only", "local path"}
        See the module documentation.
    how_to_get : str
        What a user does to obtain the data (also for bundled and downloaded entries).
    returns : str
        What ``load(name)`` returns and its options.
    files : mapping of str to RemoteFile
        The downloadable files by key (empty for bundled and local-path entries).
    checksum_source : str
        Where the checksums of ``files`` come from ("" when there are no files).
    loader : callable, optional
        ``loader(get, **options)``; ``get(key)`` gives the local path of ``files[key]``.
        ``None`` for download-only entries.
    bundled : tuple of str
        Package-relative paths of bundled files (``data/<folder>/<file>``).
    url : str
        Home page of the dataset.
    """

    name: str
    title: str
    description: str
    modality: str
    subjects: str
    stimuli: str
    size: str
    citation: str
    licence: str
    access: Access
    how_to_get: str
    returns: str
    files: Mapping[str, RemoteFile] = field(default_factory=dict)
    checksum_source: str = ""
    loader: Callable[..., Any] | None = None
    bundled: tuple[str, ...] = ()
    url: str = ""

    def __post_init__(self) -> None:
        if self.access not in ACCESS_KINDS:
            raise ValueError(
                f"DatasetInfo {self.name!r}: access={self.access!r} must be one of {ACCESS_KINDS}"
            )
        if self.access in ("download", "download-only") and not self.files:
            raise ValueError(f"DatasetInfo {self.name!r}: access={self.access!r} needs files")
        if self.access != "download-only" and self.loader is None:
            raise ValueError(f"DatasetInfo {self.name!r}: access={self.access!r} needs a loader")


# ----------------------------------------------------------------------------- helpers


def _github_raw(repo: str, commit: str, path: str) -> str:
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"


def _no_options(name: str, options: dict[str, Any]) -> None:
    if options:
        raise CatalogueError(f"{name}: unknown option(s) {sorted(options)}; it takes none")


def _choice(name: str, option: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise CatalogueError(f"{name}: {option}={value!r} is not one of {list(allowed)}")
    return value


def _require_path(name: str, path: str | os.PathLike | None, how_to_get: str) -> Path:
    if path is None:
        raise CatalogueError(
            f"{name} cannot be downloaded by brainalign; get it yourself and pass its folder: "
            f"load({name!r}, path=...). {how_to_get}"
        )
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{name}: path={str(path)!r} does not exist")
    return path


# ----------------------------------------------------------------------------- loaders


def _load_alice2016(get: FileGetter, **options: Any) -> Any:
    from brainalign.datasets.alice2016 import load_alice2016

    return load_alice2016(**options)


def _load_futrell2018(get: FileGetter, **options: Any) -> Any:
    from brainalign.datasets.behaviour import read_natural_stories

    _no_options("futrell2018", options)
    recording = read_natural_stories(get("processed_wordinfo"))
    recording.meta["name"] = "futrell2018"
    return recording


def _kriegeskorte_dir() -> Path:
    from importlib import resources

    return Path(str(resources.files("brainalign.datasets") / "data" / "kriegeskorte2008_92"))


def _load_kriegeskorte2008(get: FileGetter, images: bool = False, **options: Any) -> Any:
    from brainalign.datasets.loaders import load_kriegeskorte2008_92

    _no_options("kriegeskorte2008-92", options)
    if not isinstance(images, bool):
        raise CatalogueError(f"kriegeskorte2008-92: images={images!r}; use True or False")
    images_file = get("images") if images else None
    return load_kriegeskorte2008_92(_kriegeskorte_dir(), images_file=images_file)


THINGS_TABLES = ("concepts", "animacy", "size")


def _load_things(get: FileGetter, table: str = "concepts", **options: Any) -> Any:
    from brainalign.datasets.behaviour import read_things_concepts

    _choice("things-concepts", "table", table, THINGS_TABLES)
    return read_things_concepts(get(table), **options)


def _load_things_triplets(get: FileGetter, path: Any = None, **options: Any) -> Any:
    import dataclasses

    from brainalign.datasets.behaviour import read_triplets
    from brainalign.datasets.catalogue import load

    _no_options("things-triplets", options)
    file = _require_path("things-triplets", path, REGISTRY["things-triplets"].how_to_get)
    if file.is_dir():
        raise CatalogueError(
            f"things-triplets: path={str(file)!r} is a folder; pass one triplet file (e.g. "
            "its validationset.txt)"
        )
    stimuli = load("things-concepts", table="concepts").stimuli
    triplets = read_triplets(file, concepts=list(stimuli.stimulus_ids))
    concepts = triplets.concepts.assign(word=stimuli.text)
    meta = {**triplets.meta, "name": "things-triplets", "concept_table": "things-concepts"}
    return dataclasses.replace(triplets, concepts=concepts, meta=meta)


def _word_pairs_loader(name: str) -> Callable[..., Any]:
    def load_pairs(get: FileGetter, **options: Any) -> Any:
        from brainalign.datasets.behaviour import read_word_pairs

        _no_options(name, options)
        return read_word_pairs(get("pairs"), name=name, duplicates="record")

    load_pairs.__name__ = f"_load_{name}"
    return load_pairs


def _load_glasgow(get: FileGetter, **options: Any) -> Any:
    from brainalign.datasets.behaviour import read_glasgow_norms

    _no_options("glasgow-norms", options)
    return read_glasgow_norms(get("norms"))


def _brainscore_loader(name: str, keys: tuple[str, ...]) -> Callable[..., Any]:
    def load_assembly(get: FileGetter, **options: Any) -> Any:
        from brainalign.datasets.loaders import read_brainscore_assembly

        key = options.pop("assembly", keys[0])
        _choice(name, "assembly", key, keys)
        experiment = options.pop("experiment", None)
        _no_options(name, options)
        recording = read_brainscore_assembly(get(key), experiment=experiment)
        recording.meta["name"] = name
        return recording

    load_assembly.__name__ = f"_load_{name}"
    return load_assembly


def _local_meg_masc(get: FileGetter, path: Any = None, **options: Any) -> Any:
    from brainalign.datasets.meg_masc import load_meg_masc

    root = _require_path("meg-masc", path, REGISTRY["meg-masc"].how_to_get)
    if "subject" not in options or "task" not in options:
        raise CatalogueError(
            "meg-masc: pass subject= and task= (e.g. subject='01', task='0', session='0') "
            "to load one run of the BIDS dataset with load_meg_masc"
        )
    return load_meg_masc(root, **options)


def _load_lebel2023(
    get: FileGetter,
    subject: str = "UTS01",
    story: str = "cocoonoflove",
    textgrid: Any = None,
    **options: Any,
) -> Any:
    from brainalign.datasets.loaders import read_lebel_responses

    entry = REGISTRY["lebel2023"]
    key = f"{subject}_{story}"
    if key not in entry.files:
        listed = [k.replace("_", "/", 1) for k in entry.files if not k.startswith("textgrid_")]
        raise CatalogueError(
            f"lebel2023: subject={subject!r}, story={story!r} is not among the listed files "
            f"{listed}; for another story download its .hf5 from OpenNeuro and call "
            "brainalign.datasets.loaders.read_lebel_responses"
        )
    unknown = sorted(set(options) - {"tr", "first_onset", "nan_to_zero"})
    if unknown:
        raise CatalogueError(
            f"lebel2023: unknown option(s) {unknown}; it takes subject, story, textgrid, tr, "
            "first_onset, nan_to_zero"
        )
    if textgrid is None and f"textgrid_{story}" in entry.files:
        textgrid = get(f"textgrid_{story}")
    return read_lebel_responses(
        get(key), subject=subject, story=story, textgrid=textgrid, **options
    )


def _load_narratives(get: FileGetter, masker: Any = "epi", **options: Any) -> Any:
    from brainalign.datasets.loaders import load_narratives_run

    return load_narratives_run(
        get("sub-022_tunnel_bold"),
        get("sub-022_tunnel_events"),
        subject="022",
        task="tunnel",
        masker=masker,
        **options,
    )


def _no_reader(name: str, advice: str) -> Callable[..., Any]:
    def load_local(get: FileGetter, path: Any = None, **options: Any) -> Any:
        _require_path(name, path, REGISTRY[name].how_to_get)
        raise CatalogueError(f"{name}: brainalign has no reader for this dataset yet; {advice}")

    load_local.__name__ = f"_load_{name}"
    return load_local


# ----------------------------------------------------------------------------- constants

NATURAL_STORIES_COMMIT = "4700daad696e942f5aba23c957a7423d0de66612"
EVAL_WORD_VECTORS_COMMIT = "94b3dd9fdbac7ed08dbee7179cd5ee464acf0594"
THINGS_DATA_COMMIT = "5e0eccac51eac78b57045f5b90b4f53814f56c32"
THINGSVISION_COMMIT = "57e91c9754dfea8579ffc58c0ae42d9dc60080af"
IATLANG_COMMIT = "451e273ec9adaf3ca6755108793f358958559c6c"
RSATOOLBOX_COMMIT = "f1f83cadb7243492a1aae7460466e0f0140b20ac"
BRAINSCORE_S3 = "https://brainscore-language.s3.amazonaws.com"
OPENNEURO_S3 = "https://s3.amazonaws.com/openneuro.org"

_LOCAL_COPY = (
    "SHA-256 computed here from a local copy that is the same git blob as the published file "
    "(blob id checked with `git hash-object`)"
)
_BRAINSCORE_CHECKSUMS = (
    "SHA-1 published by Brain-Score (brain-score/language, brainscore_language/data/<name>/"
    "__init__.py: load_from_s3(identifier, version_id, sha1)); the file is "
    "assy_<identifier with . -> _>.nc in the brainscore-language S3 bucket"
)
_BRAINSCORE_HOW = (
    "Downloaded on first use from Brain-Score's public S3 bucket (no account needed): "
    "brainalign datasets fetch {name}. Offline: download the URL(s) below and save each at the "
    "cache path shown by `brainalign datasets fetch {name}` with BRAINALIGN_OFFLINE=1."
)
_ASSEMBLY_RETURNS = (
    "Recording (read_assembly): data (n_presentations, n_neuroids) float32, samples = the "
    "presentation coordinates, units = the neuroid coordinates (subject, roi ...), "
    "sampling 'event'. Neuroids that are NaN for every selected presentation (subjects not "
    "in an experiment) are dropped."
)


#: (story, md5, size) of UTS01's preprocessed responses listed for lebel2023.
LEBEL_RESPONSES = (
    ("cocoonoflove", "63230548f784281336f8bedadffedaf8", 278426480),
    ("onlyonewaytofindout", "37eea7b53400d641423438ba4c6fb80b", 247923104),
    ("wheretheressmoke", "4d4a9bbc212e79a695ec1e047489fc20", 2077476776),
)
#: (story, md5, size) of the story audio listed for lebel2023 (stimuli/<story>.wav).
LEBEL_AUDIO = (
    ("cocoonoflove", "7f3b542b65530aec742ffbbda6da94d1", 155185372),
    ("penpal", "8fc441960af5c1f60807e48886eb8619", 93670716),
)
#: (story, md5, size) of Narratives story audio besides tunnel (stimuli/<story>_audio.wav),
#: from the git-annex keys of OpenNeuroDatasets/ds002345.
NARRATIVES_AUDIO = (
    ("forgot", "d80ec3cc7ec4bbb03205eb47677e1127", 73823628),
    ("merlin", "64a6933a7e6985539dee53f48f619e67", 29287376),
    ("milkywayvodka", "8f08e1042439f716b385d61bcf51ac59", 84095504),
    ("piemanpni", "01dfd0de4a757c0bd6587a3acab5f025", 13293148),
    ("prettymouth", "942177fdc98190fcc63184a57d63adaa", 125596792),
    ("santa", "3ea42691a8934f54a2c1cc915d1c4b23", 33751118),
    ("shapessocial", "9f3d79557742571db71035f306038086", 87846990),
)
#: (story, md5, size) of the TextGrids listed for lebel2023.
LEBEL_TEXTGRIDS = (
    ("bluehope", "285856bac872db55861cc4febbfef631", 1153885),
    ("comingofageondeathrow", "871509def4d4f90033d596e0c0f230ab", 1221813),
    ("theadvancedbeginner", "b591a6e50a7bea41a655f90d27342533", 866518),
    ("thepostmanalwayscalls", "1542941f1973481eef5da4aeaaf0d0af", 1213306),
)


def _openneuro_file(dataset: str, path: str, md5: str, size: int) -> RemoteFile:
    """A file of an OpenNeuro dataset on its public S3 bucket, with its git-annex MD5."""
    return RemoteFile(
        url=f"{OPENNEURO_S3}/{dataset}/{path}",
        md5=md5,
        filename=f"{dataset}/{path}",
        size=size,
        licence="CC0",
    )


def _word_pairs_entry(
    name: str, filename: str, sha256: str, size: int, *, title: str, citation: str, extra: str
) -> DatasetInfo:
    return DatasetInfo(
        name=name,
        title=title,
        description=(
            f"Human similarity or relatedness ratings of word pairs, one pair per line "
            f"(word, word, rating), as redistributed in mfaruqui/eval-word-vectors "
            f"(data/word-sim/{filename}). {extra}"
        ),
        modality="behaviour",
        subjects="crowd-sourced or lab raters (see the paper)",
        stimuli="English word pairs",
        size=f"{size / 1000:.0f} kB",
        citation=citation,
        licence=(
            "the dataset's own terms (research use; see the paper's release page); the "
            "eval-word-vectors repository is MIT. Not bundled with brainalign."
        ),
        access="download",
        how_to_get=(
            f"Downloaded on first use from GitHub (eval-word-vectors at commit "
            f"{EVAL_WORD_VECTORS_COMMIT[:8]}): brainalign datasets fetch {name}."
        ),
        returns=(
            "Recording (read_word_pairs): data (n_pairs, 1) float32 ratings; samples and "
            "stimuli with word1, word2. No options."
        ),
        files={
            "pairs": RemoteFile(
                url=_github_raw(
                    "mfaruqui/eval-word-vectors",
                    EVAL_WORD_VECTORS_COMMIT,
                    f"data/word-sim/{filename}",
                ),
                sha256=sha256,
                filename=f"{name}/{filename}",
                size=size,
                licence="research use (dataset's own terms)",
            )
        },
        checksum_source=_LOCAL_COPY,
        loader=_word_pairs_loader(name),
        url="https://github.com/mfaruqui/eval-word-vectors",
    )


# ----------------------------------------------------------------------------- entries

_ENTRIES: list[DatasetInfo] = [
    DatasetInfo(
        name="alice2016",
        title="Brennan et al. 2016: fMRI ROI time courses, listening to Alice in Wonderland ch. 1",
        description=(
            "fMRI (TR 2 s, 362 volumes after discarding 10) while participants listened to "
            "12 minutes of the first chapter of Alice in Wonderland: time courses of six "
            "left/right language ROIs (LATL RATL LPTL LIPL LPreM LIFG; 6 or 10 mm spheres), "
            "the word-level TextGrid, and the authors' word-rate and sound-power regressors. "
            "Subject s33 is excluded (all-zero time courses)."
        ),
        modality="fmri",
        subjects="27 usable adults (28 released)",
        stimuli="2,127 spoken words (audiobook, 12 min)",
        size="0.6 MB (bundled)",
        citation=(
            "Brennan, J. R., Stabler, E. P., Van Wagenen, S. E., Luh, W.-M., & Hale, J. T. "
            "(2016). Abstract linguistic structure correlates with temporal activity during "
            "naturalistic comprehension. Brain and Language, 157-158, 81-94. "
            "doi:10.1016/j.bandl.2016.04.008"
        ),
        licence="CC-BY-4.0",
        access="bundled",
        how_to_get="Bundled with brainalign: nothing to download.",
        returns=(
            "Recording (load_alice2016), continuous, data (362, 6 x n_subjects). Options: "
            "radius_mm (6 or 10), subjects (list of ids), data_dir (another copy)."
        ),
        loader=_load_alice2016,
        bundled=("data/alice2016/",),
        url="https://sites.lsa.umich.edu/cnllab/2016/06/11/"
        "data-sharing-fmri-timecourses-story-listening/",
    ),
    DatasetInfo(
        name="futrell2018",
        title="Natural Stories: self-paced reading times of 10 stories (mean RT per word)",
        description=(
            "Word-by-word self-paced reading times of the Natural Stories corpus: 10 English "
            "stories (10,256 words) with rare syntactic constructions. The catalogue reads "
            "processed_wordinfo.tsv of the corpus release (the 2020-11-11 corrected version; "
            "mean, SD and geometric mean RT per word over readers). Brain-Score's assembly "
            "assy_Futrell2018.nc is listed as an alternative source (key 'brainscore'; "
            "fetch only, not read by load)."
        ),
        modality="behaviour",
        subjects="about 180 readers (Amazon Mechanical Turk)",
        stimuli="10 stories, 10,256 words, read word by word",
        size="0.9 MB (processed_wordinfo.tsv)",
        citation=(
            "Futrell, R., Gibson, E., Tily, H. J., Blank, I., Vishnevetsky, A., Piantadosi, "
            "S. T., & Fedorenko, E. (2021). The Natural Stories corpus: a reading-time corpus "
            "of English texts containing rare syntactic constructions. Language Resources and "
            "Evaluation, 55, 63-77. (LREC 2018 version: Futrell et al. 2018.)"
        ),
        licence="CC BY-NC-SA 4.0 (non-commercial; never bundled with brainalign)",
        access="download",
        how_to_get=(
            "Downloaded on first use from GitHub (languageMIT/naturalstories at commit "
            f"{NATURAL_STORIES_COMMIT[:8]}): brainalign datasets fetch futrell2018 "
            "--files processed_wordinfo."
        ),
        returns=(
            "Recording (read_natural_stories): data (10256, 1) float32 mean reading time in "
            "ms; samples with story, position, word; stimuli = the words. No options."
        ),
        files={
            "processed_wordinfo": RemoteFile(
                url=_github_raw(
                    "languageMIT/naturalstories",
                    NATURAL_STORIES_COMMIT,
                    "naturalstories_RTS/processed_wordinfo.tsv",
                ),
                sha256="047d2a0b84eff99d90535d1517f7fa7d466b81fbd60e990f2f08caac04d8aa56",
                filename="futrell2018/processed_wordinfo.tsv",
                size=901515,
                licence="CC BY-NC-SA 4.0",
            ),
            "brainscore": RemoteFile(
                url=f"{BRAINSCORE_S3}/assy_Futrell2018.nc?versionId=MpR.gIXN8UrUnqwQyj.kCrh4VWrBvsGf",
                sha1="381ccc8038fbdb31235b5f3e1d350f359b5e287f",
                filename="brainscore/assy_Futrell2018.nc",
                licence="CC BY-NC-SA 4.0 (derived from Natural Stories)",
                notes="Brain-Score's packaging of the same reading times (alternative source)",
            ),
        },
        checksum_source=(f"processed_wordinfo: {_LOCAL_COPY}; brainscore: {_BRAINSCORE_CHECKSUMS}"),
        loader=_load_futrell2018,
        url="https://github.com/languageMIT/naturalstories",
    ),
    DatasetInfo(
        name="kriegeskorte2008-92",
        title="Kriegeskorte et al. 2008: human and monkey IT RDMs of 92 object images",
        description=(
            "The classic RSA data: representational dissimilarity matrices over 92 images of "
            "faces, bodies, animals, natural and man-made objects. Human IT fMRI RDMs of 4 "
            "subjects x 2 sessions (1 - Pearson r of response patterns), the monkey-IT (674 "
            "neurons) and human-IT (316 voxels) RDMs of figure 1, similarity-judgement RDMs of "
            "16 subjects (Mur et al. 2013) and 8 model RDMs (animacy, category, monkey IT, "
            "EVA, HMAX, V1, silhouette, Radon), with the images' category membership."
        ),
        modality="rsa",
        subjects="4 human fMRI subjects (2 sessions), 2 monkeys (figure 1), 16 raters",
        stimuli=(
            "92 object images, 175 x 175 RGB (not bundled: downloaded on demand with "
            "images=True; the bundle holds their categories)"
        ),
        size="1.6 MB (bundled) + 3.6 MB images (downloaded with images=True)",
        citation=(
            "Kriegeskorte, N., Mur, M., Ruff, D. A., Kiani, R., Bodurka, J., Esteky, H., "
            "Tanaka, K., & Bandettini, P. A. (2008). Matching categorical object "
            "representations in inferior temporal cortex of man and monkey. Neuron, 60(6), "
            "1126-1141. doi:10.1016/j.neuron.2008.10.043"
        ),
        licence="MIT (as redistributed in the rsatoolbox demos)",
        access="bundled",
        how_to_get=(
            "The RDMs are bundled with brainalign (from rsagroup/rsatoolbox "
            "demos/92imageData). The images (Kriegeskorte_Neuron2008_supplementalData.mat) "
            "are downloaded from the same rsatoolbox commit into the cache on the first "
            "load(..., images=True); offline, save the file listed below at the cache path "
            "named by the error."
        ),
        returns=(
            "Kriegeskorte92 (brainalign.datasets.loaders): human_it RDMSet (8 = 4 subjects "
            "x 2 sessions), fig1 RDMSet (monkey IT, human IT of figure 1), behaviour RDMSet "
            "(16 subjects), models RDMSet (8), conditions (92 rows, one boolean column per "
            "category). Option images=True (default False: bundled files only, no "
            "download): also images, uint8 (92, 175, 175, 3) in the RDMs' condition order, "
            "and image_categories (92 rows: condition, category, human, face, animal, "
            "natural)."
        ),
        files={
            "images": RemoteFile(
                url=_github_raw(
                    "rsagroup/rsatoolbox",
                    RSATOOLBOX_COMMIT,
                    "demos/92imageData/Kriegeskorte_Neuron2008_supplementalData.mat",
                ),
                sha256="06f21214399a5d43dc264eed19a7f4b8daf11c8622a59eec3e106064ce5e3504",
                filename="kriegeskorte2008-92/Kriegeskorte_Neuron2008_supplementalData.mat",
                size=3603779,
                licence="MIT (rsatoolbox demos); images of Kriegeskorte et al. 2008",
            ),
        },
        checksum_source=_LOCAL_COPY,
        loader=_load_kriegeskorte2008,
        bundled=("data/kriegeskorte2008_92/",),
        url="https://github.com/rsagroup/rsatoolbox/tree/main/demos/92imageData",
    ),
    DatasetInfo(
        name="things-concepts",
        title="THINGS: norms and ratings of 1,854 object concepts",
        description=(
            "Concept metadata of the THINGS database: word frequency, concreteness, "
            "categories (things_concepts.tsv from thingsvision), animacy-related ratings "
            "(animacy.csv) and real-world size ratings (size_fixed.csv) from THINGS-data."
        ),
        modality="behaviour",
        subjects="online raters (see the papers)",
        stimuli="1,854 object concepts",
        size="1.3 MB (3 files)",
        citation=(
            "Hebart, M. N., Dickter, A. H., Kidder, A., Kwok, W. Y., Corriveau, A., Van Wicklin, "
            "C., & Baker, C. I. (2019). THINGS: A database of 1,854 object concepts and more "
            "than 26,000 naturalistic object images. PLOS ONE, 14(10), e0223792. Hebart, M. N., "
            "et al. (2023). THINGS-data. eLife, 12, e82580."
        ),
        licence="CC0-1.0 (THINGS-data); things_concepts.tsv from thingsvision (MIT repository)",
        access="download",
        how_to_get=(
            f"Downloaded on first use from GitHub (ViCCo-Group/THINGS-data at commit "
            f"{THINGS_DATA_COMMIT[:8]}, ViCCo-Group/thingsvision at {THINGSVISION_COMMIT[:8]}): "
            "brainalign datasets fetch things-concepts."
        ),
        returns=(
            "Recording (read_things_concepts): data (1854, n_measures). Options: table "
            "('concepts', 'animacy' or 'size'), measures, dropna."
        ),
        files={
            "concepts": RemoteFile(
                url=_github_raw(
                    "ViCCo-Group/thingsvision",
                    THINGSVISION_COMMIT,
                    "data/files/things_concepts.tsv",
                ),
                sha256="f6eb4ec6fcad61e50a746bee820f98d1595fe655e9e210a9a407e9a17fd8cee4",
                filename="things-concepts/things_concepts.tsv",
                size=497467,
                licence="THINGS metadata (CC0); thingsvision repository MIT",
            ),
            "animacy": RemoteFile(
                url=_github_raw(
                    "ViCCo-Group/THINGS-data", THINGS_DATA_COMMIT, "MRI/data/animacy.csv"
                ),
                sha256="e5163a8d68a2704cf0d14e8b5c002963e180aba79e76d13653bcba854e8cf644",
                filename="things-concepts/animacy.csv",
                size=393727,
                licence="CC0-1.0",
            ),
            "size": RemoteFile(
                url=_github_raw(
                    "ViCCo-Group/THINGS-data", THINGS_DATA_COMMIT, "MRI/data/size_fixed.csv"
                ),
                sha256="6a14e7f359e2698231b49210aeb5e4a6878f1337aa19529b04220bac172ea042",
                filename="things-concepts/size_fixed.csv",
                size=409039,
                licence="CC0-1.0",
            ),
        },
        checksum_source=_LOCAL_COPY,
        loader=_load_things,
        url="https://things-initiative.org",
    ),
    DatasetInfo(
        name="things-triplets",
        title="THINGS odd-one-out: similarity judgements on triplets of 1,854 object concepts",
        description=(
            "4.70 million odd-one-out choices of online participants (Hebart et al. 2023, "
            "THINGS-data; the first 1.46 million in Hebart et al. 2020): three THINGS object "
            "images were shown and the one least similar to the other two was chosen. The "
            "triplet files list one trial per line as three 0-based concept indices (the row "
            "order of things_concepts.tsv) with the odd one out last: trainset.txt (90%) and "
            "validationset.txt (10%, 453,642 trials); the noise-ceiling sets repeat triplets "
            "across participants. Published on OSF only; OSF computes file hashes but no "
            "paper, release or code pins them (Brain-Score packs validationset as the "
            "netCDF assembly 'Hebart2023' with a SHA-1, in another format), so brainalign "
            "does not download the triplets."
        ),
        modality="behaviour",
        subjects="12,340 online participants (Amazon Mechanical Turk)",
        stimuli=(
            "triplets of the 1,854 THINGS concepts, shown as images (THINGS images are "
            "licence-restricted and not redistributed)"
        ),
        size="not stated here (text files; see the OSF project)",
        citation=(
            "Hebart, M. N., Contier, O., Teichmann, L., Rockter, A. H., Zheng, C. Y., Kidder, "
            "A., Corriveau, A., Vaziri-Pashkam, M., & Baker, C. I. (2023). THINGS-data, a "
            "multimodal collection of large-scale datasets for investigating object "
            "representations in human brain and behavior. eLife, 12, e82580. Hebart, M. N., "
            "Zheng, C. Y., Pereira, F., & Baker, C. I. (2020). Revealing the multidimensional "
            "mental representations of natural objects underlying human similarity "
            "judgements. Nature Human Behaviour, 4, 1173-1185."
        ),
        licence="CC0-1.0 (THINGS-data, as for things-concepts)",
        access="local path",
        how_to_get=(
            "Download the triplet files of THINGS-data from OSF (https://osf.io/f5rn6/, "
            "folder of the odd-one-out data: trainset.txt, validationset.txt and the "
            "noise-ceiling sets), then load('things-triplets', path=FILE). The concept "
            "names come from things-concepts (downloaded with its checksum). The image "
            "benchmark also needs one image per concept: the THINGS images "
            "(https://osf.io/jum2f/, password-protected zip) or your own, in a folder of "
            "<uniqueID>.<ext> files or of <uniqueID>/ subfolders (the first image by name "
            "is used), given as the benchmark option images."
        ),
        returns=(
            "Triplets (read_triplets): triplets (n_trials, 3) int64, the odd one out last; "
            "concepts (1854 rows: index, concept = uniqueID, word). Options: path (required, "
            "one triplet file)."
        ),
        loader=_load_things_triplets,
        url="https://osf.io/f5rn6/",
    ),
    _word_pairs_entry(
        "simlex999",
        "EN-SIMLEX-999.txt",
        "405394ffb7d25f6d0e3c041f87c9f27d29dc6b047506769953e85c4523b11685",
        18024,
        title="SimLex-999: similarity (not relatedness) ratings of 999 word pairs",
        citation=(
            "Hill, F., Reichart, R., & Korhonen, A. (2015). SimLex-999: Evaluating semantic "
            "models with (genuine) similarity estimation. Computational Linguistics, 41(4), "
            "665-695."
        ),
        extra="999 pairs (nouns, verbs, adjectives), ratings 0-10.",
    ),
    _word_pairs_entry(
        "wordsim353",
        "EN-WS-353-ALL.txt",
        "ce12919b240af45bdf46d243601eaca2b6212b159b5e7e9b435ee7ee40c5619c",
        7405,
        title="WordSim-353: relatedness ratings of 353 word pairs",
        citation=(
            "Finkelstein, L., Gabrilovich, E., Matias, Y., Rivlin, E., Solan, Z., Wolfman, G., "
            "& Ruppin, E. (2002). Placing search in context: the concept revisited. ACM "
            "Transactions on Information Systems, 20(1), 116-131."
        ),
        extra=(
            "353 pairs (the combined set), ratings 0-10. The pair money-cash is listed "
            "twice (lines 32 and 98, rated 9.15 and 9.08): both rows are kept, as every "
            "published evaluation does, and listed in meta['duplicate_pairs']."
        ),
    ),
    _word_pairs_entry(
        "men3k",
        "EN-MEN-TR-3k.txt",
        "888b13580faa362c7b11da0a670258cf1b1eb4bf0ecbcd418918729a3bd3f43a",
        53593,
        title="MEN: relatedness ratings of 3,000 word pairs",
        citation=(
            "Bruni, E., Tran, N. K., & Baroni, M. (2014). Multimodal distributional semantics. "
            "Journal of Artificial Intelligence Research, 49, 1-47."
        ),
        extra="3,000 pairs, ratings 0-50 (pairwise comparisons turned into scores).",
    ),
    _word_pairs_entry(
        "simverb3500",
        "EN-SimVerb-3500.txt",
        "9d84274e7ad029fd3cf69dd0516e9ade624bbef9bd4e2050f6cc1fa01471e0f5",
        65315,
        title="SimVerb-3500: similarity ratings of 3,500 verb pairs",
        citation=(
            "Gerz, D., Vulic, I., Hill, F., Reichart, R., & Korhonen, A. (2016). SimVerb-3500: "
            "A large-scale evaluation set of verb similarity. EMNLP 2016, 2173-2182."
        ),
        extra="3,500 verb pairs, ratings 0-10.",
    ),
    DatasetInfo(
        name="glasgow-norms",
        title="Glasgow Norms: 5,553 English words rated on nine psycholinguistic dimensions",
        description=(
            "Ratings of arousal, valence, dominance, concreteness, imageability, familiarity, "
            "age of acquisition, semantic size and gender association (mean, SD and N of "
            "raters per word), from the paper's supplementary CSV as kept in the IATLANG "
            "repository (data/study1a/raw/GlasgowNorms.csv)."
        ),
        modality="behaviour",
        subjects="UK participants (see the paper; the N of raters per word is in the data)",
        stimuli="5,553 English words (ambiguous words with their sense)",
        size="0.9 MB",
        citation=(
            "Scott, G. G., Keitel, A., Becirspahic, M., Yao, B., & Sereno, S. C. (2019). The "
            "Glasgow Norms: Ratings of 5,500 words on nine scales. Behavior Research Methods, "
            "51, 1258-1270. doi:10.3758/s13428-018-1099-3"
        ),
        licence="not stated (not bundled with brainalign)",
        access="download",
        how_to_get=(
            f"Downloaded on first use from GitHub (mllewis/IATLANG at commit "
            f"{IATLANG_COMMIT[:8]}): brainalign datasets fetch glasgow-norms."
        ),
        returns=(
            "Recording (read_glasgow_norms): data (5553, 27) float32 (9 dimensions x mean, "
            "sd, n); use .select(statistic='mean'). No options."
        ),
        files={
            "norms": RemoteFile(
                url=_github_raw(
                    "mllewis/IATLANG", IATLANG_COMMIT, "data/study1a/raw/GlasgowNorms.csv"
                ),
                sha256="c8808b4c16d3b091ab882269e7dfb1fc1bd69e2ae1eff5a5f04eed97b1dd90b6",
                filename="glasgow-norms/GlasgowNorms.csv",
                size=883627,
                licence="not stated",
            )
        },
        checksum_source=_LOCAL_COPY,
        loader=_load_glasgow,
        url="https://doi.org/10.3758/s13428-018-1099-3",
    ),
    DatasetInfo(
        name="pereira2018",
        title="Pereira et al. 2018: fMRI responses to 627 sentences (Brain-Score assemblies)",
        description=(
            "fMRI responses to sentences read one at a time, grouped in passages on many "
            "topics (experiment 2: 384 sentences; experiment 3: 243 sentences), as packaged by "
            "Brain-Score language: the 'language' assembly holds voxels of the language "
            "network, the 'auditory' assembly voxels of auditory cortex. Subjects who did only "
            "one experiment have NaN for the other; select with experiment=."
        ),
        modality="fmri",
        subjects="participants of experiments 2 and 3 (9 and 6 in the paper)",
        stimuli="627 written sentences in passages (experiments 2 and 3)",
        size="unknown (not published; two netCDF assemblies)",
        citation=(
            "Pereira, F., Lou, B., Pritchett, B., Ritter, S., Gershman, S. J., Kanwisher, N., "
            "Botvinick, M., & Fedorenko, E. (2018). Toward a universal decoder of linguistic "
            "meaning from brain activation. Nature Communications, 9, 963."
        ),
        licence="not stated by Brain-Score (brain-score/language code: MIT); cite the paper",
        access="download",
        how_to_get=_BRAINSCORE_HOW.format(name="pereira2018"),
        returns=(
            _ASSEMBLY_RETURNS
            + " Options: assembly ('language' (default) or 'auditory'), experiment (a value "
            "of the 'experiment' presentation coordinate, e.g. '384sentences')."
        ),
        files={
            "language": RemoteFile(
                url=f"{BRAINSCORE_S3}/assy_Pereira2018_language.nc",
                sha1="f8434b4022f5b2c862f0ff2854d5b3f5f2a7fb96",
                filename="brainscore/assy_Pereira2018_language.nc",
            ),
            "auditory": RemoteFile(
                url=f"{BRAINSCORE_S3}/assy_Pereira2018_auditory.nc",
                sha1="08e576bd3b8caf64850bb879abf07ae228ff1f5f",
                filename="brainscore/assy_Pereira2018_auditory.nc",
            ),
        },
        checksum_source=_BRAINSCORE_CHECKSUMS + " (no version_id published for Pereira2018)",
        loader=_brainscore_loader("pereira2018", ("language", "auditory")),
        url="https://github.com/brain-score/language/tree/main/brainscore_language/data/pereira2018",
    ),
    DatasetInfo(
        name="blank2014",
        title="Blank et al. 2014: fMRI language fROI time courses during story listening",
        description=(
            "fMRI time courses of functionally localised language regions (fROIs) while "
            "participants listened to stories (from the Natural Stories set), as packaged by "
            "Brain-Score language (Blank2014.fROI)."
        ),
        modality="fmri",
        subjects="participants of the story-listening experiment (see the paper)",
        stimuli="spoken stories (Natural Stories)",
        size="unknown (not published; one netCDF assembly)",
        citation=(
            "Blank, I., Kanwisher, N., & Fedorenko, E. (2014). A functional dissociation "
            "between language and multiple-demand systems revealed in patterns of BOLD signal "
            "fluctuations. Journal of Neurophysiology, 112(5), 1105-1118."
        ),
        licence="not stated by Brain-Score (brain-score/language code: MIT); cite the paper",
        access="download",
        how_to_get=_BRAINSCORE_HOW.format(name="blank2014"),
        returns=_ASSEMBLY_RETURNS + " Options: none.",
        files={
            "fROI": RemoteFile(
                url=f"{BRAINSCORE_S3}/assy_Blank2014_fROI.nc?versionId=qM.uLV8ltOHM297r2SaGteYMX4Vy.oHB",
                sha1="af1e868821b897cb1684e4c8dcd33977121ef552",
                filename="brainscore/assy_Blank2014_fROI.nc",
            )
        },
        checksum_source=_BRAINSCORE_CHECKSUMS,
        loader=_brainscore_loader("blank2014", ("fROI",)),
        url="https://github.com/brain-score/language/tree/main/brainscore_language/data/blank2014",
    ),
    DatasetInfo(
        name="fedorenko2016",
        title="Fedorenko et al. 2016: ECoG responses to words of sentences (language electrodes)",
        description=(
            "Intracranial (ECoG) high-gamma responses of language-responsive electrodes to "
            "each word of 8-word sentences, as packaged by Brain-Score language "
            "(Fedorenko2016.language)."
        ),
        modality="ecog",
        subjects="5 epilepsy patients (as packaged by Brain-Score)",
        stimuli="8-word written sentences, presented word by word",
        size="unknown (not published; one netCDF assembly)",
        citation=(
            "Fedorenko, E., Scott, T. L., Brunner, P., Coon, W. G., Pritchett, B., Schalk, G., "
            "& Kanwisher, N. (2016). Neural correlate of the construction of sentence meaning. "
            "PNAS, 113(41), E6256-E6262."
        ),
        licence="not stated by Brain-Score (brain-score/language code: MIT); cite the paper",
        access="download",
        how_to_get=_BRAINSCORE_HOW.format(name="fedorenko2016"),
        returns=_ASSEMBLY_RETURNS + " Options: none.",
        files={
            "language": RemoteFile(
                url=f"{BRAINSCORE_S3}/assy_Fedorenko2016_language.nc?versionId=qvB7YZfEjbXEE64bODNLlQlZKWGpgPhy",
                sha1="2966b6d78e972a72068aa6907377483f427e8d9a",
                filename="brainscore/assy_Fedorenko2016_language.nc",
            )
        },
        checksum_source=_BRAINSCORE_CHECKSUMS,
        loader=_brainscore_loader("fedorenko2016", ("language",)),
        url="https://github.com/brain-score/language/tree/main/brainscore_language/data/fedorenko2016",
    ),
    DatasetInfo(
        name="tuckute2024",
        title="Tuckute et al. 2024: language-network fMRI responses to 1,000 sentences",
        description=(
            "Mean response of the left-hemisphere language network to each of 1,000 diverse "
            "sentences (the 'baseline' set used to drive and suppress the network), averaged "
            "over the 5 train participants, as packaged by Brain-Score language "
            "(Tuckute2024.language: 1000 presentations x 1 neuroid, per its test.py)."
        ),
        modality="fmri",
        subjects="5 adults (averaged into one neuroid)",
        stimuli="1,000 written sentences",
        size="unknown (not published; one netCDF assembly)",
        citation=(
            "Tuckute, G., Sathe, A., Srikant, S., Taliaferro, M., Wang, M., Schrimpf, M., Kay, "
            "K., & Fedorenko, E. (2024). Driving and suppressing the human language network "
            "using large language models. Nature Human Behaviour, 8, 544-561. "
            "doi:10.1038/s41562-023-01783-7"
        ),
        licence="not stated by Brain-Score (brain-score/language code: MIT); cite the paper",
        access="download",
        how_to_get=_BRAINSCORE_HOW.format(name="tuckute2024"),
        returns=_ASSEMBLY_RETURNS + " Options: none.",
        files={
            "language": RemoteFile(
                url=f"{BRAINSCORE_S3}/assy_Tuckute2024_language.nc?versionId=BB.DbwqLB4OhDR64duqojNdL0CRd4RmG",
                sha1="5c8fc7f3e24cc1af5f5296459377b638b6492641",
                filename="brainscore/assy_Tuckute2024_language.nc",
            )
        },
        checksum_source=_BRAINSCORE_CHECKSUMS,
        loader=_brainscore_loader("tuckute2024", ("language",)),
        url="https://github.com/brain-score/language/tree/main/brainscore_language/data/tuckute2024",
    ),
    DatasetInfo(
        name="lebel2023",
        title="LeBel et al. 2023: fMRI of 8 people listening to spoken stories (ds003020)",
        description=(
            "OpenNeuro ds003020: BIDS fMRI of subjects listening to natural spoken stories "
            "(mostly The Moth Radio Hour), with preprocessed per-story responses "
            "(derivative/preprocessed_data/<subject>/<story>.hf5: HDF5 dataset 'data', "
            "n_TRs x n_voxels of the subject's cortex, trimmed at both ends) and word/phone "
            "TextGrids (derivative/TextGrids/<story>.TextGrid), and the story audio "
            "(stimuli/<story>.wav). The catalogue lists three preprocessed stories of UTS01, "
            "the audio of cocoonoflove and penpal (audio_<story>; the audio encoding "
            "benchmark lebel2023-audio-encoding reads cocoonoflove) and four TextGrids "
            "(only files whose published checksums could be read; the listed TextGrids are "
            "of other stories than the listed responses). wheretheressmoke is the repeated "
            "test story: its file is larger than one presentation and its layout is not "
            "verified here (the loader accepts only (n_TRs, n_voxels))."
        ),
        modality="fmri",
        subjects="8 adults (UTS01-UTS08)",
        stimuli="27 spoken narrative stories (about 6 hours)",
        size=(
            "whole dataset: large (see OpenNeuro); listed responses: 278 MB, 248 MB, 2.08 GB; "
            "TextGrids: about 1 MB each; audio: 155 MB (cocoonoflove), 94 MB (penpal)"
        ),
        citation=(
            "LeBel, A., Wagner, L., Jain, S., Adhikari-Desai, A., Gupta, B., Morgenthal, A., "
            "Tang, J., Xu, L., & Huth, A. G. (2023). A natural language fMRI dataset for voxelwise "
            "encoding models. Scientific Data, 10, 555. OpenNeuro ds003020, "
            "doi:10.18112/openneuro.ds003020"
        ),
        licence="CC0 (dataset_description.json)",
        access="download",
        how_to_get=(
            "Downloaded on first use from OpenNeuro's public S3 bucket: brainalign datasets "
            "fetch lebel2023 --files UTS01_cocoonoflove. Other files: "
            "https://s3.amazonaws.com/openneuro.org/ds003020/<path>, or the whole dataset with "
            "`datalad install https://github.com/OpenNeuroDatasets/ds003020`; read another "
            "story with brainalign.datasets.loaders.read_lebel_responses(path, subject=..., "
            "story=..., textgrid=...)."
        ),
        returns=(
            "Recording (read_lebel_responses), continuous: data (n_TRs, n_voxels) float32, "
            "samples with tr_index, onset = 10 s + tr_index x tr after the audio onset (the "
            "trimming of the authors' encoding code), units with subject and voxel; stimuli = "
            "the story's words with onsets when its TextGrid is listed (or given). Options: "
            "subject ('UTS01'), story ('cocoonoflove', 'onlyonewaytofindout', "
            "'wheretheressmoke'), textgrid (a local TextGrid path), tr (default 2.0045 s; 2.0 "
            "reproduces the authors' alignment), first_onset (10.0), nan_to_zero (False)."
        ),
        files={
            **{
                f"UTS01_{story}": _openneuro_file(
                    "ds003020", f"derivative/preprocessed_data/UTS01/{story}.hf5", md5, size
                )
                for story, md5, size in LEBEL_RESPONSES
            },
            **{
                f"textgrid_{story}": _openneuro_file(
                    "ds003020", f"derivative/TextGrids/{story}.TextGrid", md5, size
                )
                for story, md5, size in LEBEL_TEXTGRIDS
            },
            **{
                f"audio_{story}": _openneuro_file("ds003020", f"stimuli/{story}.wav", md5, size)
                for story, md5, size in LEBEL_AUDIO
            },
        },
        checksum_source=(
            "MD5 and size from the git-annex keys (symlink targets MD5E-s<size>--<md5>) in "
            "OpenNeuroDatasets/ds003020: cocoonoflove.hf5 at commit 48754c58, "
            "onlyonewaytofindout.hf5 at 2d07fcb6, wheretheressmoke.hf5 at dae4ca61, the "
            "TextGrids at 841b2929, the story audio (stimuli/cocoonoflove.wav, "
            "stimuli/penpal.wav) at 85941079; the S3 object is the latest version and "
            "may differ from those commits (a mismatch is reported, never accepted)"
        ),
        loader=_load_lebel2023,
        url="https://openneuro.org/datasets/ds003020",
    ),
    DatasetInfo(
        name="narratives",
        title="Narratives: fMRI of 345 people listening to 27 spoken stories",
        description=(
            "OpenNeuro ds002345: BIDS fMRI (TR 1.5 s) of participants listening to "
            "naturalistic spoken stories, with the audio (the fMRIPrep/AFNI derivatives and "
            "word-level transcripts are in a separate DataLad dataset, not listed here). The "
            "catalogue lists one raw BOLD run (sub-022, task tunnel, native space, not "
            "preprocessed), its events file (the story starts 3 s into the run), the "
            "story's audio, and the audio of seven more stories (<story>_audio: forgot, "
            "merlin, milkywayvodka, piemanpni, prettymouth, santa, shapessocial)."
        ),
        modality="fmri",
        subjects="345 adults",
        stimuli="27 spoken stories (about 4.6 hours)",
        size="whole dataset: large (see OpenNeuro); listed files: 146 MB BOLD, 135 MB audio",
        citation=(
            "Nastase, S. A., Liu, Y.-F., Hillman, H., Zadbood, A., Hasenfratz, L., et al. "
            "(2021). The 'Narratives' fMRI dataset for evaluating models of naturalistic "
            "language comprehension. Scientific Data, 8, 250. OpenNeuro ds002345, "
            "doi:10.18112/openneuro.ds002345.v1.1.0"
        ),
        licence="CC0 (dataset_description.json)",
        access="download",
        how_to_get=(
            "Downloaded on first use from OpenNeuro's public S3 bucket: brainalign datasets "
            "fetch narratives. Other files: https://s3.amazonaws.com/openneuro.org/ds002345/"
            "<path>, or `datalad install https://github.com/OpenNeuroDatasets/ds002345` "
            "(derivatives and transcripts: see https://github.com/snastase/narratives); read "
            "other runs with brainalign.datasets.loaders.load_narratives_run."
        ),
        returns=(
            "Recording (load_narratives_run -> fmri.load_fmri_run), continuous: data "
            "(n_volumes, n_voxels), TR from the header; stimuli from the events file (one "
            "'story' event). Options: masker ('epi' (default: nilearn compute_epi_mask of the "
            "run) or a mask/VoxelMask/Parcels/Spheres on the run's grid) and the other "
            "load_fmri_run options (standardize, detrend, high_pass ...). The audio is fetched "
            "by fetch() only."
        ),
        files={
            "sub-022_tunnel_bold": _openneuro_file(
                "ds002345",
                "sub-022/func/sub-022_task-tunnel_bold.nii.gz",
                "cb12fb8487d395a304d82e656ed230b3",
                145637193,
            ),
            "sub-022_tunnel_events": RemoteFile(
                url=f"{OPENNEURO_S3}/ds002345/sub-022/func/sub-022_task-tunnel_events.tsv",
                sha256="95bf241efe2ceb22b6971f25002ccb35f62111d65b562b7eb490fd9b7da1a1fb",
                filename="ds002345/sub-022/func/sub-022_task-tunnel_events.tsv",
                size=70,
                licence="CC0",
            ),
            "tunnel_audio": _openneuro_file(
                "ds002345",
                "stimuli/tunnel_audio.wav",
                "5d9fcaac3b920745b0806b856de81bcc",
                135278558,
            ),
            **{
                f"{story}_audio": _openneuro_file(
                    "ds002345", f"stimuli/{story}_audio.wav", md5, size
                )
                for story, md5, size in NARRATIVES_AUDIO
            },
        },
        checksum_source=(
            "OpenNeuroDatasets/ds002345: MD5 and size from the git-annex keys of "
            "sub-022_task-tunnel_bold.nii.gz (commit 78cbc7e8, in the export.tree/ mirror of "
            "the dataset tree), stimuli/tunnel_audio.wav, santa_audio.wav and "
            "shapessocial_audio.wav (commit 5b8c8f63), piemanpni_audio.wav (87e9fdde) and the "
            "other listed stories' audio (20034812); the events file "
            "is stored in git, not in the annex: its SHA-256 was computed here from the file's "
            "text at commit 77fcf104 (70 bytes). The S3 objects are the latest versions and may "
            "differ (a mismatch is reported, never accepted)"
        ),
        loader=_load_narratives,
        url="https://openneuro.org/datasets/ds002345",
    ),
    DatasetInfo(
        name="things-eeg2",
        title="THINGS-EEG2: EEG responses to 16,740 THINGS images (Gifford et al. 2022)",
        description=(
            "64-channel EEG of participants viewing images of the THINGS database in rapid "
            "serial visual presentation (16,540 training images x 4 repetitions, 200 test "
            "images x 80 repetitions per participant). Raw and preprocessed data are on OSF "
            "(project 3jk45; the raw EEG in component crxs4, the images in y63gw). OSF computes "
            "file hashes but no published code or paper pins them, and none could be checked "
            "here, so brainalign does not download the data."
        ),
        modality="eeg",
        subjects="10 adults",
        stimuli="16,740 natural object images (THINGS)",
        size="large; not stated here (see the OSF project)",
        citation=(
            "Gifford, A. T., Dwivedi, K., Roig, G., & Cichy, R. M. (2022). A large and rich "
            "EEG dataset for modeling human visual object recognition. NeuroImage, 264, "
            "119754. doi:10.1016/j.neuroimage.2022.119754"
        ),
        licence="as stated on the OSF project (CC BY 4.0 according to third-party code; check)",
        access="local path",
        how_to_get=(
            "Download from the OSF project of the paper (https://osf.io/3jk45/, linked from "
            "the authors' repository gifale95/eeg_encoding_model; raw EEG, preprocessed EEG "
            "and the image set) into a folder, then load('things-eeg2', path=FOLDER). "
            "brainalign has no reader for it yet: the raw and preprocessed .npy files are "
            "pickled Python dictionaries, which brainalign does not unpickle."
        ),
        returns="No reader yet: load('things-eeg2', path=...) explains what to use.",
        loader=_no_reader(
            "things-eeg2",
            "the published .npy files are pickled Python dictionaries (np.load(..., "
            "allow_pickle=True).item()), which brainalign does not unpickle; if you trust them, "
            "load one yourself and build an mne.io.RawArray (raw: 'raw_eeg_data', 'ch_names', "
            "'ch_types', 'sfreq') or mne.EpochsArray (preprocessed: 'preprocessed_eeg_data', "
            "'ch_names', 'times'), then use brainalign.datasets.meeg.epochs_recording",
        ),
        url="https://osf.io/3jk45/",
    ),
    DatasetInfo(
        name="meg-masc",
        title="MEG-MASC: MEG of 27 people listening to 4 spoken stories (Gwilliams et al. 2023)",
        description=(
            "208-channel MEG (KIT) of English speakers listening to naturalistic stories, two "
            "sessions each, in BIDS with word- and phoneme-level annotations in the events "
            "files (stories lw1, cable_spool_fort, easy_money and The_Black_Willow, tasks "
            "0-3; each run's story is named in its annotations). "
            "Distributed on OSF only (project ag3kj, with the subjects' data split over the "
            "components h2tzn, u5327 and dr4wy); no published code, paper or OpenNeuro copy "
            "pins file checksums, so brainalign does not download it."
        ),
        modality="meg",
        subjects="27 adults",
        stimuli="4 spoken stories (about 1 hour per session)",
        size="large; not stated here (see the OSF project)",
        citation=(
            "Gwilliams, L., Flick, G., Marantz, A., Pylkkanen, L., Poeppel, D., & King, J.-R. "
            "(2023). Introducing MEG-MASC, a high-quality magneto-encephalography dataset for "
            "evaluating natural speech processing. Scientific Data, 10, 862. "
            "doi:10.1038/s41597-023-02752-5"
        ),
        licence="as stated on the OSF project (CC0 according to third-party summaries; check)",
        access="local path",
        how_to_get=(
            "Download the BIDS dataset from OSF (https://osf.io/ag3kj/ and its components) "
            "into one folder, then load('meg-masc', path=FOLDER, subject='01', session='0', "
            "task='0')."
        ),
        returns=(
            "MEGMASCRun (brainalign.datasets.meg_masc.load_meg_masc): one run as a "
            "continuous Recording with its words as stimuli, plus the words, phonemes and "
            "sounds tables parsed from the events files' trial_type annotations. Options: "
            "path (required), subject, task (required), session, picks, l_freq, h_freq, "
            "sfreq, check_files and the other load_bids_meeg options (run, acquisition)."
        ),
        loader=_local_meg_masc,
        url="https://osf.io/ag3kj/",
    ),
    DatasetInfo(
        name="nsd",
        title="Natural Scenes Dataset: 7T fMRI of 8 people viewing 73,000 COCO images",
        description=(
            "High-resolution 7T fMRI of 8 participants who each viewed 9,000-10,000 natural "
            "scenes (from COCO) up to 3 times over 30-40 sessions, with single-trial "
            "response estimates (betas) in several spaces. Access requires agreeing to the "
            "NSD Terms and Conditions (data-use agreement), so brainalign never downloads it."
        ),
        modality="fmri",
        subjects="8 adults",
        stimuli="73,000 natural scene images (MS COCO)",
        size="very large (the full release is many TB; see the NSD documentation)",
        citation=(
            "Allen, E. J., St-Yves, G., Wu, Y., Breedlove, J. L., Prince, J. S., Dowdle, L. T., "
            "et al. (2022). A massive 7T fMRI dataset to bridge cognitive neuroscience and "
            "artificial intelligence. Nature Neuroscience, 25, 116-126."
        ),
        licence="NSD Terms and Conditions (data-use agreement required)",
        access="local path",
        how_to_get=(
            "Fill in the NSD data access form and accept the Terms and Conditions at "
            "https://naturalscenesdataset.org, download the files you need from the NSD "
            "bucket as instructed there, then load('nsd', path=FOLDER)."
        ),
        returns="No reader yet: load('nsd', path=...) explains what to use.",
        loader=_no_reader(
            "nsd",
            "read the beta NIfTI files with brainalign.datasets.fmri (nilearn maskers) and "
            "the trial table (nsd_expdesign.mat) with scipy.io.loadmat",
        ),
        url="https://naturalscenesdataset.org",
    ),
]

#: The catalogue: dataset name -> :class:`DatasetInfo`, in display order.
REGISTRY: dict[str, DatasetInfo] = {entry.name: entry for entry in _ENTRIES}
