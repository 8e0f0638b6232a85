"""A host folder shown inside a sandbox: where it comes from, where it appears, writable or not."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Bind:
    source: Path
    target: Path
    writable: bool = False
