"""The workspace jail: zero escapes under generated paths, symlink chains and look-alikes."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rigorlab.core.jail import PathOutsideWorkspace, RefusedWorkspace, Workspace, check_workspace_root

LOOKALIKES = ["\uff0e\uff0e", "\u2025", "\u2024\u2024", "..\u200b", "%2e%2e", ". .", "...", "..\u0338",
              "\u002e\u0307\u002e", "\uFE52\uFE52"]
SEGMENTS = st.sampled_from(["..", ".", "", "a", "b", "in_link", "out_link", "chain1", "loop",
                            "dangling", "sub", *LOOKALIKES])


@pytest.fixture
def jail(tmp_path: Path) -> tuple[Workspace, Path]:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("s")
    ws = tmp_path / "ws"
    (ws / "sub" / "a").mkdir(parents=True)
    (ws / "a").mkdir()
    os.symlink(outside, ws / "out_link")                 # absolute link out
    os.symlink("../outside", ws / "rel_out")              # relative link out
    os.symlink("sub", ws / "in_link")                     # link that stays in
    os.symlink("chain2", ws / "chain1")                   # chain ending outside
    os.symlink("sub/chain3", ws / "chain2")
    os.symlink("../../outside", ws / "sub" / "chain3")
    os.symlink("loop", ws / "loop")                       # self loop
    os.symlink(str(outside / "nope"), ws / "dangling")    # dangling, outside
    for name in LOOKALIKES:
        (ws / "sub" / name.replace("/", "_")).mkdir(exist_ok=True)
    return Workspace(ws), outside


def _inside(root: Path, p: Path) -> bool:
    """Independent oracle: follow links until nothing changes, then compare."""
    real = str(p)
    for _ in range(40):
        nxt = os.path.realpath(real)
        if nxt == real:
            break
        real = nxt
    return Path(real) == root or Path(real).is_relative_to(root)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(SEGMENTS, min_size=1, max_size=8), absolute=st.booleans())
def test_no_generated_path_escapes(jail, parts, absolute):
    ws, _ = jail
    raw = "/".join(parts)
    if absolute:
        raw = str(ws.root) + "/" + raw
    try:
        got = ws.path(raw)
    except PathOutsideWorkspace:
        return
    assert _inside(ws.root, got), f"{raw!r} escaped to {got}"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.sampled_from(["a", "sub", "in_link", "new", *LOOKALIKES]), min_size=1, max_size=6))
def test_safe_paths_are_accepted(jail, parts):
    ws, _ = jail
    got = ws.path("/".join(parts))
    assert got.is_relative_to(ws.root)


@pytest.mark.parametrize("raw", ["../outside/secret", "out_link/secret", "rel_out", "chain1",
                                 "sub/chain3/secret", "dangling", "sub/../../outside", "/etc/passwd",
                                 "a/../../outside/secret", "in_link/../../outside",
                                 "loop/../out_link", "loop/../../outside", "loop/../rel_out/secret"])
def test_known_escapes_are_refused(jail, raw):
    ws, _ = jail
    with pytest.raises(PathOutsideWorkspace) as err:
        ws.path(raw)
    assert "outside the workspace" in str(err.value) or "symlink loop" in str(err.value)


def test_lookalikes_stay_literal_names(jail):
    ws, _ = jail
    for name in LOOKALIKES:
        got = ws.path(f"sub/{name}/x")
        assert got.parent.name == name and got.is_relative_to(ws.root / "sub")


def test_empty_nul_and_missing(jail):
    ws, _ = jail
    for bad in ("", "   ", "a\x00b"):
        with pytest.raises(PathOutsideWorkspace):
            ws.path(bad)
    with pytest.raises(PathOutsideWorkspace, match="does not exist"):
        ws.path("nothing/here", must_exist=True)
    assert ws.rel(ws.path("sub/a")) == "sub/a"


def test_self_loop_is_refused_or_inside(jail):
    ws, _ = jail
    try:
        got = ws.path("loop/x")
    except PathOutsideWorkspace:
        return
    assert _inside(ws.root, got)


@pytest.mark.parametrize("target", ["/", "/etc", "/usr/lib", "/proc/self", "/tmp", "/home"])
def test_system_dirs_refused_as_workspace(target):
    with pytest.raises(RefusedWorkspace, match="system directory"):
        check_workspace_root(target)


def test_home_and_credentials_refused(tmp_path, monkeypatch):
    home = tmp_path / "home"
    for d in (".ssh", ".aws", ".config/gcloud", "proj"):
        (home / d).mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    for target, why in ((home, "home directory"), (home / ".ssh", "credential"),
                        (home / ".aws", "credential"), (home / ".config/gcloud", "credential"),
                        (tmp_path, "contains your home")):
        with pytest.raises(RefusedWorkspace, match=why):
            check_workspace_root(target)
    assert check_workspace_root(home / "proj") == (home / "proj").resolve()


def test_symlinked_workspace_resolved_first(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    link = tmp_path / "innocent"
    os.symlink(home / ".ssh", link)
    with pytest.raises(RefusedWorkspace, match="credential"):
        check_workspace_root(link)
    os.symlink("/etc", tmp_path / "etc_link")
    with pytest.raises(RefusedWorkspace, match="system directory"):
        check_workspace_root(tmp_path / "etc_link")


def test_state_dir_inside_workspace_refused(tmp_path, monkeypatch):
    ws = tmp_path / "proj"
    ws.mkdir()
    monkeypatch.setenv("RIGORLAB_STATE_HOME", str(ws / ".state"))
    with pytest.raises(RefusedWorkspace, match="state directory"):
        check_workspace_root(ws)


def _places(home: Path, state: Path, tmp: Path) -> list[Path]:
    import tempfile
    return [Path(p) for p in (
        "/", "/etc", "/usr/share", "/var", "/var/lib/x", "/var/log", "/var/tmp", "/var/www/site",
        "/tmp", tempfile.gettempdir(), "/run/user", "/opt", "/opt/data", "/home", "/root", "/srv",
        "/mnt", "/mnt/data")] + [
        home, home.parent, home / ".ssh", home / ".ssh/keys", home / ".claude.json", home / ".claude",
        home / ".config/gh", home / "projects/p1", state, state.parent, state / "ws-1",
        tmp / "data"]


def test_the_workspace_and_a_writable_mount_are_refused_at_the_same_places(tmp_path, state_home):
    """One list: the jail and the sandbox's mount policy agree on every place, and a read-only
    mount is never allowed where a writable one is refused for holding state or credentials."""
    from rigorlab.core.jail import guarded_reason, refused_reason
    from rigorlab.sandbox.policy import bind_refusal
    home = tmp_path / "home"
    for place in _places(home, state_home, tmp_path):
        as_workspace = refused_reason(place, home)
        writable = bind_refusal(place, True, home)
        assert (as_workspace is None) == (writable is None), (place, as_workspace, writable)
        if guarded_reason(place, home):
            assert bind_refusal(place, False, home) and as_workspace, place
    assert "credential" in refused_reason(home / ".claude.json", home)
    assert refused_reason(tmp_path / "data", home) is None
    assert bind_refusal(Path("/tmp"), False, home) and bind_refusal(Path("/usr/share"), False, home) is None
