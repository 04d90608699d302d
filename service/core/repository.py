"""A model repository, laid out as Triton's and TensorFlow Serving's are:
``<repository>/<name>/<version>/`` holding an artifact, versions named by integers.

:func:`scan` reads what the repository holds now: each model's versions, highest first, and
the forward-only twin it names for ``/v1/compare`` (in ``<repository>/<name>/model.json``:
``{"twin": "<name>"}``). Which version serves is decided by loading: the highest that loads
and passes its checks.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

#: What a model's name may be: it travels in URLs, JSON and metric labels as it is.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: The file of a model's own settings, beside its versions.
MODEL_FILE = "model.json"


class RepositoryError(ValueError):
    """A repository, or a model in it, that cannot be read; the message says where."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One model of a repository: its versions (highest first) and its twin's name."""

    name: str
    directory: Path
    versions: tuple[int, ...]
    twin: str | None = None

    def path(self, version: int) -> Path:
        return self.directory / str(version)


def scan(root: Path) -> dict[str, Entry]:
    """Every model of ``root`` with at least one version, by name. A directory whose name is
    not a model name, or that holds no version, is left out; a ``model.json`` that is not
    ``{"twin": NAME}`` raises :class:`RepositoryError`."""
    if not root.is_dir():
        raise RepositoryError(f"{root} is not a directory")
    found = {}
    for directory in sorted(root.iterdir()):
        if not directory.is_dir() or not NAME.fullmatch(directory.name):
            continue
        versions = sorted(
            (int(v.name) for v in directory.iterdir() if v.is_dir() and v.name.isdigit()),
            reverse=True,
        )
        if versions:
            twin = _twin(directory)
            found[directory.name] = Entry(directory.name, directory, tuple(versions), twin)
    return found


def _twin(directory: Path) -> str | None:
    path = directory / MODEL_FILE
    if not path.exists():
        return None
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RepositoryError(f"{path}: not readable JSON ({error})") from None
    twin = settings.get("twin") if isinstance(settings, dict) else None
    unknown = set(settings) - {"twin"} if isinstance(settings, dict) else set()
    if not isinstance(twin, str | None) or unknown or (twin and not NAME.fullmatch(twin)):
        raise RepositoryError(f'{path}: expected {{"twin": "<model name>"}}, got {settings!r}')
    return twin


def fingerprint(path: Path) -> tuple[tuple[str, int, int], ...]:
    """What a version directory holds now: each file's path, size and modification time. A
    version refused once is tried again when this changes (a copy that was still being
    written, or a fixed artifact)."""
    try:
        files = sorted(p for p in path.rglob("*") if p.is_file())
        return tuple(
            (str(p.relative_to(path)), (s := p.stat()).st_size, s.st_mtime_ns) for p in files
        )
    except OSError:  # removed while being read: what is there next time decides
        return ()
