"""`rigorlab doctor` checks for clusters.toml: the file parses, every node answers, every
SLURM cluster takes commands. Each check is bounded by the entry's own timeouts."""
from __future__ import annotations

from pathlib import Path


def doctor_checks(workspace: Path) -> list:
    from rigorlab.core.errors import UserError
    from rigorlab.core.probes import Check

    from rigorlab.clusters import config
    from rigorlab.clusters.backends.base import Timing
    from rigorlab.clusters.dispatcher import Dispatcher

    path = config.config_path(workspace)
    try:
        cfg = config.load(workspace)
    except UserError as exc:
        return [Check("compute", "clusters.toml", False, str(exc), "fix the entry named above")]
    out = [Check("compute", "clusters.toml", True if path else None,
                 str(path) if path else "none: only this machine is a target",
                 "write clusters.toml to add SSH nodes and SLURM clusters (docs/dispatch.md)")]
    from rigorlab.core.paths import state_dir_for
    d = Dispatcher(workspace, state_dir_for(workspace), config=cfg, timing=Timing())
    for target in cfg.targets():
        try:
            backend = d.backend(target)
            ok, detail = backend.check()
            if target == "local":
                n = len(backend.gpu_ids())
                detail = f"{n} GPU(s): {', '.join(backend.gpu_ids())}" if n else \
                    f"no GPUs, {backend.cpu_slots()} CPU slot(s)"
        except Exception as exc:  # noqa: BLE001 - a probe reports, never raises
            ok, detail = False, str(exc)
        kind = "local" if target == "local" else ("SSH node" if target in cfg.nodes else "SLURM")
        out.append(Check("compute", f"{kind} {target}", ok, detail,
                         f"check [{'nodes' if target in cfg.nodes else 'slurm'}.{target}] in clusters.toml"))
    out.append(local_sandbox_check(cfg))
    return out


def local_sandbox_check(cfg):
    """Whether local jobs run in the workspace-only sandbox (bwrap), out of the ledger's reach."""
    from rigorlab.core.probes import Check
    from rigorlab.sandbox.available import FIX, bwrap_usable
    from rigorlab.core.runtimes import RUNTIMES
    name = "local job sandbox"
    chosen = cfg.local.runtime or cfg.defaults.runtime
    if chosen:
        isolated = RUNTIMES[chosen].isolates
        return Check("sandbox", name, True if isolated else None,
                     f"{chosen} (set in clusters.toml)" + ("" if isolated else ": local jobs are not "
                     "sandboxed and can read and write rigorlab's state folder"),
                     "remove runtime from [local]/[defaults] to sandbox local jobs with bwrap")
    usable, detail = bwrap_usable()
    if usable:
        return Check("sandbox", name, True, "bwrap: the workspace, rigorlab and data_dirs only; "
                     "the state folder is out of reach")
    return Check("sandbox", name, False, f"bare: {detail}; local jobs can read and write "
                 "rigorlab's state folder", FIX)
