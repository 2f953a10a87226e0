"""Experiments: the only place that combines stages (train_gan, synth, classify, ablate, report)."""
