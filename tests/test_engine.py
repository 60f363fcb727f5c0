"""The training loop's own behaviour, on a toy model: a loss that turns NaN stops the epoch."""

import pytest
import torch
from accelerate import Accelerator
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from abaw.config import ExperimentConfig
from abaw.engine.data import EpochSampler
from abaw.engine.loop import train_epoch


class NanAfter:
    """Mean-squared output, NaN from the ``bad``-th call on."""

    def __init__(self, bad: int):
        self.calls, self.bad = 0, bad

    def to(self, device):
        return self

    def __call__(self, model, batch):
        self.calls += 1
        loss = model(batch[0]).pow(2).mean()
        return {"loss": loss * float("nan") if self.calls >= self.bad else loss, "outputs": {}}


def loader(n: int) -> DataLoader:
    return DataLoader(TensorDataset(torch.randn(n, 3)), batch_size=2, sampler=EpochSampler(n, 0, seed=0))


def test_a_nan_loss_stops_training():
    accelerator = Accelerator(cpu=True)
    model = nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model, optimizer, data = accelerator.prepare(model, optimizer, loader(30))
    with pytest.raises(FloatingPointError, match="NaN or infinite by step 10"):
        train_epoch(model, NanAfter(bad=4), data, optimizer, ExperimentConfig(), accelerator, epoch=0)


def test_finite_losses_are_averaged_over_steps():
    accelerator = Accelerator(cpu=True)
    model = nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # no update: every step sees the same model
    model, optimizer, data = accelerator.prepare(model, optimizer, loader(6))
    x = torch.cat([b[0] for b in data])
    expected = torch.stack([model(x[i:i + 2]).pow(2).mean() for i in range(0, 6, 2)]).mean().item()
    result = train_epoch(model, NanAfter(bad=10**9), data, optimizer, ExperimentConfig(), accelerator, epoch=0)
    assert result["loss"] == pytest.approx(expected, rel=1e-6)
