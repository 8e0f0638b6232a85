"""The one safe writer: no link followed on the way or at the end, complete or nothing."""
from __future__ import annotations

import errno
import os
import stat

import pytest

from rigorlab.core import safefs
from rigorlab.core.errors import UserError


@pytest.fixture
def outside(tmp_path):
    d = tmp_path / "outside"
    d.mkdir()
    (d / "victim").write_text("keep")
    return d


def _leftovers(ws):
    return [p for p in ws.rglob("*") if p.name.endswith(".tmp")]


def test_writes_creates_parents_and_keeps_the_mode_of_what_it_replaces(workspace):
    safefs.write_text(workspace / "a/b/c.txt", "one", root=workspace)
    target = workspace / "a/b/c.txt"
    assert target.read_text() == "one" and stat.S_IMODE(target.stat().st_mode) == 0o644
    target.chmod(0o600)
    safefs.write_text("a/b/c.txt", "two", root=workspace)
    assert target.read_text() == "two" and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert not _leftovers(workspace)


@pytest.mark.parametrize("where", ["final", "parent", "grandparent"])
def test_a_planted_link_is_refused_and_nothing_outside_changes(workspace, outside, where):
    if where == "final":
        (workspace / "out").mkdir()
        (workspace / "out" / "f.txt").symlink_to(outside / "victim")
    elif where == "parent":
        (workspace / "out").symlink_to(outside)
    else:
        (workspace / "deep").symlink_to(outside)
    path = workspace / ("deep/out/f.txt" if where == "grandparent" else "out/f.txt")
    with pytest.raises(safefs.UnsafePath, match="symbolic link"):
        safefs.write_text(path, "evil", root=workspace)
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]
    assert (outside / "victim").read_text() == "keep"
    assert not _leftovers(workspace)


def test_paths_outside_the_root_are_refused(workspace, outside):
    with pytest.raises(safefs.UnsafePath, match="outside"):
        safefs.write_text(outside / "new", "x", root=workspace)
    with pytest.raises(safefs.UnsafePath):
        safefs.write_text(workspace / "a/../../x", "x", root=workspace)


def test_a_failing_block_leaves_the_old_file_and_no_temporary(workspace):
    safefs.write_text("f", "old", root=workspace)
    with pytest.raises(RuntimeError):
        with safefs.open_atomic(workspace / "f", root=workspace) as fh:
            fh.write(b"half")
            raise RuntimeError("crash")
    assert (workspace / "f").read_text() == "old" and not _leftovers(workspace)


def test_no_replace_refuses_an_existing_file(workspace):
    safefs.write_text("f", "old", root=workspace)
    with pytest.raises(UserError, match="already exists"):
        safefs.write_text("f", "new", root=workspace, replace=False)
    safefs.write_text("g", "new", root=workspace, replace=False)
    assert (workspace / "f").read_text() == "old" and (workspace / "g").read_text() == "new"


def test_read_refuses_links(workspace, outside):
    (workspace / "l").symlink_to(outside / "victim")
    with pytest.raises(safefs.UnsafePath):
        safefs.read_bytes("l", root=workspace)
    safefs.write_text("ok", "fine", root=workspace)
    assert safefs.read_bytes("ok", root=workspace) == b"fine"


@pytest.mark.parametrize("cross_device", [False, True])
def test_new_folder_appears_whole_or_not_at_all(workspace, monkeypatch, cross_device):
    if cross_device:
        real_rename = os.rename

        def rename(src, dst, **kw):
            if "src_dir_fd" not in kw:  # the move out of the staging folder
                raise OSError(errno.EXDEV, "cross-device")
            return real_rename(src, dst, **kw)
        monkeypatch.setattr(os, "rename", rename)
    with safefs.new_folder(workspace / "runs/r1", root=workspace) as tmp:
        assert not tmp.is_relative_to(workspace)
        (tmp / "sub").mkdir()
        (tmp / "sub" / "x.txt").write_text("x")
        (tmp / "y.bin").write_bytes(b"\0" * 10)
        assert not (workspace / "runs/r1").exists()
    assert (workspace / "runs/r1/sub/x.txt").read_text() == "x"
    assert (workspace / "runs/r1/y.bin").stat().st_size == 10
    with pytest.raises(RuntimeError):
        with safefs.new_folder(workspace / "runs/r2", root=workspace) as tmp:
            (tmp / "partial").write_text("p")
            raise RuntimeError("killed")
    assert sorted(p.name for p in (workspace / "runs").iterdir()) == ["r1"]
    with pytest.raises(UserError, match="already exists"):
        with safefs.new_folder(workspace / "runs/r1", root=workspace):
            pass


def test_new_folder_refuses_a_linked_parent(workspace, outside):
    (workspace / "runs").symlink_to(outside)
    with pytest.raises(safefs.UnsafePath):
        with safefs.new_folder(workspace / "runs/r1", root=workspace):
            pass
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]


def test_reads_follow_links_only_while_they_stay_inside(workspace, outside):
    safefs.write_text("AGENTS.md", "rules", root=workspace)
    (workspace / "CLAUDE.md").symlink_to("AGENTS.md")
    (workspace / "escape.md").symlink_to(outside / "victim")
    (workspace / "sub").symlink_to(outside)
    assert safefs.read_bytes("CLAUDE.md", root=workspace, follow=True) == b"rules"
    for name in ("escape.md", "sub/victim"):
        with pytest.raises(safefs.UnsafePath):
            safefs.read_bytes(name, root=workspace, follow=True)
    with pytest.raises(safefs.UnsafePath, match="symbolic link"):
        safefs.read_bytes("CLAUDE.md", root=workspace)


def test_a_fifo_or_a_folder_is_not_read(workspace):
    os.mkfifo(workspace / "pipe")
    (workspace / "dir").mkdir()
    for name in ("pipe", "dir"):
        with pytest.raises((safefs.UnsafePath, IsADirectoryError)):
            safefs.read_bytes(name, root=workspace)


def test_open_read_pages_through_a_file(workspace):
    safefs.write_bytes("log", b"0123456789", root=workspace)
    with safefs.open_read("log", root=workspace) as fh:
        fh.seek(4)
        assert fh.read(3) == b"456"


def test_new_folder_replaces_a_folder_without_following_links_inside(workspace, outside):
    old = workspace / "runs/r1"
    old.mkdir(parents=True)
    (old / "keep-out").symlink_to(outside)
    (old / "f").write_text("old")
    with safefs.new_folder(old, root=workspace, replace=True) as tmp:
        (tmp / "f").write_text("new")
    assert (old / "f").read_text() == "new" and not (old / "keep-out").exists()
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]
    assert sorted(p.name for p in (workspace / "runs").iterdir()) == ["r1"]
    (workspace / "runs/file").write_text("x")
    with pytest.raises(safefs.UnsafePath, match="not a folder"):
        with safefs.new_folder(workspace / "runs/file", root=workspace, replace=True):
            pass


def test_folders_are_staged_where_no_sandbox_reaches(workspace, state_home):
    with safefs.new_folder(workspace / "out", root=workspace) as tmp:
        assert tmp.is_relative_to(state_home) and stat.S_IMODE(tmp.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((workspace / "out").stat().st_mode) & 0o055 == 0o055 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
