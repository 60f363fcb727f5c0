"""Train the audio-visual multitask teacher (VA, EXPR, AU; incomplete labels masked per task).

    accelerate launch recipes/mtl_teacher.py --config recipes/configs/teacher.yaml [section.key=value ...]

With ``model.modalities=[visual]`` the same recipe trains a visual-only model without distillation, the
baseline that a distilled student must beat. Also runs as ``python recipes/mtl_teacher.py ...``.
"""

from __future__ import annotations

import sys

from abaw.engine import MultitaskObjective, fit
from abaw.engine.data import loaders, training_data
from abaw.engine.setup import recipe_arguments, start
from abaw.errors import command
from abaw.models import build_model


@command("mtl_teacher.py")
def main(argv: list[str] | None = None) -> int:
    args = recipe_arguments("mtl_teacher.py", __doc__, argv)
    config, accelerator = start(args)
    model = build_model(config.model)
    with accelerator.main_process_first():  # decode and cache the audio (and data.face_cache) once
        train, val = training_data(config, model=model, device=accelerator.device)
    train_loader, val_loader = loaders(config, train.dataset, val.dataset)
    objective = MultitaskObjective(config.data.tasks, config.loss)  # eq. 12: supervised + task discriminator
    state = fit(model, objective, train_loader, val_loader, val.manifest, config, accelerator)
    accelerator.print(f"best validation score {state.best_score:.4f} at epoch {state.best_epoch}; "
                      f"run folder {config.train.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
