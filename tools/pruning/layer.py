"""prune_layer: one layer of a model (dense activations) or W and G from files."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rigorlab.core.errors import UserError


@dataclass
class LayerInputs:
    W: object
    G: object
    G_heldout: object | None
    source: str


def read_matrix(path: Path, what: str):
    """A matrix from .npy, .pt or .safetensors (a single tensor, or one named like `what`)."""
    import numpy as np
    import torch
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            t = torch.from_numpy(np.load(path, allow_pickle=False))
        elif suffix == ".safetensors":
            from safetensors.torch import load_file
            tensors = load_file(str(path))
            t = tensors.get(what) if what in tensors else (
                next(iter(tensors.values())) if len(tensors) == 1 else None)
            if t is None:
                raise UserError(f"{path} holds {sorted(tensors)}; name the tensor {what!r}")
        elif suffix == ".pt":
            t = torch.load(path, map_location="cpu", weights_only=True)
        else:
            raise UserError(f"{path}: use .npy, .pt or .safetensors for {what}")
    except (ValueError, OSError, RuntimeError) as exc:
        raise UserError(f"cannot read {what} from {path}: {exc}") from None
    if not isinstance(t, torch.Tensor) or t.dim() != 2:
        raise UserError(f"{path} must hold one 2-D matrix for {what}")
    return t.float()


def layer_from_model(model: str, layer: str, *, calibration: Path | None, n_samples: int,
                     seq_len: int, heldout: bool, device: str = "cpu") -> LayerInputs:
    from rigorlab.tools.pruning.calibration import collect_grams
    from rigorlab.tools.pruning.corpus import read_documents, token_windows
    from rigorlab.tools.pruning.models import get_layer, get_weight, load_model
    loaded = load_model(model, device)
    mod = get_layer(loaded.model, layer)

    def gram(split, seed):
        docs = read_documents(calibration, split, corpus=loaded.corpus) \
            if split == "calibration" or calibration is None \
            else read_documents(calibration, "calibration")
        win = token_windows(loaded.tokenizer, docs, n_samples, seq_len, seed)
        return collect_grams(loaded.model, {layer: mod}, win, device=device)[layer].float()

    G = gram("calibration", 0)
    G_h = gram("heldout", 1) if heldout else None
    return LayerInputs(get_weight(mod).float().clone(), G, G_h, f"{model}:{layer}")


def prune_layer(inputs: LayerInputs, method: str, pattern, *, warm_start: str = "wanda",
                options: dict | None = None, mask_out: Path | None = None, progress=None,
                root: Path | None = None) -> dict:
    """Prune one layer; with `mask_out`, save the mask there and the result next to it (.json),
    through the safe writer below `root` (the workspace; default: the mask's folder)."""
    from rigorlab.tools.pruning.criteria import score_mask
    from rigorlab.tools.pruning.masks_io import save_masks
    from rigorlab.tools.pruning.methods import prune_weights
    from rigorlab.tools.pruning.objective import layer_error
    res = prune_weights(method, inputs.W, inputs.G, pattern, warm_start=warm_start,
                        options=options, name=inputs.source, progress=progress)
    wanda = layer_error(inputs.W, score_mask("wanda", inputs.W, inputs.G, pattern), inputs.G)
    out = {"layer": inputs.source, "method": method, "pattern": pattern.label,
           "shape": list(inputs.W.shape), "error": res.error, "relative_error": res.relative,
           "vs_wanda": res.error / wanda.absolute if wanda.absolute > 0 else 1.0,
           "wanda_relative_error": wanda.relative, "seconds": res.seconds, "info": res.info,
           "sparsity": float((~res.mask).double().mean())}
    if inputs.G_heldout is not None:
        h = layer_error(inputs.W, res.W, inputs.G_heldout)
        hw = layer_error(inputs.W, score_mask("wanda", inputs.W, inputs.G, pattern), inputs.G_heldout)
        out["heldout_relative_error"] = h.relative
        out["heldout_vs_wanda"] = h.absolute / hw.absolute if hw.absolute > 0 else 1.0
    if mask_out is not None:
        from rigorlab.core import safefs
        root = root or Path(mask_out).parent
        save_masks(mask_out, {inputs.source: res.mask}, root=root)
        safefs.write_text(Path(mask_out).with_suffix(".json"), json.dumps(out, indent=1), root=root)
        out["mask_file"] = str(mask_out)
    return out
