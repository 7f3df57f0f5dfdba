"""Fixtures of the export tests: ``tiny_synth``, a small generated SynthME dataset (3 subjects,
one 4-second video each), made once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from export.synth import SynthConfig, generate

    out = tmp_path_factory.mktemp("tiny") / "synth"
    generate(SynthConfig(out_dir=out, seed=3, subjects=3, videos_per_subject=1, duration_s=4.0,
                         quiet=True, contact_sheet=False))
    return out


@pytest.fixture(scope="session")
def tiny_subjects(tiny_synth: Path) -> list[str]:
    """The subjects of ``tiny_synth``, sorted (the generator names them after its portraits)."""
    from export.datasets import load_dataset

    return sorted({v.subject for v in load_dataset(tiny_synth).videos})
