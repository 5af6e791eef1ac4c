"""Evaluation: the pinned protocol (:mod:`handvae.eval.metrics`) and pose-file loading."""
