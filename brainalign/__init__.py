"""brainalign: how closely do neural networks align with human brains and behaviour?"""

__version__ = "0.1.0"
