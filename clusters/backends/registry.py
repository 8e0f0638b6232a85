"""Which backend serves a target: each backend class names the targets of the config it
serves (`targets`) and builds itself for one (`create`); the first that claims a target wins."""
from __future__ import annotations

from rigorlab.clusters.backends.base import Backend, Timing
from rigorlab.clusters.backends.local import LocalBackend
from rigorlab.clusters.backends.slurm import SlurmBackend
from rigorlab.clusters.backends.ssh import SSHBackend
from rigorlab.core.errors import UserError

BACKENDS: tuple[type[Backend], ...] = (LocalBackend, SSHBackend, SlurmBackend)


def make_backend(cfg, target: str, timing: Timing, on_exit=None) -> Backend:
    """The backend of `target` in `cfg` (a ClustersConfig); an unknown target is a UserError."""
    for cls in BACKENDS:
        if target in cls.targets(cfg):
            return cls.create(cfg, target, timing, on_exit=on_exit)
    raise UserError(f"unknown target {target!r}: use one of {', '.join(cfg.targets())} "
                    f"(list_nodes shows them; add nodes in clusters.toml)")
