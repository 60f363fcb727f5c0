"""The recipes are scripts, not modules of the package: tests load one by path and call its ``main``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def recipe(name: str):
    """``recipes/<name>.py``'s ``main(argv)``."""
    spec = importlib.util.spec_from_file_location(name, RECIPES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # as `python recipes/<name>.py` would: dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.main
