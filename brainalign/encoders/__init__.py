"""Encoders: what a model does with the stimuli, as per-layer (and per-head) features.

Models in, :class:`Features` (arrays aligned to stimulus ids, with provenance) out;
nothing here knows about brains or datasets: stimuli arrive as a
:class:`~brainalign.stimuli.Stimuli` table, a word list or image files. The names users
call are re-exported here and imported on first use, so ``import brainalign.encoders``
imports neither torch nor transformers:

- :class:`TextEncoder`, :class:`VisionEncoder`: hidden states of every layer (and
  head) of Hugging Face language and vision models; :class:`ModelLoadError`;
- :class:`AudioEncoder`, :func:`pool_intervals`, :func:`event_intervals`,
  :func:`read_audio`, :class:`AudioReadError`: time-stamped frame features of speech and
  audio models (Wav2Vec2, HuBERT, WavLM, Whisper's encoder, AST, CLAP's audio tower),
  pooled over words or epochs;
- :class:`VideoEncoder` and :func:`tr_grid`: time-stamped clip features of video models
  (VideoMAE, TimeSformer, ViViT, X-CLIP's vision tower), clips centred on sample times;
- :class:`MultimodalEncoder`: a multimodal language model (LLaVA, Qwen2-VL) reading an
  image and an instruction, every layer pooled over the visual, instruction or all tokens;
- :func:`load_model`: the one model loader of every encoder; :func:`build_untrained`:
  random-weight language models of any size, saved as model folders; :func:`model_card`:
  a model's size, depth, widths and objective, read without loading it;
- :class:`Features`: the arrays and their provenance; :class:`NonFiniteFeaturesError`:
  features that are not finite, refused where they are made;
- :class:`FeatureStore` and its keys (:func:`feature_key`, :func:`text_encoder_key`,
  :func:`text_extract_key`, :func:`stimulus_hash`): features on disk, computed once;
- :class:`LayerCapture`, :func:`attention_summaries`, :func:`register_architecture`,
  :func:`supported_architectures`: per-layer and per-head activations through hooks;
  :func:`head_properties`: induction, previous-token and attention scores of every head;
- :func:`extract_features`, :func:`read_stimuli`, :func:`text_stimuli`: stimuli into
  the store (``brainalign extract``);
- :class:`SurprisalModel`, :func:`word_surprisal`: per-word surprisal;
- :func:`localize_model`, :func:`language_localizer`: language-selective units.
"""

from brainalign._lazy import lazy_exports

_EXPORTS = {
    "AudioEncoder": "brainalign.encoders.audio",
    "event_intervals": "brainalign.encoders.audio",
    "pool_intervals": "brainalign.encoders.audio",
    "AudioReadError": "brainalign.encoders.audio_io",
    "read_audio": "brainalign.encoders.audio_io",
    "build_untrained": "brainalign.encoders.builders",
    "model_card": "brainalign.encoders.cards",
    "extract_features": "brainalign.encoders.extract",
    "read_stimuli": "brainalign.encoders.extract",
    "text_stimuli": "brainalign.encoders.extract",
    "Features": "brainalign.encoders.features",
    "NonFiniteFeaturesError": "brainalign.encoders.features",
    "head_properties": "brainalign.encoders.head_cards",
    "LayerCapture": "brainalign.encoders.heads",
    "attention_summaries": "brainalign.encoders.heads",
    "register_architecture": "brainalign.encoders.hooks",
    "supported_architectures": "brainalign.encoders.hooks",
    "language_localizer": "brainalign.encoders.localizer",
    "localize_model": "brainalign.encoders.localizer",
    "ModelLoadError": "brainalign.encoders.models",
    "MultimodalEncoder": "brainalign.encoders.multimodal",
    "FeatureStore": "brainalign.encoders.store",
    "feature_key": "brainalign.encoders.store",
    "stimulus_hash": "brainalign.encoders.store",
    "text_encoder_key": "brainalign.encoders.store",
    "text_extract_key": "brainalign.encoders.store",
    "SurprisalModel": "brainalign.encoders.surprisal",
    "word_surprisal": "brainalign.encoders.surprisal",
    "TextEncoder": "brainalign.encoders.text",
    "VideoEncoder": "brainalign.encoders.video",
    "tr_grid": "brainalign.encoders.video",
    "load_model": "brainalign.encoders.loading",
    "VisionEncoder": "brainalign.encoders.vision",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
