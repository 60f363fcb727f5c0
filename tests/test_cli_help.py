"""Every command's --help explains each option and says its default (the value itself, where there is one)."""

import argparse

import pytest

from abaw.data.synthetic import main as synth_main
from abaw.datasets.cli import main as data_main
from abaw.evaluate import main as eval_main
from abaw.predict import main as predict_main
from abaw.submit.cli import main as submit_main

from recipe_loader import recipe


COMMANDS = {"abaw-synth": lambda: synth_main, "abaw-data": lambda: data_main, "abaw-predict": lambda: predict_main, "abaw-eval": lambda: eval_main,
            "abaw-submit": lambda: submit_main, "mtl_teacher.py": lambda: recipe("mtl_teacher"),
            "student_kd.py": lambda: recipe("student_kd"), "teacher_pool.py": lambda: recipe("teacher_pool")}


class Parsed(Exception):
    """Raised instead of parsing: carries the parser that the command built."""

    def __init__(self, parser):
        self.parser = parser


def command_parser(main, monkeypatch) -> argparse.ArgumentParser:
    """The parser a command's main() builds, caught as it starts to parse."""
    def catch(self, *args, **kwargs):
        raise Parsed(self)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", catch)
    monkeypatch.setattr(argparse.ArgumentParser, "parse_intermixed_args", catch)
    with pytest.raises(Parsed) as parsed:
        main([])
    return parsed.value.parser


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_is_explained_with_its_default(name, monkeypatch):
    parser = command_parser(COMMANDS[name](), monkeypatch)
    assert parser.prog == name and parser.description and not parser.description.endswith(":")
    text = parser.format_help()  # also fails on a help string that argparse cannot format (a bare %)
    assert "(default: None)" not in text and "(default: False)" not in text  # says nothing to a user
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        label = "/".join(action.option_strings) or action.dest
        assert action.help and len(action.help) > 15, f"{name} {label}: no explanation"
        if action.required and action.option_strings:  # a positional is required by its place in the usage
            assert "required" in action.help, f"{name} {label}: does not say it is required"
        elif action.option_strings or action.nargs == "*":
            assert "default" in action.help or "required unless" in action.help, f"{name} {label}: no default"
            if action.default not in (None, False):
                assert f"default: {action.default}" in action.help, f"{name} {label}: default {action.default!r}"
