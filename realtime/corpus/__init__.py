"""``python -m realtime batch``: a corpus of recordings, spotted on Ray or local processes.

- :mod:`realtime.corpus.inputs`: SOURCES (files, folders, globs, list files) -> recordings;
- :mod:`realtime.corpus.work`: the worker (one spotter, graphs loaded once) and its tasks;
- :mod:`realtime.corpus.stitch`: chunks of a long recording joined exactly like one pass;
- :mod:`realtime.corpus.executors`: Ray actors (embedded or a cluster) or local processes;
- :mod:`realtime.corpus.output`: event files, done-markers (resume), the summary CSV;
- :mod:`realtime.corpus.cli`: the command (``add_arguments``, ``run``).

Importing this package is cheap: Ray, OpenCV and the spotter load only when a run starts.
"""

from __future__ import annotations

from realtime.corpus.cli import add_arguments, run

__all__ = ["add_arguments", "run"]
