"""A synthetic Aff-Wild2 in the organisers' exact on-disk layout, learnable and deterministic for a seed.

``abaw-synth OUT [--seed N] [--videos N] [--seconds S]`` or ``generate(out, seed, videos, seconds)``.
What is generated and why: ``docs/synthetic.md``; every number: :class:`SynthParams`.
"""

from abaw.data.synthetic.generate import describe, generate, main
from abaw.data.synthetic.params import SynthParams

__all__ = ["SynthParams", "describe", "generate", "main"]
