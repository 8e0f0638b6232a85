"""Hostile but legal names, the canary that shows a shell ran one, and job-system fixtures
shared by the tests in this folder (imported by name: this folder has no conftest of its own).

A name carries `$(touch CANARY)` and `` `touch CANARY` ``: if any shell on the host (or on a
node) interprets it, a file called CANARY appears in that shell's working directory, which is
one of the places `canary_hits` looks.
"""
from __future__ import annotations

import os
import random
import secrets
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO

FAST = {"RIGORLAB_JOB_POLL_S": "0.1", "RIGORLAB_JOB_REMOTE_POLL_S": "0.2",
        "RIGORLAB_JOB_START_GRACE_S": "10"}
SLURM_TOML = '[slurm.hpc]\nvia = "local"\npartition = "debug"\nmax_gpus = 2\naccounting = false\n'


def canary() -> str:
    return f"PWNED{secrets.token_hex(4)}"


def fragments(token: str) -> list[str]:
    return ['"', "'", f"$(touch {token})", f"`touch {token}`", "\n", "\t", ";", "|", "&", "*",
            "?", "[a]", "{b,c}", "~", "!", "#", "\\", " ", "-", "--", "${IFS}", "%s", "ü", "\u202e",
            "$HOME", "<x>", "=", ",", ":"]


def hostile_names(token: str, seed: int, extra: int = 6) -> list[str]:
    """Folder names (no '/', no NUL): a fixed set that covers each trick, a 255-byte one, and
    `extra` random mixes from `seed` (printed by the caller, so a failure can be replayed)."""
    fixed = [f'a"b $(touch {token})', f"q'uote`touch {token}`", f"line\nbreak$(touch {token})",
             f"-rf --volume=x $(touch {token})", f"semi;touch {token};", "ünïcødé \u202e名",
             "x" * (255 - len(f"$(touch {token})")) + f"$(touch {token})"]
    rng = random.Random(seed)
    parts = fragments(token)
    mixed = []
    for _ in range(extra):
        name = "".join(rng.choice(parts + ["a", "b", "0"]) for _ in range(rng.randint(2, 9)))
        name = f"{name}$(touch {token})"
        if name.encode()[:255] and len(name.encode()) <= 255 and name not in (".", ".."):
            mixed.append(name)
    for name in fixed + mixed:
        assert "/" not in name and "\x00" not in name and len(name.encode()) <= 255
    return fixed + mixed


def make_folders(root: Path, names: list[str]) -> list[Path]:
    out = []
    for name in names:
        p = root / name
        p.mkdir()
        out.append(p)
    return out


def canary_hits(token: str, *roots: Path) -> list[Path]:
    """Files called `token` in the working directories a host or node shell could have had:
    /, /tmp, home, this process's cwd, the repository (shallow), and `roots` (deep)."""
    shallow = [Path("/"), Path("/tmp"), Path.home(), Path.cwd(), REPO]
    found = [p / token for p in shallow if (p / token).exists()]
    for root in roots:
        if root.exists():
            found += list(root.rglob(token))
    return found


def seed_from_env() -> int:
    seed = int(os.environ.get("RIGORLAB_SECURITY_SEED") or secrets.randbits(32))
    print(f"hostile names seed: {seed} (replay with RIGORLAB_SECURITY_SEED={seed})")
    return seed


@pytest.fixture
def fast_jobs(monkeypatch):
    for k, v in FAST.items():
        monkeypatch.setenv(k, v)
    for k in ("RIGORLAB_CLUSTERS", "RIGORLAB_JOB_RUNTIME", "RIGORLAB_JOB_IMAGE"):
        monkeypatch.delenv(k, raising=False)


@pytest.fixture
def dispatcher_of(workspace, fast_jobs):
    """dispatcher_of(toml) -> a Dispatcher on the test workspace with that clusters.toml."""
    from rigorlab.clusters import config
    from rigorlab.clusters.dispatcher import Dispatcher
    from rigorlab.core.paths import state_dir_for

    made = []

    def make(toml: str = "[local]\ngpus = 2\ncpu_slots = 4\n"):
        d = Dispatcher(workspace, state_dir_for(workspace),
                       config=config.parse(textwrap.dedent(toml), "clusters.toml"))
        made.append(d)
        return d

    yield make
    for d in made:
        d.stop_monitor()


def run(d, **fields):
    """Dispatch through the one boundary (admit + rules gates + submit)."""
    from rigorlab.tools.jobs import JobRequest, dispatch
    return dispatch(d, JobRequest.of(**fields))


def rows(d) -> int:
    return d.conn().execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
