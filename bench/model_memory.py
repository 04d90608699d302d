"""What each model loaded from a repository costs in memory: ``bigru-ner serve`` on a
repository holding the bundled BiGRU once, then twice (under two names), with the settings
given; the memory of the server and its model processes after a few requests (proportional:
shared pages counted once), and the difference, which is what one more model of that size
costs.

    python -m bench.model_memory [--workers N] [--json FILE]

Memory is not CPU time: it may run while something else does.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.host import descendants, machine, pss_mib
from bench.servers import service, serving
from model.bundled import DEFAULT_MODEL

TEXT = {"text": "Mary Rossi visited Oslo on Monday ."}


def measure(models: int, env: dict[str, str]) -> dict[str, Any]:
    """The MiB of a server with ``models`` copies of the bundled BiGRU."""
    with tempfile.TemporaryDirectory() as root:
        for i in range(models):
            shutil.copytree(DEFAULT_MODEL, Path(root) / f"model-{i}" / "1")
        settings = {"NER_MODEL_REPOSITORY": root, "NER_MODEL_POLL_S": "0", **env}
        with serving(service(f"{models} models", settings)) as running:
            for i in range(models):
                for _ in range(5):
                    body = {**TEXT, "model": f"model-{i}"}
                    httpx.post(running.url + "/v1/tag", json=body).raise_for_status()
            time.sleep(2)  # what the requests freed is freed
            processes = len(descendants(running.pid))
            return {"models": models, "processes": processes, "pss_mib": pss_mib(running.pid)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, help="NER_MODEL_WORKERS (unset: the default)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    env = {"NER_DEVICE": "cpu"}
    if args.workers is not None:
        env["NER_MODEL_WORKERS"] = str(args.workers)
    one, two = measure(1, env), measure(2, env)
    result = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "settings": env,
        "runs": [one, two],
        "per_model_mib": two["pss_mib"] - one["pss_mib"],
    }
    for run in (one, two):
        print(f"{run['models']} model(s): {run['processes']} processes, {run['pss_mib']:.0f} MiB")
    print(f"each model more: {result['per_model_mib']:.0f} MiB")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
