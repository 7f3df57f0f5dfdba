"""Command-line plumbing of both halves: lazy dispatch, the shared live options, quiet logs, and
the ``spot`` command (``python -m realtime spot``).

Importing this package costs nothing: the option helpers import the spotter's defaults only
when a parser is built, and each command's module only when it runs.
"""

from __future__ import annotations

from realtime.cli.dispatch import dispatch
from realtime.cli.options import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_OUTPUT_FAILED,
    add_engine_options,
    add_provider_option,
    add_threads_option,
    add_weights_option,
    check_threads_option,
    quiet_logs,
)

__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_OUTPUT_FAILED", "add_engine_options",
           "add_provider_option", "add_threads_option", "add_weights_option",
           "check_threads_option", "dispatch", "quiet_logs"]
