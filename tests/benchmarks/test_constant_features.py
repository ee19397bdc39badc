"""Layers whose features are the same for every item are flagged and warned about once.

Real cases: a ViT's CLS token at the embedding layer is one vector for every image
(``VisionEncoder(pooling="cls")``, layer 0); a GPT-2 whose word and position embeddings
are zero gives every token, hence every item, the same hidden state at every layer (its
untrained twin, with seeded random weights, does not). The studies run word pairs,
norms and event encoding of images through :meth:`Benchmark.run`, so the flag and the warning
come from the one scoring path every benchmark uses.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from brainalign.benchmarks.benchmark import (
    Benchmark,
    ConstantFeaturesWarning,
    ModelScores,
    constant_feature_sets,
    is_constant,
)
from brainalign.benchmarks.study import Study
from brainalign.results import validate_results

DATA = Path(__file__).resolve().parents[1] / "data"
SIMLEX = DATA / "word_similarity" / "EN-SIMLEX-999.txt"
GLASGOW = DATA / "behaviour" / "GlasgowNorms_subset.csv"
ALGONAUTS = DATA / "algonauts2019_78"

pytestmark = pytest.mark.filterwarnings("ignore:stimuli folder .* not images:UserWarning")


@pytest.fixture(scope="module")
def blind_gpt2_dir(tiny_gpt2_dir, tmp_path_factory) -> Path:
    """The tiny GPT-2 with zero word and position embeddings: it cannot tell tokens apart."""
    import torch
    from transformers import GPT2Model

    target = tmp_path_factory.mktemp("blind") / "blind-gpt2"
    shutil.copytree(tiny_gpt2_dir, target)
    model = GPT2Model.from_pretrained(target)
    with torch.no_grad():
        model.wte.weight.zero_()
        model.wpe.weight.zero_()
    model.save_pretrained(target)
    return target


def _one_warning(caught: list[warnings.WarningMessage]) -> str:
    constant = [w for w in caught if issubclass(w.category, ConstantFeaturesWarning)]
    assert len(constant) == 1, [str(w.message) for w in constant]
    return str(constant[0].message)


def _check_flags(rows: pd.DataFrame, flagged_weights: str = "pretrained") -> None:
    validate_results(rows)
    model = rows[(rows["weights"] == flagged_weights) & (rows["control"] == "")]
    others = rows[(rows["weights"] != flagged_weights) | (rows["control"] != "")]
    assert len(model) and (model["features_flag"] == "constant").all()
    assert len(others) and (others["features_flag"] == "").all()


def test_vit_cls_token_is_constant_at_the_embedding_layer_only(tiny_vit_dir):
    from brainalign.encoders.vision import VisionEncoder

    paths = [str(p) for p in sorted((DATA / "images").glob("*.jpg"))]
    features = VisionEncoder(str(tiny_vit_dir), pooling="cls", progress=False).encode_images(
        paths, heads=True
    )
    assert constant_feature_sets(features, heads=True) == [(0, None)]
    mean = VisionEncoder(str(tiny_vit_dir), pooling="mean", progress=False).encode_images(paths)
    assert constant_feature_sets(mean) == []


def test_word_pair_study_flags_every_layer_of_a_blind_model_and_warns_once(
    blind_gpt2_dir, tmp_path
):
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("".join(SIMLEX.read_text().splitlines(keepends=True)[:41]))
    study = Study("blind-pairs", ratings=pairs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = study.benchmark().run(str(blind_gpt2_dir), layers=[0, 1, 2])
    message = _one_warning(caught)
    assert f"model {str(blind_gpt2_dir)!r}" in message and "blind-pairs@1" in message
    assert "layers 0, 1, 2 (pretrained)" in message and "untrained" not in message
    assert "features_flag 'constant'" in message
    _check_flags(rows)
    model = rows[(rows["weights"] == "pretrained") & (rows["control"] == "")]
    assert model["score"].isna().all()  # a cosine of identical vectors ranks nothing
    assert rows[rows["weights"] == "untrained"]["score"].notna().all()


def test_norms_study_and_heads_are_flagged(blind_gpt2_dir, tmp_path):
    study = Study(
        "blind-norms",
        ratings={"norms": str(GLASGOW), "id_column": "word", "measures": ["VAL_M"]},
        options={"n_splits": 3},
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = study.benchmark().run(
            str(blind_gpt2_dir), layers=[1, 2], heads=True, untrained_twin=False
        )
    message = _one_warning(caught)
    assert "layers 1, 2; layer 1 heads 0, 1; layer 2 heads 0, 1 (pretrained)" in message
    _check_flags(rows)
    assert rows["head"].notna().any()


def test_image_event_study_flags_a_blind_vit(tiny_vit_dir, tmp_path):
    import torch
    from transformers import ViTModel

    target = tmp_path / "blind-vit"
    shutil.copytree(tiny_vit_dir, target)
    model = ViTModel.from_pretrained(target)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.startswith("embeddings."):
                parameter.zero_()  # every patch token and the CLS token: zero
    model.save_pretrained(target)

    n_images = len(list(ALGONAUTS.glob("*.jpg")))
    responses = np.random.default_rng(0).normal(size=(n_images, 4))
    study = Study("blind-images", stimuli=str(ALGONAUTS), responses=responses, sampling="event")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = study.benchmark().run(str(target), layers=[0, 2], untrained_twin=False)
    assert "layers 0, 2 (pretrained)" in _one_warning(caught)
    _check_flags(rows)


def _runner(constant):
    """A runner whose task reports ``constant`` (layer, head) sets of its own rows."""

    class Task:
        def score_model(self, weights: str) -> ModelScores:
            rows = pd.DataFrame(
                {
                    "layer": pd.array([0, 1, 1, 1, 2], dtype="Int64"),
                    "head": pd.array([pd.NA, pd.NA, 0, 1, pd.NA], dtype="Int64"),
                    "subject": "all",
                    "unit": "u",
                    "score": [np.nan, 0.5, np.nan, 0.2, 0.1],
                }
            )
            return ModelScores(rows, 4, constant=constant if weights == "pretrained" else [])

        def score_controls(self, model: ModelScores) -> dict[str, pd.DataFrame]:
            return {"none": pd.DataFrame({"subject": ["all"], "unit": ["u"], "score": [0.0]})}

        def ceiling(self) -> None:
            return None

    return lambda benchmark, settings: Task()


def _benchmark(constant) -> Benchmark:
    text = "x"
    return Benchmark(
        id="toy", version=1, dataset="toy", description=text, presentation=text,
        context="isolated", pooling="mean", metric="pearson_r", cross_validation=text,
        ceiling=text, aggregation=text, controls=text, citation=text, runner=_runner(constant),
        scores_heads=True,
    )  # fmt: skip


def test_rows_of_the_constant_layer_and_head_only(tiny_gpt2_dir):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = _benchmark([(0, None), (1, 0)]).run(str(tiny_gpt2_dir), heads=True)
    assert "layer 0; layer 1 heads 0 (pretrained)" in _one_warning(caught)
    flagged = rows[rows["features_flag"] == "constant"]
    assert flagged[["layer", "head"]].astype(object).fillna(-1).values.tolist() == [[0, -1], [1, 0]]
    assert set(flagged["weights"]) == {"pretrained"}
    assert (rows["features_flag"] != "constant").sum() == len(rows) - 2


def test_no_constant_layer_no_warning(tiny_gpt2_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConstantFeaturesWarning)
        rows = _benchmark([]).run(str(tiny_gpt2_dir))
    assert (rows["features_flag"] == "").all()


def test_is_constant_to_float32_precision():
    rng = np.random.default_rng(0)
    row = rng.normal(size=8).astype(np.float32) * 1000
    assert is_constant(np.tile(row, (5, 1)))
    assert is_constant(np.zeros((3, 4)))
    assert is_constant(np.tile(row, (5, 1)) * (1 + 1e-7 * rng.normal(size=(5, 1))))  # rounding
    varied = np.tile(row, (5, 1))
    varied[:, 0] += np.arange(5) * 1e-3  # one dimension varies a little: not constant
    assert not is_constant(varied)
    assert not is_constant(row[None])  # one item cannot vary
    assert not is_constant(np.full((3, 2), np.nan))
