"""The model artifact: ``config.json``, ``vocab.json`` and ``weights.safetensors``, and
``lexicon.json`` for a model with lexicon features.

Loading reads JSON and safetensors only, never pickle, and checks that the files agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from model.bundled import DEFAULT_MODEL
from model.lexicon import Lexicon, digest_of
from model.network import TaggerConfig, TaggerNetwork
from model.vocab import Vocab

CONFIG = "config.json"
VOCAB = "vocab.json"
WEIGHTS = "weights.safetensors"
LEXICON = "lexicon.json"
FORMAT_VERSION = 1
HALF = "words.weight"
#: Modes of the artifact's files and directory, whatever the umask: a server that runs as
#: another user (the image's uid 10001) must read an artifact copied or mounted into it.
FILE_MODE = 0o644
DIRECTORY_MODE = 0o755


class ArtifactError(ValueError):
    """A model directory that is missing, corrupt or inconsistent; the message says which."""


@dataclass
class LoadedModel:
    """A network in eval mode with its vocabulary and the metadata it was saved with."""

    name: str
    network: TaggerNetwork
    vocab: Vocab
    metadata: dict[str, Any]


def save(
    directory: str | Path,
    network: TaggerNetwork,
    vocab: Vocab,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Write the artifact, replacing the three files atomically one by one, each readable by
    all (:data:`FILE_MODE`, :data:`DIRECTORY_MODE`)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(DIRECTORY_MODE)
    config: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "model": network.config.to_json(),
        "metadata": metadata or {},
    }
    lexicon = vocab.lexicon
    if (lexicon is not None) != bool(network.config.lexicon_categories):
        raise ValueError("a network with lexicon features needs a vocab with a lexicon")
    if lexicon is not None:
        config["lexicon"] = {"categories": lexicon.categories, "sha256": lexicon.digest()}
        _write_json(directory / LEXICON, lexicon.to_json(), indent=None)
    else:
        (directory / LEXICON).unlink(missing_ok=True)
    _write_json(directory / CONFIG, config)
    _write_json(directory / VOCAB, vocab.to_json())
    state = {k: v.detach().contiguous().cpu() for k, v in network.state_dict().items()}
    # The word table is most of the artifact; half precision halves it, and loading casts it
    # back to float32 (the shipped model is evaluated as loaded from here).
    state[HALF] = state[HALF].half()
    tmp = directory / (WEIGHTS + ".tmp")
    save_file(state, str(tmp), metadata={"format": "pt"})
    tmp.chmod(FILE_MODE)  # safetensors creates its file 0600
    tmp.replace(directory / WEIGHTS)


def _write_json(path: Path, data: Any, indent: int | None = 1) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=indent) + "\n", encoding="utf-8")
    tmp.chmod(FILE_MODE)
    tmp.replace(path)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path.parent}: missing {path.name}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ArtifactError(f"{path}: not valid JSON ({error})") from None


def load(directory: str | Path = DEFAULT_MODEL, device: str | torch.device = "cpu") -> LoadedModel:
    """Load and check an artifact directory; raises :class:`ArtifactError` on any problem."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ArtifactError(f"{directory}: not a model directory")
    config = _read_json(directory / CONFIG)
    if not isinstance(config, dict) or config.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(f"{directory / CONFIG}: expected format_version {FORMAT_VERSION}")
    try:
        network_config = TaggerConfig.from_json(config["model"])
        vocab = Vocab.from_json(_read_json(directory / VOCAB))
    except (KeyError, TypeError, ValueError) as error:
        raise ArtifactError(f"{directory}: bad config or vocab ({error})") from None
    _check_consistent(directory, network_config, vocab)
    vocab.lexicon = _load_lexicon(directory, config, network_config)
    try:
        state = load_file(str(directory / WEIGHTS), device="cpu")
    except FileNotFoundError:
        raise ArtifactError(f"{directory}: missing {WEIGHTS}") from None
    except (SafetensorError, OSError, ValueError) as error:
        raise ArtifactError(f"{directory / WEIGHTS}: unreadable ({error})") from None
    network = TaggerNetwork(network_config)
    expected = network.state_dict()
    if set(state) != set(expected):
        missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
        raise ArtifactError(f"{directory / WEIGHTS}: missing {missing}, unexpected {extra}")
    for key, tensor in state.items():
        if tensor.shape != expected[key].shape:
            raise ArtifactError(
                f"{directory / WEIGHTS}: {key} has shape {tuple(tensor.shape)}, "
                f"config says {tuple(expected[key].shape)}"
            )
    network.load_state_dict(state)
    network.to(device).eval()
    return LoadedModel(directory.name, network, vocab, dict(config.get("metadata", {})))


def _load_lexicon(
    directory: Path, config: dict[str, Any], network_config: TaggerConfig
) -> Lexicon | None:
    """The artifact's lexicon, checked against what ``config.json`` says of it."""
    expected = config.get("lexicon")
    present = (directory / LEXICON).exists()
    if expected is None and not network_config.lexicon_categories:
        if present:
            raise ArtifactError(f"{directory}: {LEXICON} present, but config.json has no lexicon")
        return None
    if expected is None or not network_config.lexicon_categories:
        raise ArtifactError(f"{directory}: config.json disagrees with itself about the lexicon")
    raw = _read_json(directory / LEXICON)
    try:
        lexicon = Lexicon.from_json(raw, causal=not network_config.bidirectional)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ArtifactError(f"{directory / LEXICON}: bad lexicon ({error})") from None
    if (
        lexicon.categories != expected.get("categories")
        or len(lexicon.categories) != network_config.lexicon_categories
    ):
        raise ArtifactError(
            f"{directory}: {LEXICON} has categories {lexicon.categories}, config.json expects "
            f"{expected.get('categories')} ({network_config.lexicon_categories})"
        )
    if digest_of(raw) != expected.get("sha256"):
        raise ArtifactError(f"{directory}: {LEXICON} does not match the sha256 in config.json")
    return lexicon


def _check_consistent(directory: Path, config: TaggerConfig, vocab: Vocab) -> None:
    checks = [
        ("words", len(vocab.words), config.num_words),
        ("characters", len(vocab.chars), config.num_chars),
        ("tags", len(vocab.tags), config.num_tags),
    ]
    for what, in_vocab, in_config in checks:
        if in_vocab != in_config:
            raise ArtifactError(
                f"{directory}: vocab.json has {in_vocab} {what}, config.json expects {in_config}"
            )
    if "O" not in vocab.tags:
        raise ArtifactError(f"{directory}: tag set has no 'O'")
