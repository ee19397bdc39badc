"""Datasets: recordings and their stimuli in one data model, and the catalogue.

Files in, :class:`Recording` (with its :class:`Stimuli`) out; nothing here knows about
models. The names users call are re-exported here and imported on first use (so
``import brainalign.datasets`` imports none of the readers' libraries):

- the catalogue: :func:`available`, :func:`info`, :func:`fetch`, :func:`load`,
  :func:`load_stimuli`;
- the data model: :class:`Recording`, :class:`Stimuli` (defined in
  :mod:`brainalign.stimuli`, which encoders share);
- readers: :func:`load_fmri_run`, :func:`load_beta_maps`, :func:`estimate_trial_betas`
  (fMRI through nilearn), :func:`load_gifti_run` (surfaces), :func:`epochs_recording`,
  :func:`evoked_recording`, :func:`continuous_recording` (M/EEG through MNE),
  :func:`bids_runs`, :func:`load_bids_meeg`, :func:`events_to_stimuli` (BIDS),
  :func:`load_meg_masc`, :func:`read_meg_masc_events` (MEG-MASC's layout and
  annotations),
  :func:`read_assembly` (Brain-Score), :func:`read_rdms`, :func:`read_word_pairs`,
  :func:`read_word_norms`, :func:`read_triplets` (behaviour), :func:`read_textgrid`.
"""

from brainalign._lazy import lazy_exports

_EXPORTS = {
    "read_rdms": "brainalign.datasets.behaviour",
    "read_triplets": "brainalign.datasets.behaviour",
    "read_word_norms": "brainalign.datasets.behaviour",
    "read_word_pairs": "brainalign.datasets.behaviour",
    "bids_runs": "brainalign.datasets.bids",
    "events_to_stimuli": "brainalign.datasets.bids",
    "load_bids_meeg": "brainalign.datasets.bids",
    "read_assembly": "brainalign.datasets.brainio",
    "available": "brainalign.datasets.catalogue",
    "fetch": "brainalign.datasets.catalogue",
    "info": "brainalign.datasets.catalogue",
    "load": "brainalign.datasets.catalogue",
    "load_stimuli": "brainalign.datasets.catalogue",
    "estimate_trial_betas": "brainalign.datasets.fmri",
    "load_beta_maps": "brainalign.datasets.fmri",
    "load_fmri_run": "brainalign.datasets.fmri",
    "continuous_recording": "brainalign.datasets.meeg",
    "epochs_recording": "brainalign.datasets.meeg",
    "evoked_recording": "brainalign.datasets.meeg",
    "load_meg_masc": "brainalign.datasets.meg_masc",
    "read_meg_masc_events": "brainalign.datasets.meg_masc",
    "Recording": "brainalign.datasets.recording",
    "load_gifti_run": "brainalign.datasets.surface",
    "read_textgrid": "brainalign.datasets.textgrid",
    "Stimuli": "brainalign.stimuli",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
