"""Compact mask files: one bit per weight (numpy packbits) in safetensors, written through the
safe writer (complete or not at all, never through a link)."""
from __future__ import annotations

import json
from pathlib import Path

from rigorlab.core import safefs

FORMAT = "rigorlab-packbits-v1"


def save_masks(path: Path, masks: dict, *, root: Path | None = None) -> Path:
    """masks: layer name -> bool tensor (True = kept). Returns the written path.

    `root` is the folder trusted not to be swapped for a link (the workspace); by default the
    file's own folder."""
    import numpy as np
    from safetensors.numpy import save
    path = Path(path)
    packed, shapes = {}, {}
    for name, mask in masks.items():
        m = mask.detach().cpu().numpy().astype(bool)
        packed[name] = np.packbits(m.reshape(-1))
        shapes[name] = list(m.shape)
    data = save(packed, metadata={"format": FORMAT, "shapes": json.dumps(shapes)})
    safefs.write_bytes(path, data, root=root or path.parent)
    return path


def load_masks(path: Path) -> dict:
    """Layer name -> bool torch tensor."""
    import numpy as np
    import torch
    from safetensors import safe_open
    out = {}
    with safe_open(str(path), framework="numpy") as fh:
        meta = fh.metadata() or {}
        shapes = json.loads(meta.get("shapes", "{}"))
        for name in fh.keys():
            shape = shapes[name]
            bits = np.unpackbits(fh.get_tensor(name), count=int(np.prod(shape)))
            out[name] = torch.from_numpy(bits.astype(bool).reshape(shape))
    return out
