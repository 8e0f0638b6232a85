"""GPU requests for a sandbox: none, all, a count, or explicit device ids."""
from __future__ import annotations

import shutil

from rigorlab.core.errors import UserError

GpuSpec = None | str | int | tuple[int, ...]


def parse_gpus(value) -> GpuSpec:
    """None/"none"/0 -> None; "all" -> "all"; N or "N" -> N; "0,2" or [0, 2] -> (0, 2)."""
    if value is None or value == "none" or value == 0:
        return None
    if value == "all":
        return "all"
    if isinstance(value, bool):
        raise UserError(f"gpus={value!r}: give 'all', 'none', a count or device ids like 0,2")
    if isinstance(value, int):
        if value < 0:
            raise UserError(f"gpus={value}: a GPU count cannot be negative")
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return parse_gpus(int(text))
        parts = [p.strip() for p in text.split(",")]
    else:
        parts = list(value)
    try:
        ids = tuple(int(p) for p in parts)
    except (TypeError, ValueError):
        raise UserError(f"gpus={value!r}: give 'all', 'none', a count or device ids like 0,2") from None
    if not ids or any(i < 0 for i in ids) or len(set(ids)) != len(ids):
        raise UserError(f"gpus={value!r}: device ids must be distinct non-negative integers")
    return ids


def default_gpus() -> str:
    """'all' where nvidia-smi is on PATH (an NVIDIA driver is installed), else 'none'."""
    return "all" if shutil.which("nvidia-smi") else "none"
