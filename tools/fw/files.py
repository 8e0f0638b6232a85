"""Default names of the solver's output folders (written by rigorlab.core.safefs.new_folder)."""
from __future__ import annotations

import time
import uuid


def default_out(prefix: str) -> str:
    return f"fw_runs/{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
