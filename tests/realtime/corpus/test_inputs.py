"""SOURCES expansion: files, folders, globs, list files, output names, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from realtime.corpus.inputs import CorpusInputError, Recording, expand_sources


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for rel in ("a/s1/v2.mp4", "a/s1/v10.mp4", "a/s2/v1.avi", "a/notes.txt.bak",
                "frames/img_001.png", "frames/img_002.png", "b/v1.mp4", "b/v1.mov"):
        touch(tmp_path / rel)
    return tmp_path


def names(recs: list[Recording]) -> list[str]:
    return [r.name for r in recs]


def test_a_folder_gives_its_videos_in_natural_order(tree: Path) -> None:
    recs = expand_sources(["a"], base=tree)
    assert names(recs) == ["s1__v2", "s1__v10", "s2__v1"]
    assert all(Path(r.path).is_absolute() for r in recs)


def test_a_folder_of_images_is_one_recording(tree: Path) -> None:
    (rec,) = expand_sources(["frames"], base=tree)
    assert rec.name == "frames" and Path(rec.path) == tree / "frames"


def test_names_keep_the_suffix_only_when_stems_collide(tree: Path) -> None:
    assert names(expand_sources(["b"], base=tree)) == ["v1_mov", "v1_mp4"]


def test_globs_list_files_and_duplicates(tree: Path) -> None:
    lst = tree / "corpus.txt"
    lst.write_text("# interviews\na/s1/v2.mp4\n\nb/*.mov   # one file\n")
    recs = expand_sources([str(lst), "a/**/*.mp4", "@" + str(lst)], base=tree)
    assert [Path(r.path).relative_to(tree).as_posix() for r in recs] == [
        "a/s1/v2.mp4", "b/v1.mov", "a/s1/v10.mp4"]


def test_a_single_file_is_named_by_its_stem(tree: Path) -> None:
    assert names(expand_sources(["a/s2/v1.avi"], base=tree)) == ["v1"]


@pytest.mark.parametrize(("specs", "message"), [
    ([], "no SOURCES given"),
    (["missing.mp4"], "'missing.mp4': no such file or folder"),
    (["*.mkv"], "glob '*.mkv' matches nothing"),
    (["empty"], "holds no video files and no images"),
    (["list.txt"], "list.txt: line 2: source 'gone.mp4': no such file"),
])
def test_bad_sources_are_named(specs: list[str], message: str, tree: Path) -> None:
    (tree / "empty").mkdir()
    (tree / "list.txt").write_text("b/v1.mp4\ngone.mp4\n")
    with pytest.raises(CorpusInputError, match=message.replace("*", r"\*").replace(".", r"\.")):
        expand_sources(specs, base=tree)


def test_signature_changes_with_the_file(tree: Path) -> None:
    (rec,) = expand_sources(["b/v1.mp4"], base=tree)
    before = rec.signature()
    touch(Path(rec.path), b"longer")
    assert rec.signature() != before and rec.signature()["size"] == 6
