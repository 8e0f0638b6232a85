"""Pruning: prune_layer, prune_model (in process or as a job), evaluate_model."""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from pydantic import Field

from rigorlab.server.context import ServerContext
from rigorlab.server.registry import progress_reporter, tool

from rigorlab.tools.pruning.models import BUILTINS

Method = Literal["magnitude", "wanda", "ria", "sparsegpt", "sparseswaps", "sparsefw", "refit"]
IN_PROCESS_MAX_PARAMS = 150_000_000     # bigger models go out as a job unless told otherwise
MODEL_DOC = "|".join(BUILTINS) + "|folder|hub id"
OPTIONS_DOC = "alpha iterations step max_swaps damp blocksize recon_lr recon_epochs"


def register(app, ctx: ServerContext) -> None:
    @tool(app, ctx, title="Prune one layer", idempotent=True)
    def prune_layer(
        mcp_ctx: Context,
        method: Method = "sparseswaps",
        model: Annotated[str | None, Field(description=MODEL_DOC)] = None,
        layer: Annotated[str | None, Field(description="name; a wrong one lists all")] = None,
        weights: Annotated[str | None, Field(description="W file (.npy/.pt/.safetensors)")] = None,
        gram: Annotated[str | None, Field(description="G = X X^T file")] = None,
        sparsity: Annotated[float | None, Field(description="in (0,1), e.g. 0.6")] = None,
        nm: Annotated[str | None, Field(description="N:M, e.g. 2:4")] = None,
        per_layer: bool = False,
        warm_start: Literal["wanda", "ria", "magnitude"] = "wanda",
        options: Annotated[dict[str, Any] | None, Field(description=OPTIONS_DOC)] = None,
        calibration: Annotated[str | None, Field(description="text file/folder")] = None,
        n_samples: int = 32,
        seq_len: int = 128,
        out: Annotated[str | None, Field(description="mask file (.safetensors)")] = None,
    ) -> dict[str, Any]:
        """Prune one layer: error (absolute, relative, vs Wanda, held-out), time, mask file."""
        from rigorlab.core.errors import UserError
        from rigorlab.tools.pruning.layer import LayerInputs, layer_from_model, prune_layer as run, read_matrix
        from rigorlab.tools.pruning.patterns import parse_pattern
        pattern = parse_pattern(sparsity, nm, per_layer)
        if weights or gram:
            if not (weights and gram) or model:
                raise UserError("give either model + layer, or weights + gram (both files)")
            W = read_matrix(ctx.workspace.path(weights, must_exist=True, what="weights file"), "W")
            G = read_matrix(ctx.workspace.path(gram, must_exist=True, what="gram file"), "G")
            inputs = LayerInputs(W, G, None, Path(weights).stem)
        else:
            if not (model and layer):
                raise UserError("give model and layer (or weights and gram files)")
            inputs = layer_from_model(_built(_model_ref(ctx, model)), layer, calibration=_text(ctx, calibration),
                                      n_samples=n_samples, seq_len=seq_len, heldout=True)
        name = (layer or Path(weights or "layer").stem).replace("/", "_")
        mask_rel = out or f"pruning/masks/{name}-{method}.safetensors"
        mask_path = ctx.workspace.path(mask_rel, what="mask file")
        if mask_path.suffix != ".safetensors":
            raise UserError("the mask file must end in .safetensors")
        result = run(inputs, method, pattern, warm_start=warm_start, options=options,
                     mask_out=mask_path, progress=progress_reporter(mcp_ctx))
        result["mask_file"] = ctx.workspace.rel(mask_path)
        return result

    @tool(app, ctx, title="Prune a model", idempotent=False)
    def prune_model(
        model: Annotated[str, Field(description=MODEL_DOC)],
        mcp_ctx: Context,
        method: Method = "wanda",
        sparsity: Annotated[float | None, Field(description="in (0,1)")] = 0.5,
        nm: Annotated[str | None, Field(description="N:M, e.g. 2:4 (overrides sparsity)")] = None,
        per_layer: bool = False,
        warm_start: Literal["wanda", "ria", "magnitude"] = "wanda",
        reconstruct: Annotated[str, Field(description="none|linear|sublayer|block:N")] = "none",
        options: Annotated[dict[str, Any] | None, Field(description=OPTIONS_DOC)] = None,
        calibration: Annotated[str | None, Field(description="text file/folder")] = None,
        n_samples: int = 32,
        seq_len: int = 128,
        out: Annotated[str | None, Field(description="new result folder")] = None,
        job: Annotated[bool | None, Field(description="as a job (default: big models only)")] = None,
        device: str = "cpu",
    ) -> dict[str, Any]:
        """Prune every linear layer in order on pruned activations; saves model, masks, report."""
        from rigorlab.core.errors import UserError
        from rigorlab.tools.pruning.patterns import parse_pattern
        from rigorlab.tools.pruning.pipeline import ModelSpec, prune_model as run
        from rigorlab.tools.pruning.reconstruct import parse_window
        parse_pattern(sparsity, nm, per_layer)
        parse_window(reconstruct)
        label = nm.replace(":", "of") if nm else f"{int(round((sparsity or 0) * 100))}"
        out_rel = out or f"pruning/{Path(model).name}-{method}-{label}"
        out_path = ctx.workspace.path(out_rel, what="output folder")
        if out_path.exists():
            raise UserError(f"output folder {out_rel} already exists: choose another out")
        model_ref = _model_ref(ctx, model)
        text = _text(ctx, calibration)
        spec = ModelSpec(model=str(model_ref), method=method, sparsity=None if nm else sparsity, nm=nm,
                         per_layer=per_layer, warm_start=warm_start, options=dict(options or {}),
                         calibration=str(text) if text else None, n_samples=n_samples,
                         seq_len=seq_len, reconstruct=reconstruct, device=device)
        from rigorlab.tools.pruning.models import needs_build
        if job or (job is None and (needs_build(model_ref) or
                                    _param_count(model_ref) > IN_PROCESS_MAX_PARAMS)):
            return _dispatch(ctx, spec, out_path, out_rel)
        report = run(spec, out_path, root=ctx.workspace.root, progress=progress_reporter(mcp_ctx))
        return _model_out(ctx, report, out_path)

    @tool(app, ctx, title="Evaluate a model", read_only=True, idempotent=True)
    def evaluate_model(
        model: Annotated[str, Field(description=MODEL_DOC)],
        dense: Annotated[str | None, Field(description="dense model, for encoders")] = None,
        text: Annotated[str | None, Field(description="text file/folder (default: held-out split)")] = None,
        context: Annotated[int | None, Field(description="tokens per window")] = None,
        stride: Annotated[int | None, Field(description="default: context")] = None,
        max_tokens: Annotated[int | None, Field(description="cap on evaluated tokens")] = None,
        device: str = "cpu",
    ) -> dict[str, Any]:
        """Held-out perplexity + next-token accuracy (causal) or similarity to dense (encoder), dense beside."""
        from rigorlab.tools.pruning.evaluate import evaluate_model as run
        ref = _built(_model_ref(ctx, model))
        dense_ref = str(_built(_model_ref(ctx, dense))) if dense else None
        result = run(str(ref), text=_text(ctx, text), dense=dense_ref, context=context,
                     stride=stride, max_tokens=max_tokens, device=device)
        result["model"] = model
        return result


def _model_ref(ctx: ServerContext, model: str) -> str | Path:
    """Built-in names stay names; a path in the workspace is resolved; else a hub name."""
    if model in BUILTINS:
        return model
    path = ctx.workspace.path(model, what="model folder")
    if path.exists():
        return path
    if model.count("/") == 1 and not model.startswith((".", "/")):
        return model
    from rigorlab.core.errors import UserError
    raise UserError(f"model {model!r} is neither a folder in the workspace nor one of "
                    f"{', '.join(BUILTINS)}")


def _built(model_ref):
    """Refuse a built-in that would first train for minutes inside a tool call."""
    from rigorlab.tools.pruning.models import needs_build
    if needs_build(model_ref):
        from rigorlab.core.errors import UserError
        raise UserError(f"{model_ref} is trained on first use (about 10 minutes on 2 cores): run "
                        f"prune_model with job=true, or `rigorlab models build {model_ref}`, first")
    return model_ref


def _text(ctx: ServerContext, value: str | None) -> Path | None:
    return ctx.workspace.path(value, must_exist=True, what="text file or folder") if value else None


def _param_count(model_ref) -> int:
    """Parameters from the weight files' sizes (float32 or smaller), without loading them."""
    if not isinstance(model_ref, Path):
        return 0 if model_ref in BUILTINS else IN_PROCESS_MAX_PARAMS + 1
    size = sum(p.stat().st_size for p in model_ref.glob("*.safetensors")) or \
        sum(p.stat().st_size for p in model_ref.glob("*.bin"))
    return size // 2


def _model_out(ctx: ServerContext, report: dict, out_path: Path) -> dict[str, Any]:
    layers = [{k: row[k] for k in ("name", "relative", "vs_wanda", "seconds")}
              for row in report["layers"][:60]]
    return {"status": "DONE", "out": ctx.workspace.rel(out_path), "pattern": report["pattern"],
            "mean_relative_error": report["mean_relative_error"],
            "mean_vs_wanda": report["mean_vs_wanda"], "seconds": report["seconds"],
            "layers": layers, "reconstruction": report["reconstruction"],
            "files": {"model": ctx.workspace.rel(out_path / "model"),
                      "masks": ctx.workspace.rel(out_path / "masks.safetensors"),
                      "report": ctx.workspace.rel(out_path / "report.json")}}


def _dispatch(ctx: ServerContext, spec, out_path: Path, out_rel: str) -> dict[str, Any]:
    from dataclasses import asdict
    from rigorlab.tools.jobs import submit
    command = " ".join([shlex.quote(sys.executable), "-m", "rigorlab.tools.pruning.run_job",
                        "--spec-json", shlex.quote(json.dumps(asdict(spec))),
                        "--out", shlex.quote(str(out_path))])
    job_id = submit(command, workspace=ctx.workspace.root, cwd=".", name="prune",
                    gpus=1 if spec.device.startswith("cuda") else 0)
    return {"status": "DISPATCHED", "job_id": job_id, "out": out_rel,
            "note": f"progress per layer in the job's stdout (job_logs {job_id}); "
                    f"results land in {out_rel}/report.json"}
