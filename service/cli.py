"""The ``bigru-ner`` command: train, evaluate, tag, analyze (and serve, once the service is
installed).

The program's entry point: the model's commands (:mod:`model.cli`) and ``serve``, which runs
the HTTP service (:mod:`service.server`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from model import cli as model_cli


def _add_serve(commands: model_cli.Commands) -> None:
    parser = commands.add_parser(
        "serve",
        help="run the HTTP tagging service",
        description="Run the HTTP tagging service. Every setting is also read from an NER_* "
        "environment variable (see README); flags given here win.",
    )
    parser.add_argument("--host", help="address to listen on (NER_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="TCP port, 0 for any free one (NER_PORT, 8000)")
    parser.add_argument("--model", help="model directory (NER_MODEL, default the bundled BiGRU)")
    parser.add_argument(
        "--model-repository",
        help="serve every model of DIR/<name>/<version>/ instead, new versions without a "
        "restart (NER_MODEL_REPOSITORY)",
    )
    parser.add_argument("--device", help="auto, cpu, cuda or cuda:N (NER_DEVICE, default auto)")
    parser.set_defaults(run=_run_serve)


def _run_serve(args: argparse.Namespace) -> int:
    from service.server import main as serve

    names = ("host", "port", "model", "model_repository", "device")
    flags = {name: getattr(args, name) for name in names}
    return serve({name: value for name, value in flags.items() if value is not None})


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bigru-ner`` console script."""
    return model_cli.main(argv, more=(_add_serve,))


if __name__ == "__main__":
    sys.exit(main())
