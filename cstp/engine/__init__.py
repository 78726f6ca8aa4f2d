"""Training and evaluation: the pretraining loop, fine-tuning / linear probing, and the metrics."""
