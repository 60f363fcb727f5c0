"""abaw: audio-visual multitask teachers and visual-only students for the ABAW challenges on Aff-Wild2."""

__version__ = "0.1.0"
