"""The machine the server runs on: its GPUs (config or nvidia-smi) or CPU slots.

Jobs that name no runtime run in a bubblewrap sandbox where bubblewrap works: the workspace
writable, their own job folder, rigorlab's interpreter and source and the configured
`data_dirs` read-only, the GPUs; the state folder (the ledger) and the rest of home unseen.
Where it does not work they run bare, and the job's record says so.
"""
from __future__ import annotations

import functools
import importlib.util
import os
import sys
from pathlib import Path

from rigorlab.clusters import hostenv
from rigorlab.clusters.backends.slots import SlotBackend
from rigorlab.clusters.inventory import local_gpus
from rigorlab.clusters.model import Job
from rigorlab.clusters.shell import LocalShell
from rigorlab.core.errors import UserError
from rigorlab.sandbox.available import FIX, bwrap_usable
from rigorlab.sandbox.policy import bind_refusal
from rigorlab.core.runtimes import BARE, BWRAP, RUNTIMES

PACKAGES = ("server", "tools", "rules", "sandbox", "clusters", "core")
# Where a sandbox has programs and libraries of its own (bwrap shows the host's read-only).
SYSTEM_TREES = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")


class LocalBackend(SlotBackend):
    kind = "local"

    def __init__(self, cfg, timing, on_exit=None) -> None:
        super().__init__("local", timing, local_gpus(cfg.gpus), cfg.cpu_slots,
                         cfg.runtime, cfg.image)
        self.cfg = cfg
        self._shell = LocalShell(on_exit, env=hostenv.host_env(cfg.pass_env))

    @classmethod
    def targets(cls, cfg):
        return ("local",)

    @classmethod
    def create(cls, cfg, target, timing, on_exit=None) -> "LocalBackend":
        return cls(cfg.local, timing, on_exit=on_exit)

    def shell(self) -> LocalShell:
        return self._shell

    def reachability(self) -> tuple[bool, str]:
        n = len(self.gpus)
        return True, f"this machine, {n} GPU{'s' if n != 1 else ''}" if n else "this machine, CPU slots only"

    def default_runtime(self) -> tuple[str, str | None]:
        usable, detail = bwrap_usable()
        if usable:
            return BWRAP.name, None
        return BARE.name, (f"ran bare, not sandboxed: {detail} ({FIX}); its code could read "
                           "and write rigorlab's state folder")

    def extra_binds(self, job: Job) -> list[tuple[str, str]]:
        for d in self.cfg.data_dirs:
            if not Path(d).is_dir():
                raise UserError(f"data_dirs entry {d} in clusters.toml ([local]) is not a folder "
                                "here: create it or remove it from data_dirs")
        return [(p, "ro") for p in (*rigorlab_paths(), *self.cfg.data_dirs)]

    def inside_env(self, job: Job) -> dict[str, str]:
        return hostenv.job_env(self.cfg.pass_env, sandbox=True)

    def network(self) -> bool:
        return self.cfg.network

    def launch(self, job: Job, wrapper: str) -> int:
        # A bare job inherits the wrapper's environment: only what jobs may see. A runtime's
        # client also gets its engine's settings (DOCKER_HOST, ...), which stay outside.
        env = (hostenv.host_env(self.cfg.pass_env) if RUNTIMES[job.runtime].isolates
               else hostenv.job_env(self.cfg.pass_env))
        return self._shell.launch(wrapper, env=env)


@functools.cache
def rigorlab_paths() -> tuple[str, ...]:
    """What a sandboxed job needs read-only to run `python -I -m rigorlab...`: the interpreter
    (its installation and a venv on top) and rigorlab's source (an editable install keeps it
    outside the venv). System folders are left out: a sandbox has its own (bwrap binds the
    host's)."""
    found = {os.path.realpath(p) for p in (sys.prefix, sys.exec_prefix, sys.base_prefix,
                                           sys.base_exec_prefix)}
    found.add(os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))))
    for pkg in PACKAGES:
        spec = importlib.util.find_spec(f"rigorlab.{pkg}")
        if spec is not None and spec.submodule_search_locations:
            found.update(os.path.realpath(p) for p in spec.submodule_search_locations)
    keep = [p for p in found if not any(p == d or p.startswith(d + "/") for d in SYSTEM_TREES)
            and bind_refusal(Path(p), False) is None]
    # A folder inside another one already kept adds nothing.
    return tuple(sorted(p for p in keep if not any(p != q and p.startswith(q + "/") for q in keep)))
