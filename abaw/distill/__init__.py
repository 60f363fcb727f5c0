"""Distillation from an audio-visual teacher into a visual-only student."""

from abaw.distill.soft_labels import soft_label_losses

__all__ = ["soft_label_losses"]
