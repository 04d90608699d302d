"""The Dockerfile and .dockerignore: lint, structure, build context, and the container's command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from model.bundled import DEFAULT_MODEL
from tests.deploy.support import (
    ROOT,
    answers,
    free_port,
    read_dockerfile,
    run_tool,
    serving,
    tool,
)


def test_hadolint_finds_nothing_at_warning_level() -> None:
    dockerfile = str(ROOT / "Dockerfile")
    result = run_tool([tool("hadolint"), "--failure-threshold", "warning", dockerfile])
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_is_multi_stage_non_root_cpu_by_default_and_checks_readiness() -> None:
    dockerfile = read_dockerfile()
    assert len(dockerfile.stages) >= 2, "build and runtime stages"
    text = (ROOT / "Dockerfile").read_text()
    # Official defaults: the slim Python image, and torch from PyTorch's CPU index.
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim-bookworm$", text, re.M)
    assert all(stage.startswith("${BASE_IMAGE} AS ") for stage in dockerfile.stages)
    assert re.search(r"^ARG TORCH_VARIANT=cpu$", text, re.M)
    index = "https://download.pytorch.org/whl/${TORCH_VARIANT}"
    assert re.search(rf"^ARG TORCH_INDEX_URL={re.escape(index)}$", text, re.M)
    assert '--index-url "${TORCH_INDEX_URL}"' in text
    # pip is pinned before anything is installed with it, whatever the base brings.
    installs = re.findall(r"^RUN pip install .*$", text, re.M)
    assert re.search(r'"pip==\$\{PIP_VERSION\}"', installs[0]), installs
    assert re.search(r"^ARG PIP_VERSION=\d+(\.\d+)+$", text, re.M)
    user = dockerfile.all("USER")[-1]
    assert user.split(":")[0] not in {"0", "root"}
    assert dockerfile.exec_form("ENTRYPOINT") + dockerfile.exec_form("CMD")
    assert "/readyz" in " ".join(dockerfile.healthcheck())
    assert dockerfile.all("EXPOSE") == [dockerfile.env()["NER_PORT"]]
    assert dockerfile.env()["NER_HOST"] == "0.0.0.0"  # reachable from outside the container


#: Docker's wildcards as regular expressions (``*`` and ``?`` stop at ``/``).
_GLOB = {"**": ".*", "*": "[^/]*", "?": "[^/]"}


def _dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """(excludes, regex) per line of .dockerignore, in Docker's syntax: later lines win."""
    patterns = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        glob = line.lstrip("!").strip("/")
        regex = "".join(
            _GLOB.get(part, re.escape(part)) for part in re.split(r"(\*\*|\*|\?)", glob)
        )
        patterns.append((not include, re.compile(regex)))
    return patterns


def _in_context(path: str, patterns: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether Docker sends ``path`` (relative, with /) in the build context."""
    excluded = False
    parts = path.split("/")
    for excludes, pattern in patterns:
        # A pattern that names a directory takes in everything under it.
        if any(pattern.fullmatch("/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            excluded = excludes
    return not excluded


def test_build_context_holds_the_package_and_bundled_model_and_nothing_heavy() -> None:
    patterns = _dockerignore_patterns()
    sent = [
        str(path.relative_to(ROOT))
        for path in ROOT.rglob("*")
        if path.is_file() and _in_context(str(path.relative_to(ROOT)), patterns)
    ]
    weights = str((DEFAULT_MODEL / "weights.safetensors").relative_to(ROOT))
    expected = {"pyproject.toml", "README.md", "service/cli.py", "service/http/app.py", weights}
    assert expected <= set(sent)
    for copied in re.findall(r"^COPY (?!--from)(.+) \S+$", (ROOT / "Dockerfile").read_text(), re.M):
        for source in copied.split():
            assert any(s == source or s.startswith(source + "/") for s in sent), source
    unwanted = {".git", ".venv", "runs", "tests", "bench", ".mypy_cache", "__pycache__"}
    assert not [s for s in sent if unwanted & set(s.split("/"))]
    assert sum((ROOT / s).stat().st_size for s in sent) < 100_000_000


def _container_env(port: int) -> dict[str, str]:
    """This environment without NER_* settings, plus the image's ENV, listening on loopback."""
    image_env = read_dockerfile().env()
    image_env.pop("PATH", None)  # the image's venv; here this interpreter stands in for it
    env = {key: value for key, value in os.environ.items() if not key.startswith("NER_")}
    # Only where it listens differs: a free loopback port instead of 0.0.0.0:8000.
    return {**env, **image_env, "NER_HOST": "127.0.0.1", "NER_PORT": str(port)}


def _here(argv: list[str]) -> list[str]:
    """The image's command with this interpreter for its ``python``."""
    assert argv[0] == "python", argv
    return [sys.executable, *argv[1:]]


def test_container_command_becomes_ready_and_its_healthcheck_agrees(tmp_path: Path) -> None:
    dockerfile = read_dockerfile()
    port = free_port()
    env = _container_env(port)
    command = _here(dockerfile.exec_form("ENTRYPOINT") + dockerfile.exec_form("CMD"))
    healthcheck = _here(dockerfile.healthcheck())
    log = tmp_path / "container.log"

    def healthy() -> bool:
        result = subprocess.run(healthcheck, env=env, cwd=tmp_path, capture_output=True, timeout=30)
        return result.returncode == 0

    # From an empty directory, as in the image: the model comes with the installed package.
    ready = f"http://127.0.0.1:{port}/readyz"
    with serving(command, env, log, ready, 180, "/readyz of the container's command", tmp_path):
        assert answers(f"http://127.0.0.1:{port}/healthz")
        assert healthy()
    assert not healthy(), "the HEALTHCHECK passes with nothing listening"


def _pins() -> dict[str, str]:
    """``name: version`` of each line of constraints.txt (names normalised as pip does)."""
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep, f"not pinned: {line}"
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    return pins


def test_image_and_make_install_every_dependency_at_a_pinned_version() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"RUN pip install [^\n]*-c constraints\.txt \.", text)
    assert (ROOT / "Makefile").read_text().count("-c constraints.txt") == 2
    pins = _pins()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted += extra
    for requirement in wanted:
        name = re.sub(r"[-_.]+", "-", re.split(r"[<>=!~;\[ ]", requirement)[0]).lower()
        if name != project["name"]:  # an extra that names another extra of the project
            assert name in pins, f"{name} is not in constraints.txt"
    # The pins are what this environment runs: the file is not stale. (The bench extra's
    # packages are pinned too, but only installed where benchmarks run.)
    installed = {
        re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower(): d.version
        for d in metadata.distributions()
    }
    checked = [name for name in pins if name in installed]
    assert len(checked) > len(pins) // 2
    for name in checked:
        assert installed[name].split("+")[0] == pins[name], name


#: Run with the train extra's packages made unimportable: the command line and the service,
#: up to loading a model, as the image runs them.
_SERVE_WITHOUT_TRAINING = """
import sys
for name in ("seqeval", "sklearn", "scipy", "pyarrow", "matplotlib"):
    sys.modules[name] = None  # import raises ImportError
from service.cli import main
from model.bundled import DEFAULT_MODEL
from model.device import resolve_device
from model.tagger import Tagger
import service.http.app, service.server, service.core.process
Tagger.load(DEFAULT_MODEL, resolve_device("cpu"))
try:
    main(["serve", "--help"])
except SystemExit as end:
    sys.exit(end.code)
"""


def test_serving_needs_nothing_of_the_train_extra() -> None:
    result = run_tool([sys.executable, "-c", _SERVE_WITHOUT_TRAINING])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "serve" in result.stdout
