"""prune_model: every linear layer in order, on the pruned model's own activations.

Block by block: the calibration batches' inputs to the block are kept; the block's layers
are pruned group by group (layers fed the same tensor, e.g. q/k/v, form one group), each
group's Gram matrices taken after the earlier groups were pruned. The pruned block's
outputs feed the next block. Optional local reconstruction (see reconstruct.py). The
result folder (model, masks, report) is built in a private staging folder and published
whole (rigorlab.core.safefs.new_folder): a reader, or a kill -9, sees all of it or nothing.
"""
from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from rigorlab.core.errors import UserError
from rigorlab.tools.pruning.contract import PruneModelSpec

BATCH_SIZE = 8      # calibration windows per forward pass
SEED = 0            # which calibration windows are drawn


@dataclass
class LayerRow:
    name: str
    shape: list
    error: float
    relative: float
    vs_wanda: float                     # error / Wanda's error on the same inputs
    seconds: float


@dataclass
class Pruned:
    model: object                       # the pruned model (in memory)
    tokenizer: object
    masks: dict                         # layer name -> bool mask (True = kept)
    report: dict


def prune_model(spec: PruneModelSpec, out: Path, *, progress=None, overwrite: bool = False,
                root: Path | None = None) -> dict:
    """Prune `spec.model` into the folder `out` (model/, masks.safetensors, report.json).

    `root` is the folder trusted not to be swapped for a link (the workspace; default: the
    folder that holds `out`)."""
    out = Path(out).absolute()
    if out.exists() and not overwrite:
        raise UserError(f"{out} already exists: choose a new output folder (nothing was changed)")
    res = prune_in_memory(spec, progress=progress)
    _write_result(out, res.model, res.tokenizer, res.masks, res.report, overwrite,
                  Path(root).absolute() if root else out.parent)
    return res.report


def prune_in_memory(spec: PruneModelSpec, *, loaded=None, windows=None, progress=None) -> Pruned:
    """Prune a model: `loaded` (models.Loaded, changed in place) or spec.model loaded here;
    calibration `windows` (token ids) or those the spec asks for."""
    from rigorlab.core.contract import parse
    from rigorlab.tools.pruning.calibration import block_inputs, run_block
    from rigorlab.tools.pruning.methods import PruneOptions
    from rigorlab.tools.pruning.models import block_stack, linear_layers, load_model
    from rigorlab.tools.pruning.patterns import parse_pattern
    from rigorlab.tools.pruning.reconstruct import parse_window
    pattern = parse_pattern(spec.sparsity, spec.nm, spec.per_layer)
    window = parse_window(spec.reconstruct)
    options = parse(PruneOptions, spec.options, what="option")
    t0 = time.perf_counter()
    loaded = loaded or load_model(spec.model, spec.device, progress=progress)
    model = loaded.model
    if windows is None:
        windows = calibration_windows(spec, loaded)
    for mod in linear_layers(model).values():
        pattern.check_shape(*_shape(mod))
    stack_name, stack = block_stack(model)
    if window == "sublayer":
        from rigorlab.tools.pruning.reconstruct import sublayer_names
        sublayer_names(stack[0])
    inputs = block_inputs(model, stack[0], windows, batch_size=BATCH_SIZE, device=spec.device)
    total = len(linear_layers(model))
    rows: list[LayerRow] = []
    masks: dict = {}
    win = _Window(inputs) if window else None
    recon: list[dict] = []
    for i, block in enumerate(stack):
        if win:
            win.add(block, copy.deepcopy(block))
        prefix = f"{stack_name}.{i}."
        _prune_block(block, prefix, inputs, spec, options, pattern, masks, rows, total, progress)
        inputs = run_block(block, inputs)
        if window == "sublayer":
            from rigorlab.tools.pruning.reconstruct import reconstruct_sublayers
            recon.extend(reconstruct_sublayers(block, win.dense[-1], win.inputs, win.dense_inputs,
                                               options, progress))
            inputs = run_block(block, win.inputs)
            win.reset(inputs, run_block(win.dense[-1], win.dense_inputs))
        elif win and (len(win.blocks) == window or i == len(stack) - 1):
            from rigorlab.tools.pruning.reconstruct import reconstruct_window
            recon.append(reconstruct_window(win.blocks, win.dense, win.inputs, win.dense_inputs,
                                            options, progress))
            inputs = run_block_chain(win.blocks, win.inputs)
            win.reset(inputs, run_block_chain(win.dense, win.dense_inputs))
    report = {
        "model": spec.model, "causal": loaded.causal, "method": spec.method,
        "pattern": pattern.label, "spec": spec.model_dump(mode="json"), "layers": [asdict(r) for r in rows],
        "mean_relative_error": sum(r.relative for r in rows) / max(len(rows), 1),
        "mean_vs_wanda": sum(r.vs_wanda for r in rows) / max(len(rows), 1),
        "reconstruction": recon, "seconds": time.perf_counter() - t0, "calibration_tokens": int(windows.numel()),
    }
    return Pruned(model, loaded.tokenizer, masks, report)


def calibration_windows(spec: PruneModelSpec, loaded):
    """The spec's calibration windows: its text, or the calibration split of the model's corpus."""
    from rigorlab.tools.pruning.corpus import read_documents, token_windows
    docs = read_documents(Path(spec.calibration) if spec.calibration else None, "calibration",
                          corpus=loaded.corpus)
    return token_windows(loaded.tokenizer, docs, spec.n_samples, spec.seq_len, SEED)


class _Window:
    """The blocks of the current reconstruction window and their dense copies."""

    def __init__(self, inputs):
        self.reset(inputs, inputs)

    def reset(self, inputs, dense_inputs):
        self.blocks, self.dense, self.inputs, self.dense_inputs = [], [], inputs, dense_inputs

    def add(self, block, dense_block):
        self.blocks.append(block)
        self.dense.append(dense_block)


def run_block_chain(blocks, inputs):
    from rigorlab.tools.pruning.calibration import run_block
    for b in blocks:
        inputs = run_block(b, inputs)
    return inputs


def _shape(mod):
    from rigorlab.tools.pruning.models import get_weight
    return tuple(get_weight(mod).shape)


def _prune_block(block, prefix, inputs, spec, options, pattern, masks, rows, total, progress):
    from rigorlab.tools.pruning.calibration import GramCollector, run_block
    from rigorlab.tools.pruning.criteria import score_mask
    from rigorlab.tools.pruning.methods import prune_weights
    from rigorlab.tools.pruning.models import get_weight, is_linear, set_weight
    from rigorlab.tools.pruning.objective import layer_error
    remaining = [(n, m) for n, m in block.named_modules() if is_linear(m)]
    done_here = []
    while remaining:
        with GramCollector(dict(remaining), leader=remaining[0][0]) as col:
            run_block(block, inputs)
        first = col.inputs[remaining[0][0]]
        group = [(n, m) for n, m in remaining if col.inputs[n] is first]
        for name, mod in group:
            full = prefix + name
            W, G = get_weight(mod).float().clone(), col.grams[name].float()
            res = prune_weights(spec.method, W, G, pattern, warm_start=spec.warm_start,
                                options=options, name=full)
            if spec.reconstruct == "linear":
                from rigorlab.tools.pruning.refit import refit_weights
                res.W = refit_weights(W, G, res.mask)
            wanda = layer_error(W, score_mask("wanda", W, G, pattern), G)
            set_weight(mod, res.W)
            masks[full] = res.mask
            err = layer_error(W, res.W, G)
            row = LayerRow(full, list(W.shape), err.absolute, err.relative,
                           err.absolute / wanda.absolute if wanda.absolute > 0 else 1.0, res.seconds)
            rows.append(row)
            done_here.append(row)
            if progress:
                progress(len(rows), total, f"{full}: relative error {row.relative:.4f} "
                         f"({row.vs_wanda:.2f} x Wanda), {res.seconds:.1f}s")
        remaining = remaining[len(group):]
    return done_here


def _write_result(out: Path, model, tokenizer, masks, report, overwrite: bool, root: Path) -> None:
    from transformers.utils import logging as hf_logging
    from rigorlab.core import safefs
    from rigorlab.tools.pruning.masks_io import save_masks
    hf_logging.disable_progress_bar()
    with safefs.new_folder(out, root=root, replace=overwrite) as tmp:   # private: no agent reaches it
        model.save_pretrained(tmp / "model")
        tokenizer.save_pretrained(tmp / "model")
        save_masks(tmp / "masks.safetensors", masks, root=tmp)
        (tmp / "report.json").write_text(json.dumps(report, indent=1))
