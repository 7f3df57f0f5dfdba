"""Issue 15: ``synth --subjects`` above the number of people says which subjects are
re-toned (and mirrored) copies of which person instead of doing it silently."""

from __future__ import annotations

from types import SimpleNamespace

from export.synth.dataset import SynthConfig, reuse_note, select_subjects


def person(name: str) -> SimpleNamespace:
    return SimpleNamespace(subject=name, paired=False)


def test_reused_faces_are_named(tmp_path) -> None:
    people = [person("ada"), person("bob")]
    subjects = select_subjects(people, set(), SynthConfig(out_dir=tmp_path, subjects=5))
    assert [s.subject for s in subjects] == ["ada", "bob", "ada_m1", "bob_m1", "ada_m2"]
    note = reuse_note(subjects)
    assert note is not None and note.startswith("note: 5 subjects from 2 people: 3 are "
                                                "re-toned copies of the same faces (2 of them "
                                                "mirrored), not new people: ada_m1 (from ada)")
    assert "--portraits" in note
    exact = select_subjects(people, set(), SynthConfig(out_dir=tmp_path, subjects=2))
    assert reuse_note(exact) is None
