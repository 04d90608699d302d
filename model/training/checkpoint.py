"""The checkpoint of a training run, ``out/checkpoint/``: the latest weights, optimiser state,
RNG state and history, so that a stopped run continues where it stopped.

Tensors go to ``state.safetensors``, everything else to ``state.json``; nothing is pickled.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.optim.swa_utils import AveragedModel

from model.network import TaggerNetwork
from model.training.config import TrainConfig

#: The checkpoint's directory inside a run's output directory.
CHECKPOINT = "checkpoint"


@dataclass
class Progress:
    """How far a run has come: the last epoch, the best one on dev and every epoch's record."""

    epoch: int = 0
    best_f1: float = -1.0
    best_epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


def save(
    path: Path,
    network: TaggerNetwork,
    optimizers: Sequence[torch.optim.Optimizer],
    progress: Progress,
    config: TrainConfig,
    average: AveragedModel | None = None,
    objective: nn.Module | None = None,
) -> None:
    """Write the run's state to ``path``, replacing the previous checkpoint only when complete.

    ``objective``: a training objective's own weights (:mod:`model.training.lm`), kept here
    and never in the artifact.
    """
    path.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    for prefix, module in (("average", average), ("objective", objective)):
        if module is not None:
            for k, v in module.state_dict().items():
                tensors[f"{prefix}.{k}"] = v.detach().cpu().contiguous()
    groups, scalars = [], []
    for n, optimizer in enumerate(optimizers):
        optim = optimizer.state_dict()
        groups.append(optim["param_groups"])
        numbers: dict[str, dict[str, Any]] = {}
        for index, values in optim["state"].items():
            for name, value in values.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optim{n}.{index}.{name}"] = value.detach().cpu().contiguous()
                else:
                    numbers.setdefault(str(index), {})[name] = value
        scalars.append(numbers)
    tensors["rng.torch"] = torch.get_rng_state()
    save_file(tensors, str(path / "state.safetensors.tmp"))
    meta = {
        "config": asdict(config),
        "state": asdict(progress),
        "param_groups": groups,
        "optim_scalars": scalars,
    }
    (path / "state.json.tmp").write_text(json.dumps(meta), encoding="utf-8")
    (path / "state.safetensors.tmp").replace(path / "state.safetensors")
    (path / "state.json.tmp").replace(path / "state.json")


def exists(path: Path) -> bool:
    """Whether ``path`` holds a complete checkpoint."""
    return (path / "state.json").exists()


def load(
    path: Path,
    network: TaggerNetwork,
    optimizers: Sequence[torch.optim.Optimizer],
    config: TrainConfig,
    average: AveragedModel | None = None,
    objective: nn.Module | None = None,
) -> Progress:
    """Restore the state saved at ``path`` into the given objects; the run's progress."""
    meta = json.loads((path / "state.json").read_text(encoding="utf-8"))
    # A setting added since the checkpoint was made had its default then.
    defaults = {f.name: f.default for f in fields(config) if f.default is not MISSING}
    saved = defaults | dict(meta["config"])
    current = asdict(config)
    # Only how long to train may change between a run and its resumption.
    for key in ("epochs", "patience", "device", "threads"):
        saved.pop(key, None)
        current.pop(key, None)
    if saved != current:
        changed = sorted(k for k in current if saved.get(k) != current[k])
        raise ValueError(f"{path}: checkpoint was made with other settings: {changed}")
    tensors = load_file(str(path / "state.safetensors"))
    network.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    for prefix, module in (("average.", average), ("objective.", objective)):
        if module is not None:
            cut = len(prefix)
            module.load_state_dict({k[cut:]: v for k, v in tensors.items() if k.startswith(prefix)})
    for n, optimizer in enumerate(optimizers):
        optim_state: dict[int, dict[str, Any]] = {}
        for key, value in tensors.items():
            if key.startswith(f"optim{n}."):
                _, index, name = key.split(".", 2)
                optim_state.setdefault(int(index), {})[name] = value
        for index, values in meta["optim_scalars"][n].items():
            optim_state.setdefault(int(index), {}).update(values)
        optimizer.load_state_dict({"state": optim_state, "param_groups": meta["param_groups"][n]})
    torch.set_rng_state(tensors["rng.torch"])
    return Progress(**meta["state"])
