"""The pruning tools end to end: a validated spec and a workspace in, a typed result out.

`ws` is the workspace jail (`ws.path(value, must_exist=, what=)`, `ws.rel(path)`, `ws.root`);
model names resolve here (built-ins stay names, workspace folders become paths, `org/name`
is a hub name), and so does the choice between running in this process and as a job.
"""
from __future__ import annotations

from pathlib import Path

from rigorlab.core.errors import UserError
from rigorlab.tools.pruning.contract import (EvaluateModelSpec, EvaluateOut, LayerRowOut, PruneLayerOut,
                                             PruneLayerSpec, PruneModelOut, PruneModelSpec)
from rigorlab.tools.pruning.models import BUILTINS

IN_PROCESS_MAX_PARAMS = 150_000_000     # bigger models go out as a job unless told otherwise
JOB_MODULE = "rigorlab.tools.pruning.run_job"
WORST_SHOWN = 5


def model_ref(ws, model: str) -> str:
    """Built-in names stay names; a folder in the workspace becomes its path; `org/name` is a
    hub name; anything else is refused."""
    if model in BUILTINS:
        return model
    path = ws.path(model, what="model folder")
    if path.exists():
        return str(path)
    if model.count("/") == 1 and not model.startswith((".", "/")):
        return model
    raise UserError(f"model {model!r} is neither a folder in the workspace nor one of {', '.join(BUILTINS)}")


def _text(ws, value: str | None) -> Path | None:
    return ws.path(value, must_exist=True, what="text file or folder") if value else None


def prune_layer(args: PruneLayerSpec, ws, progress=None) -> PruneLayerOut:
    from rigorlab.tools.pruning.layer import LayerInputs, layer_from_model, prune_layer as run, read_matrix
    from rigorlab.tools.pruning.patterns import parse_pattern
    pattern = parse_pattern(args.sparsity, args.nm, args.per_layer)
    if args.weights:
        W = read_matrix(ws.path(args.weights, must_exist=True, what="weights file"), "W")
        G = read_matrix(ws.path(args.gram, must_exist=True, what="gram file"), "G")
        inputs = LayerInputs(W, G, None, Path(args.weights).stem)
    else:
        inputs = layer_from_model(built(model_ref(ws, args.model)), args.layer, calibration=_text(ws, args.calibration),
                                  n_samples=args.n_samples, seq_len=args.seq_len, heldout=True)
    name = (args.layer or Path(args.weights).stem).replace("/", "_")
    mask_path = ws.path(args.out or f"pruning/masks/{name}-{args.method}.safetensors", what="mask file")
    if mask_path.suffix != ".safetensors":
        raise UserError("the mask file must end in .safetensors")
    result = run(inputs, args.method, pattern, warm_start=args.warm_start, options=args.options,
                 mask_out=mask_path, progress=progress, root=ws.root)
    return PruneLayerOut(**{**result, "mask_file": ws.rel(mask_path)})


def prune_model(args: PruneModelSpec, ws, progress=None) -> PruneModelOut:
    """In this process, or as a job for big models (or when `job` says so)."""
    from rigorlab.core.contract import parse
    from rigorlab.tools.pruning.methods import PruneOptions
    from rigorlab.tools.pruning.patterns import parse_pattern
    from rigorlab.tools.pruning.reconstruct import parse_window
    parse_pattern(args.sparsity, args.nm, args.per_layer)
    parse_window(args.reconstruct)
    parse(PruneOptions, args.options, what="option")
    label = args.nm.replace(":", "of") if args.nm else f"{int(round(args.sparsity * 100))}"
    out_rel = args.out or f"pruning/{Path(args.model).name}-{args.method}-{label}"
    out = ws.path(out_rel, what="output folder")
    if out.exists():
        raise UserError(f"output folder {out_rel} already exists: choose another out")
    resolved = args.model_copy(update={"model": model_ref(ws, args.model), "out": str(out),
                                       "calibration": str(_text(ws, args.calibration) or "") or None})
    from rigorlab.tools.pruning.models import needs_build
    if args.job or (args.job is None and (needs_build(resolved.model) or
                                          param_count(resolved.model) > IN_PROCESS_MAX_PARAMS)):
        from rigorlab.tools.jobs.modules import submit_module
        job = submit_module(JOB_MODULE, resolved.model_copy(update={"job": False}), workspace=ws.root,
                            name="prune", gpus=1 if args.device.startswith("cuda") else 0)
        return PruneModelOut(status="DISPATCHED", out=out_rel, job_id=job.id,
                             note=f"progress per layer in the job's stdout (job_logs {job.id})")
    report = run_model(resolved, progress, root=ws.root)
    return model_out(report, out_rel)


def run_model(spec: PruneModelSpec, progress=None, *, root: Path) -> dict:
    """The pipeline on a spec whose paths are resolved (in the server, or in the job), writing
    below `root` (the workspace)."""
    from rigorlab.tools.pruning.pipeline import prune_model as run
    return run(spec, Path(spec.out), progress=progress, root=root)


def model_out(report: dict, out_rel: str) -> PruneModelOut:
    rows = sorted(report["layers"], key=lambda r: -r["relative"])[:WORST_SHOWN]
    return PruneModelOut(
        status="DONE", out=out_rel, pattern=report["pattern"], seconds=report["seconds"],
        mean_relative_error=report["mean_relative_error"], mean_vs_wanda=report["mean_vs_wanda"],
        layers=len(report["layers"]), reconstruction=report["reconstruction"],
        worst_layers=[LayerRowOut(**{k: r[k] for k in LayerRowOut.model_fields}) for r in rows],
        files={"model": f"{out_rel}/model", "masks": f"{out_rel}/masks.safetensors",
               "report": f"{out_rel}/report.json"})


def evaluate_model(args: EvaluateModelSpec, ws) -> EvaluateOut:
    from rigorlab.tools.pruning.evaluate import evaluate_model as run
    result = run(built(model_ref(ws, args.model)), text=_text(ws, args.text),
                 dense=built(model_ref(ws, args.dense)) if args.dense else None, context=args.context,
                 stride=args.stride, max_tokens=args.max_tokens, device=args.device)
    return EvaluateOut(**{**result, "model": args.model})


def built(model: str) -> str:
    """Refuse a built-in that would first train for minutes inside a tool call."""
    from rigorlab.tools.pruning.models import needs_build
    if needs_build(model):
        raise UserError(f"{model} is trained on first use (about 5 minutes on 2 idle cores): run "
                        f"prune_model with job=true, or `rigorlab models build {model}`, first")
    return model


def param_count(model: str) -> int:
    """Parameters from the weight files' sizes (float32 or smaller), without loading them."""
    if model in BUILTINS:
        return 0
    path = Path(model)
    if not path.is_absolute():
        return IN_PROCESS_MAX_PARAMS + 1      # a hub name: size unknown, treat as big
    size = sum(p.stat().st_size for p in path.glob("*.safetensors")) or \
        sum(p.stat().st_size for p in path.glob("*.bin"))
    return size // 2
