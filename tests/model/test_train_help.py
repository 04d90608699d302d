"""``bigru-ner train --help`` explains every option."""

import argparse
from dataclasses import fields

import pytest

from model.cli import add_commands
from model.training.config import TrainConfig


def _train_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bigru-ner")
    commands = parser.add_subparsers(dest="command", required=True)
    add_commands(commands)
    return commands.choices["train"]


def test_every_train_option_has_help() -> None:
    actions = [a for a in _train_parser()._actions if a.option_strings]
    silent = [a.option_strings[0] for a in actions if not (a.help or "").strip()]
    assert silent == []
    flags = {s for a in actions for s in a.option_strings}
    assert {"--" + f.name.replace("_", "-") for f in fields(TrainConfig)} <= flags


def test_help_shows_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _train_parser().parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--patience PATIENCE stop after this many epochs" in text
    assert "(default: 8)" in text and "(default: None)" not in text
