"""Build the service's image on a machine that reaches no container registry (``make image``).

The Dockerfile's defaults take the official Python image and PyTorch's CPU wheel index. Where
neither is reachable (no registry of images, no PyTorch index: only Debian's archive and PyPI),
this builds the same Dockerfile with two build arguments changed:

- ``BASE_IMAGE``: a stand-in for ``python:3.11-slim-bookworm`` made here from Debian's
  packages (``debootstrap --variant=minbase bookworm`` with Debian's Python 3.11, imported
  with ``docker import``), which trusts the CA bundle this machine's pip and apt use;
- ``TORCH_INDEX_URL``: the CPU wheel of torch that ``pip download`` takes on this machine,
  served on loopback for the build (which runs on the host's network to reach it).

The stand-in base and the images built on it are tagged with a hash of what made them, so they
are made once per Docker engine (per CI run) and rebuilt when the recipe changes.

    python -m tests.container.build [--base auto|official|standin] [--tag bigru-ner:cpu] [--tools]

Only the standard library here: ``make image`` runs it before anything else is installed.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
#: The base image the Dockerfile defaults to.
OFFICIAL_BASE = "python:3.11-slim-bookworm"
TORCH = "torch==2.13.0"
#: Where the build finds that wheel. Always the same port when it is free: the URL is a build
#: argument, and a new one would make Docker rebuild every step from torch on.
TORCH_INDEX_PORT = 38473
MIRROR = "http://deb.debian.org/debian"
#: What the stand-in base holds besides Debian's minimal system.
STANDIN_PACKAGES = ["python3", "python3-venv", "python-is-python3"]
#: The CA bundle that this machine's pip and apt trust (``pip config list`` names it): Debian's
#: system bundle unless PIP_CERT names another.
CA_BUNDLE = Path(os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt")
#: Where containers find that bundle: Debian's path, which Python and pip read.
CA_IN_IMAGE = "/etc/ssl/certs/ca-certificates.crt"
#: Programs of the compose stack that the tests run from Debian's packages (``standin/``).
STANDIN_TOOLS = ("haproxy", "prometheus")


def docker(*args: str, capture: bool = False, stdin: IO[bytes] | None = None) -> str:
    """Run the docker client; its output when ``capture``; raises on failure."""
    result = subprocess.run(
        ["docker", *args],
        check=True,
        stdin=stdin,
        stdout=subprocess.PIPE if capture else None,
        text=True,
    )
    return result.stdout.strip() if capture else ""


def image_exists(tag: str) -> bool:
    """Whether the engine holds an image named ``tag``."""
    result = subprocess.run(["docker", "image", "inspect", tag], capture_output=True, check=False)
    return result.returncode == 0


def official_base_reachable() -> bool:
    """Whether the official base image is here or can be pulled (no registry: fails at once)."""
    if image_exists(OFFICIAL_BASE):
        return True
    pulled = subprocess.run(["docker", "pull", "-q", OFFICIAL_BASE], capture_output=True)
    return pulled.returncode == 0


def _digest(*parts: str | bytes) -> str:
    hashed = hashlib.sha256()
    for part in parts:
        hashed.update(part.encode() if isinstance(part, str) else part)
        hashed.update(b"\0")
    return hashed.hexdigest()[:12]


def standin_base() -> str:
    """The stand-in base image's tag, made first if the engine lacks it (a few minutes)."""
    if not CA_BUNDLE.is_file():
        raise SystemExit(f"no CA bundle at {CA_BUNDLE}: set PIP_CERT to the one pip uses")
    tag = "bigru-ner-standin/base:" + _digest(
        MIRROR, " ".join(STANDIN_PACKAGES), CA_BUNDLE.read_bytes()
    )
    if image_exists(tag):
        return tag
    if shutil.which("debootstrap") is None:
        raise SystemExit("debootstrap is not installed: run `make system-deps`")
    print(f"making the stand-in base image {tag} with debootstrap", flush=True)
    with tempfile.TemporaryDirectory(prefix="standin-") as tmp:
        root = Path(tmp) / "root"
        subprocess.run(
            ["debootstrap", "--variant=minbase", "--include=" + ",".join(STANDIN_PACKAGES)]
            + ["bookworm", str(root), MIRROR],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        shutil.copyfile(CA_BUNDLE, root / CA_IN_IMAGE.lstrip("/"))
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for entry in (root / cache).glob("*"):
                if entry.is_file():
                    entry.unlink()
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        changes = [
            "ENV LANG=C.UTF-8",
            # Python's ssl (and so pip) and apt's https read the bundle from here.
            f"ENV SSL_CERT_FILE={CA_IN_IMAGE}",
            'CMD ["python3"]',
        ]
        docker("import", *(f"--change={c}" for c in changes), "-", tag, stdin=tar.stdout)
        assert tar.wait() == 0, "tar of the stand-in root failed"
    return tag


@contextmanager
def torch_index() -> Iterator[str]:
    """A package index on loopback holding the torch wheel that pip takes here; its URL."""
    with tempfile.TemporaryDirectory(prefix="torch-index-") as tmp:
        wheels = Path(tmp) / "torch"
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", TORCH, "-d", str(wheels)],
            check=True,
        )
        handler = functools.partial(_QuietHandler, directory=tmp)
        try:
            server = http.server.ThreadingHTTPServer(("127.0.0.1", TORCH_INDEX_PORT), handler)
        except OSError:  # taken: any port will do, but the build's cache misses from torch on
            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        with server:
            threading.Thread(target=server.serve_forever, daemon=True).start()
            try:
                yield f"http://127.0.0.1:{server.server_address[1]}/"
            finally:
                server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the index (a directory listing is a valid simple index) without logging."""

    def log_message(self, format: str, *args: object) -> None:
        pass


def build_on_standin(
    context: Path, tag: str, dockerfile: str = "Dockerfile", args: Sequence[str] = ()
) -> str:
    """``docker build`` of ``dockerfile`` in ``context`` on the stand-in base, with the local
    torch wheel; the host network lets the build reach that wheel on loopback."""
    base = standin_base()
    with torch_index() as index:
        docker(
            "build",
            "--network=host",
            f"--build-arg=BASE_IMAGE={base}",
            f"--build-arg=TORCH_INDEX_URL={index}",
            *args,
            "-f",
            str(context / dockerfile),
            "-t",
            tag,
            str(context),
        )
    return tag


def build_standin_tool(name: str) -> str:
    """``bigru-ner-standin/NAME``: Debian's package of a program that the compose stack runs
    from an official image (haproxy, prometheus), on the stand-in base (``standin/``)."""
    os.environ.setdefault("DOCKER_BUILDKIT", "0")
    tag = f"bigru-ner-standin/{name}"
    docker(
        "build",
        "--network=host",
        f"--build-arg=BASE_IMAGE={standin_base()}",
        "-f",
        str(HERE / "standin" / f"{name}.Dockerfile"),
        "-t",
        tag,
        str(HERE / "standin"),
    )
    return tag


def build_image(tag: str = "bigru-ner:cpu", base: str = "auto") -> str:
    """Build the service's image: from the Dockerfile's defaults where the official base image
    is reachable (``base="official"``), else on the stand-in (``base="standin"``)."""
    os.environ.setdefault("DOCKER_BUILDKIT", "0")  # the classic builder: it runs everywhere
    if base == "auto":
        base = "official" if official_base_reachable() else "standin"
    print(f"building {tag} on the {base} base", flush=True)
    if base == "official":
        docker("build", "-t", tag, str(ROOT))
        return tag
    return build_on_standin(ROOT, tag)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", choices=["auto", "official", "standin"], default="auto")
    parser.add_argument("--tag", default="bigru-ner:cpu")
    parser.add_argument(
        "--tools",
        action="store_true",
        help="also build the stand-ins of the compose stack's HAProxy and Prometheus images",
    )
    args = parser.parse_args(argv)
    build_image(args.tag, args.base)
    for name in STANDIN_TOOLS if args.tools else ():
        print(f"built {build_standin_tool(name)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
