"""Dataset adapters: recordings and stimuli in one data model."""

from brainalign.datasets.catalogue import available, load
from brainalign.datasets.recording import Recording
from brainalign.datasets.stimuli import Stimuli

__all__ = ["Recording", "Stimuli", "available", "load"]
