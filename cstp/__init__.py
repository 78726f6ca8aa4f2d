"""cstp: a reproducible ablation-study harness for Contrastive Spatio-Temporal Pretext Learning."""

__version__ = "0.1.0"
