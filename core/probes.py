"""What this machine offers, as checks with the fix for each missing piece (`rigorlab doctor`).

Every probe is bounded (short subprocess timeouts) and never raises. Packages add their own
probes by defining `doctor_checks(workspace) -> list[Check]` in a module listed in
`EXTRA_PROBES`; a missing or failing module becomes a failed check, not a crash.
"""
from __future__ import annotations

import importlib
import importlib.metadata as md
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

EXTRA_PROBES = ("rigorlab.clusters.doctor", "rigorlab.sandbox.doctor")


@dataclass
class Check:
    area: str
    name: str
    ok: bool | None  # None: optional piece, absent
    detail: str
    fix: str = ""


def _run(argv: list[str], timeout: float = 5.0) -> tuple[int, str]:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        return p.returncode, (p.stdout or p.stderr).strip()
    except FileNotFoundError:
        return 127, "not found"
    except subprocess.TimeoutExpired:
        return 124, f"no answer within {timeout:.0f} s"


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def versions() -> list[Check]:
    out = [Check("software", "python", sys.version_info >= (3, 11), sys.version.split()[0],
                 "use Python 3.11 or newer")]
    for dist, fix in (("rigorlab", "pip install -e ."), ("mcp", "pip install 'mcp>=2.3,<3'"),
                      ("torch", "pip install torch (CPU: torch==2.13.0)"),
                      ("transformers", "pip install transformers"), ("paramiko", "pip install paramiko"),
                      ("docker", "pip install docker")):  # not a runtime: the docker SDK
        v = _version(dist)
        out.append(Check("software", dist, v is not None, v or "missing", fix))
    return out


def gpus() -> list[Check]:
    if not shutil.which("nvidia-smi"):
        return [Check("compute", "NVIDIA GPUs", None, "nvidia-smi not found: jobs use CPU slots",
                      "install the NVIDIA driver, or list GPUs in clusters.toml")]
    rc, text = _run(["nvidia-smi", "--query-gpu=index,name,memory.total", "--format=csv,noheader"])
    if rc != 0:
        return [Check("compute", "NVIDIA GPUs", False, text, "check the driver: nvidia-smi fails")]
    lines = [l for l in text.splitlines() if l.strip()]
    return [Check("compute", "NVIDIA GPUs", True, f"{len(lines)}: " + "; ".join(lines))]


def runtimes() -> list[Check]:
    from rigorlab.core.runtimes import DOCKER, RUNTIMES
    out = []
    for rt in (r for r in RUNTIMES.values() if r.isolates):
        if rt is DOCKER:
            rc, text = _run([rt.program, "info", "--format", "{{.ServerVersion}}"])
            if rc == 127:
                out.append(Check("sandbox", rt.name, None, "client not installed", rt.install))
            else:
                out.append(Check("sandbox", rt.name, True if rc == 0 else None,
                                 f"engine {text}" if rc == 0 else "client only, no engine reachable",
                                 "start dockerd, or set DOCKER_HOST"))
            continue
        rc, text = _run([rt.program, "--version"])
        out.append(Check("sandbox", rt.name, True if rc == 0 else None,
                         text if rc == 0 else "not installed", rt.install))
    return out


def slurm() -> list[Check]:
    found = {c: shutil.which(c) for c in ("sbatch", "squeue", "sacct", "scontrol")}
    missing = [c for c, p in found.items() if not p]
    if len(missing) == len(found):
        return [Check("compute", "SLURM commands", None, "none on PATH (fine without a local cluster)",
                      "apt-get install slurm-client, or reach a login node over SSH (clusters.toml)")]
    return [Check("compute", "SLURM commands", not missing,
                  "all present" if not missing else f"missing {', '.join(missing)}",
                  "install slurm-client")]


def state(workspace: Path) -> list[Check]:
    from rigorlab.core.paths import state_dir_for
    sd = state_dir_for(workspace)
    try:
        sd.mkdir(parents=True, exist_ok=True, mode=0o700)
        probe = sd / ".write-test"
        probe.write_text("ok")
        probe.unlink()
        return [Check("state", "state directory", True, str(sd))]
    except OSError as exc:
        return [Check("state", "state directory", False, f"{sd}: {exc}",
                      "set RIGORLAB_STATE_HOME to a writable folder outside the workspace")]


def extra(workspace: Path) -> list[Check]:
    out = []
    for mod in EXTRA_PROBES:
        try:
            module = importlib.import_module(mod)
        except ModuleNotFoundError:
            continue
        try:
            out.extend(module.doctor_checks(workspace))
        except Exception as exc:  # noqa: BLE001 - a broken probe is reported, not raised
            out.append(Check(mod.split(".")[0], mod, False, f"probe failed: {exc}", "report this bug"))
    return out


def all_checks(workspace: Path) -> list[Check]:
    return [*versions(), *gpus(), *slurm(), *runtimes(), *state(workspace), *extra(workspace)]
