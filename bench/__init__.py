"""Benchmarks, too long for CI; each runs from the repository root as ``python -m bench.NAME``
(``python -m bench.peers --help``). Their figures are in BENCHMARKS.md."""
