"""Where the models shipped in the package lie, for what must start without importing torch
(the command line, the settings)."""

from __future__ import annotations

from pathlib import Path

#: The bundled bidirectional model and its forward-only twin.
DEFAULT_MODEL = Path(__file__).parent / "pretrained" / "bigru-conll03"
FORWARD_MODEL = DEFAULT_MODEL.with_name("gru-conll03")
