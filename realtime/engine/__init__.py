"""ONNX Runtime engine: face crops in, class probabilities of each window's middle frame out.

Two ways to run the same model, chosen by ``mode``:

- ``"cached"`` (default, the streaming path): ``backbone.onnx`` runs once per frame and its
  512x4x4 feature map goes into a buffer of recent features; ``head.onnx`` runs once per window on
  the last K of them. Each frame passes the backbone once instead of K times.
- ``"window"``: the whole-window graph ``stsnet_sw.onnx`` runs on the last K crops at every
  step. K times the backbone work; kept for parity checks and as a fallback.

The buffer of recent frames is a *tape* (:mod:`realtime.engine.tape`): the last K frames always
sit in K contiguous slots in time order, so the head reads them in place. Its index logic is
shared; the storage is one class per backend (:mod:`realtime.engine.stores`: CPU feature tape,
CUDA device tape, window-mode crops), and :mod:`realtime.engine.sessions` opens and checks the
graphs on the chosen provider.

:meth:`Engine.push` adds one frame and, once K consecutive frames are buffered, returns the
result for the window's MIDDLE frame, which is ``(K - 1) // 2`` frames behind the frame just
pushed. :meth:`Engine.reset` empties the buffer (face lost, frame gap). :meth:`Engine.run_batch`
classifies a whole run of consecutive crops in batches (:mod:`realtime.engine.batch`).

When the graphs' contract names a reference- or lag-difference input (``realtime.reference``),
the engine turns each crop into the network's input itself, with a running state that restarts
at :meth:`Engine.reset`; callers always pass plain face crops.

Torch-free: numpy and onnxruntime only.
"""

from __future__ import annotations

from realtime.engine.batch import DEFAULT_BATCH
from realtime.engine.front import Engine
from realtime.engine.results import BatchOutput, WindowOutput
from realtime.engine.sessions import HEAD_THREADS, MODES, PROVIDERS, EngineError, cuda_problem
from realtime.engine.tape import DEFAULT_TAPE_CAPACITY, Tape

__all__ = ["DEFAULT_BATCH", "DEFAULT_TAPE_CAPACITY", "HEAD_THREADS", "MODES", "PROVIDERS",
           "BatchOutput", "Engine", "EngineError", "Tape", "WindowOutput", "cuda_problem"]
