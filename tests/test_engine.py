"""The training loop's own behaviour, on a toy model: a loss that turns NaN stops the epoch; the learning-rate
schedule."""

import math

import pytest
import torch
from accelerate import Accelerator
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from abaw.config import ConfigError, ExperimentConfig, TrainConfig, load_config
from abaw.engine.data import EpochSampler
from abaw.engine.loop import lr_schedule, train_epoch


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
    scheduler = lr_schedule(optimizer, TrainConfig(), steps_per_epoch=15)
    with pytest.raises(FloatingPointError, match="NaN or infinite by step 10"):
        train_epoch(model, NanAfter(bad=4), data, optimizer, scheduler, ExperimentConfig(), accelerator, epoch=0)


def test_finite_losses_are_averaged_over_steps():
    accelerator = Accelerator(cpu=True)
    model = nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # no update: every step sees the same model
    model, optimizer, data = accelerator.prepare(model, optimizer, loader(6))
    x = torch.cat([b[0] for b in data])
    expected = torch.stack([model(x[i:i + 2]).pow(2).mean() for i in range(0, 6, 2)]).mean().item()
    scheduler = lr_schedule(optimizer, TrainConfig(), steps_per_epoch=3)
    result = train_epoch(model, NanAfter(bad=10**9), data, optimizer, scheduler, ExperimentConfig(), accelerator,
                         epoch=0)
    assert result["loss"] == pytest.approx(expected, rel=1e-6)


def rates(train: TrainConfig, steps_per_epoch: int) -> list[float]:
    optimizer = torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=train.lr)
    scheduler = lr_schedule(optimizer, train, steps_per_epoch)
    seen = []
    for _ in range(steps_per_epoch * train.epochs):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return seen


def test_cosine_schedule_warms_up_then_decays_to_zero():
    seen = rates(TrainConfig(lr=1.0, epochs=3, schedule="cosine", warmup_epochs=1), steps_per_epoch=4)
    assert seen[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    # After warm-up, step s of the 8 remaining: 0.5 (1 + cos(pi s / 8)).
    assert seen[4:] == pytest.approx([0.5 * (1 + math.cos(math.pi * s / 8)) for s in range(8)])


def test_constant_schedule_keeps_the_rate_and_an_unknown_one_is_an_error_when_the_config_is_read():
    assert rates(TrainConfig(lr=0.3, epochs=2), steps_per_epoch=3) == pytest.approx([0.3] * 6)
    with pytest.raises(ConfigError, match="train.schedule is 'linear'; choose one of constant, cosine"):
        load_config(None, ["train.schedule=linear"])
