"""MultimodalEncoder against the naive loop a user would write, on the same images.

A random-weight LLaVA is built here (no download): a CLIP vision tower (4 blocks, 256
dims, 112 x 112 pixels in 14 x 14 patches: 64 image tokens) and a LLaMA language model
(``--blocks`` blocks, ``--dims`` dims, 8 heads, 4 key/value heads), saved with a
``LlavaProcessor`` (byte-level BPE trained on the Alice words, a chat template). The
images are the 78 Algonauts photographs in tests/data/algonauts2019_78 (400 x 400).

Arms, on the same prompt ("Describe the image." through the chat template) and the same
images, with ``torch.inference_mode()`` and the same thread count; best of
``--repeats`` after a warm-up, the arms interleaved within each repeat:

naive
    One image at a time: ``processor(images=[image], text=[prompt])``, ``model(...,
    output_hidden_states=True)``, then for every layer the mean over the image-token
    positions (``input_ids == image_token_id``), collected into numpy arrays.
encoder
    ``MultimodalEncoder.encode(images, span="visual")`` at ``--batch-size`` (all layers).
encoder + heads
    The same with ``heads=True`` (per-head span means of every block, from hooks).

The script checks that the naive and encoder features agree (max abs difference) and
prints the times and ratios. Run ``python perf/multimodal_capture.py`` (about a minute
on 2 CPU cores); ``--device cuda`` runs on a GPU.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "tests" / "data" / "algonauts2019_78"
ALICE_WORDS = ROOT / "tests" / "data" / "alice_words.txt"
TEMPLATE = (
    "{% for message in messages %}{{ message['role'].upper() }}: "
    "{% for content in message['content'] %}{% if content['type'] == 'image' %}<image>\n"
    "{% else %}{{ content['text'] }}{% endif %}{% endfor %}\n{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
INSTRUCTION = "Describe the image."


def build_llava(directory: Path, blocks: int, dims: int) -> None:
    """Save a random-weight LLaVA with its processor into ``directory``."""
    import torch
    import transformers as tf
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    words = [w for w in ALICE_WORDS.read_text(encoding="utf-8").splitlines() if w[:1] != "#"]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1000,
        special_tokens=["<unk>", "<s>", "</s>", "<image>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator([" ".join(words), INSTRUCTION], trainer=trainer)
    bpe.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", bpe.token_to_id("<s>"))]
    )
    tokenizer = tf.PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        extra_special_tokens={"image_token": "<image>"},
    )
    tf.LlavaProcessor(
        image_processor=tf.CLIPImageProcessorPil(
            size={"shortest_edge": 112}, crop_size={"height": 112, "width": 112}
        ),
        tokenizer=tokenizer,
        patch_size=14,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=TEMPLATE,
    ).save_pretrained(directory)
    config = tf.LlavaConfig(
        text_config=tf.LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=dims,
            intermediate_size=4 * dims,
            num_hidden_layers=blocks,
            num_attention_heads=8,
            num_key_value_heads=4,
            max_position_embeddings=512,
            pad_token_id=tokenizer.pad_token_id,
        ),
        vision_config=tf.CLIPVisionConfig(
            hidden_size=256,
            intermediate_size=1024,
            num_hidden_layers=4,
            num_attention_heads=4,
            image_size=112,
            patch_size=14,
        ),
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
    )
    torch.manual_seed(0)
    tf.LlavaModel(config).save_pretrained(directory)


def naive(encoder, images: list, prompt: str) -> dict:
    """One image per forward pass, span means by hand."""
    import numpy as np
    import torch

    model, processor = encoder.model, encoder.processor
    rows: dict[str, list] = {}
    with torch.inference_mode():
        for image in images:
            inputs = processor(images=[image], text=[prompt], return_tensors="pt").to(
                encoder.device
            )
            hidden = model(**inputs, output_hidden_states=True).hidden_states
            mask = inputs["input_ids"][0] == encoder.image_token_id
            for layer, states in enumerate(hidden):
                rows.setdefault(str(layer), []).append(states[0, mask].mean(0).float().cpu())
    return {name: np.stack([r.numpy() for r in values]) for name, values in rows.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--images", type=int, default=32, help="how many of the 78 images")
    parser.add_argument("--blocks", type=int, default=6)
    parser.add_argument("--dims", type=int, default=512)
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args()

    import numpy as np
    import torch
    from PIL import Image

    from brainalign.encoders.multimodal import MultimodalEncoder

    if args.threads:
        torch.set_num_threads(args.threads)
    paths = sorted(IMAGES.glob("*.jpg"))[: args.images]
    images = []
    for path in paths:
        with Image.open(path) as image:
            images.append(image.convert("RGB"))
    with tempfile.TemporaryDirectory() as folder:
        build_llava(Path(folder), args.blocks, args.dims)
        encoder = MultimodalEncoder(
            folder, device=args.device, batch_size=args.batch_size, progress=False
        )
        prompt = encoder.prompt(INSTRUCTION)
        arms = {
            "naive (1 image / pass)": lambda: naive(encoder, images, prompt),
            "encoder": lambda: encoder.encode(images, INSTRUCTION, span="visual").layers,
            "encoder + heads": lambda: (
                encoder.encode(images, INSTRUCTION, span="visual", heads=True).layers
            ),
        }
        results = {name: arm() for name, arm in arms.items()}  # warm-up, and the outputs
        difference = max(
            float(np.abs(results["naive (1 image / pass)"][k] - results["encoder"][k]).max())
            for k in results["encoder"]
        )
        times: dict[str, float] = {name: float("inf") for name in arms}
        for _ in range(args.repeats):
            for name, arm in arms.items():
                if args.device.startswith("cuda"):
                    torch.cuda.synchronize()
                start = time.perf_counter()
                arm()
                if args.device.startswith("cuda"):
                    torch.cuda.synchronize()
                times[name] = min(times[name], time.perf_counter() - start)
    n_tokens = int(np.asarray(encoder.encode(images[:1], span="all").provenance["span_tokens"])[0])
    print(
        f"LLaVA, language model {args.blocks} blocks x {args.dims} dims x 8 heads, "
        f"{len(images)} images, {n_tokens} tokens per prompt (64 image tokens), "
        f"device {args.device}, torch threads {torch.get_num_threads()}, "
        f"batch size {args.batch_size}, best of {args.repeats}"
    )
    base = times["naive (1 image / pass)"]
    for name, seconds in times.items():
        print(f"  {name:24s} {seconds:8.3f} s   {base / seconds:5.2f}x the naive loop's speed")
    print(f"  max |naive - encoder| over all layers: {difference:.2e}")


if __name__ == "__main__":
    main()
