"""GPU inventory: from clusters.toml, or from `nvidia-smi --query-gpu ... --format=csv`.

The parser reads the header, so it takes any subset and order of fields, with or without
units (`81920 MiB`, `45 %`) and `[N/A]` values, as recorded from real machines in
tests/clusters/data/.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

QUERY = "index,uuid,name,memory.total,memory.used,utilization.gpu"
NVIDIA_SMI = ["nvidia-smi", f"--query-gpu={QUERY}", "--format=csv"]


@dataclass
class Gpu:
    id: str                      # what CUDA_VISIBLE_DEVICES gets
    name: str = "GPU"
    uuid: str | None = None
    memory_total_mib: int | None = None
    memory_used_mib: int | None = None
    utilization_pct: int | None = None


def _number(value: str) -> int | None:
    v = value.strip()
    for unit in ("MiB", "%", "W", "MHz", "C"):
        v = v.removesuffix(unit).strip()
    if not v or v.startswith("[") or v in ("N/A", "Not Supported"):
        return None
    try:
        return int(float(v))
    except ValueError:
        return None


def parse_nvidia_smi_csv(text: str, header: list[str] | None = None) -> list[Gpu]:
    """Parse `--format=csv` output (header on the first line), or headerless rows given
    `header` (for `csv,noheader`)."""
    rows = [line for line in text.splitlines() if line.strip()]
    if header is None:
        if not rows:
            return []
        header = [h.strip().split(" [")[0] for h in rows[0].split(",")]
        rows = rows[1:]
    gpus = []
    for pos, line in enumerate(rows):
        cells = [c.strip() for c in line.split(",")]
        if len(cells) != len(header):
            continue
        rec = dict(zip(header, cells))
        index = rec.get("index", str(pos))
        gpus.append(Gpu(
            id=index, name=rec.get("name", "GPU"), uuid=rec.get("uuid"),
            memory_total_mib=_number(rec.get("memory.total", "")),
            memory_used_mib=_number(rec.get("memory.used", "")),
            utilization_pct=_number(rec.get("utilization.gpu", "")),
        ))
    return gpus


def probe_nvidia_smi(timeout: float = 5.0) -> list[Gpu] | None:
    """The GPUs nvidia-smi reports here, or None when there is no working nvidia-smi."""
    if not shutil.which("nvidia-smi"):
        return None
    try:
        p = subprocess.run(NVIDIA_SMI, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_nvidia_smi_csv(p.stdout) if p.returncode == 0 else None


def from_config(gpus: int | list[str] | None) -> list[Gpu] | None:
    if gpus is None:
        return None
    ids = [str(i) for i in range(gpus)] if isinstance(gpus, int) else [str(g) for g in gpus]
    return [Gpu(id=i, name="configured GPU") for i in ids]


def local_gpus(configured: int | list[str] | None) -> list[Gpu]:
    found = from_config(configured)
    if found is not None:
        return found
    return probe_nvidia_smi() or []
