"""Output folders that appear complete or not at all."""
from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from rigorlab.core.errors import UserError


def default_out(prefix: str) -> str:
    return f"fw_runs/{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"


@contextmanager
def atomic_dir(out_dir: Path):
    """Yield a scratch folder next to out_dir; rename it to out_dir when the block succeeds."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise UserError(f"output folder {out_dir} already exists: choose another out (runs are never overwritten)")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        yield tmp
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
