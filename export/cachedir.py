"""Where face crops are cached by default: a per-user folder (``$STSNET_SW_CACHE``, else
``$XDG_CACHE_HOME/stsnet-sw/crops``, else ``~/.cache/stsnet-sw/crops``), never the current
directory (running from the checkout used to write crops into it)."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "STSNET_SW_CACHE"


def default_cache_dir() -> Path:
    """The per-user face-crop cache folder."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "stsnet-sw" / "crops"


def cache_help() -> str:
    """The ``--cache`` help text of the commands that crop faces."""
    return (f"face-crop cache folder (default: {default_cache_dir()}, per user; ${ENV_VAR} "
            "changes it); the crops are made once and reused")
