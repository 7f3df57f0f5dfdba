"""Subject-disjoint protocols of ``python -m export train``: which subjects each fold holds out."""

from __future__ import annotations

import random

PROTOCOLS: tuple[str, ...] = ("loso", "kfold", "split", "all", "dataset")


def make_folds(subjects: list[str], protocol: str, folds: int = 4,
               test_subjects: list[str] | None = None,
               seed: int = 0) -> list[tuple[str, list[str]]]:
    """``[(fold_name, held_out_subjects), ...]``; ``all`` gives one fold with nothing held out."""
    subjects = sorted(set(subjects))
    if protocol == "loso":
        return [(f"loso_{s}", [s]) for s in subjects]
    if protocol == "kfold":
        if not 2 <= folds <= len(subjects):
            raise ValueError(f"--folds must be in [2, {len(subjects)}] (number of subjects), "
                             f"got {folds}")
        order = subjects[:]
        random.Random(seed).shuffle(order)
        return [(f"fold{i + 1}", sorted(order[i::folds])) for i in range(folds)]
    if protocol == "split":
        unknown = sorted(set(test_subjects or []) - set(subjects))
        if not test_subjects or unknown:
            raise ValueError(f"--test-subjects must name known subjects {subjects}; "
                             f"unknown: {unknown}")
        return [("split", sorted(test_subjects))]
    if protocol == "all":
        return [("all", [])]
    if protocol == "dataset":
        if not test_subjects:
            raise ValueError("--protocol dataset needs a dataset whose split.csv names test "
                             "subjects (SynthME2); use split or kfold otherwise")
        return [("test", sorted(test_subjects))]
    raise ValueError(f"unknown protocol {protocol!r}; valid: {', '.join(PROTOCOLS)}")
