"""Training on accelerate: ONE loop for teacher and student; what differs lives in the objective."""

from abaw.engine.loop import fit, predict_rows, validate
from abaw.engine.objectives import MultitaskObjective

__all__ = ["MultitaskObjective", "fit", "predict_rows", "validate"]
