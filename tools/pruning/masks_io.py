"""Compact mask files: one bit per weight (numpy packbits) in safetensors, written atomically."""
from __future__ import annotations

import json
import os
from pathlib import Path

FORMAT = "rigorlab-packbits-v1"


def save_masks(path: Path, masks: dict) -> Path:
    """masks: layer name -> bool tensor (True = kept). Returns the written path."""
    import numpy as np
    from safetensors.numpy import save_file
    path = Path(path)
    packed, shapes = {}, {}
    for name, mask in masks.items():
        m = mask.detach().cpu().numpy().astype(bool)
        packed[name] = np.packbits(m.reshape(-1))
        shapes[name] = list(m.shape)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(packed, str(tmp), metadata={"format": FORMAT, "shapes": json.dumps(shapes)})
    os.replace(tmp, path)
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
