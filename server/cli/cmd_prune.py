"""`rigorlab prune layer|model|eval`: the pruning tools for a person, with progress bars."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from rigorlab.core.errors import UserError
from rigorlab.server.cli.common import console

METHODS = ["magnitude", "wanda", "ria", "sparsegpt", "sparseswaps", "sparsefw", "refit"]


def _pattern_args(p) -> None:
    p.add_argument("--method", default="wanda", choices=METHODS)
    p.add_argument("--sparsity", type=float, help="in (0, 1), e.g. 0.6 (default 0.5)")
    p.add_argument("--nm", help="N:M pattern, e.g. 2:4")
    p.add_argument("--per-layer", action="store_true", help="unstructured over the whole layer")
    p.add_argument("--warm-start", default="wanda", choices=["wanda", "ria", "magnitude"])
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="alpha iterations step max_swaps damp blocksize recon_lr recon_epochs")
    p.add_argument("--calibration", help="text file or folder (default: built-in corpus)")
    p.add_argument("--samples", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--threads", type=int, help="torch threads")


def register(sub) -> None:
    p = sub.add_parser("prune", help="prune a layer or a model; evaluate a pruned model")
    g = p.add_subparsers(dest="prune_command", metavar="ACTION", required=True)
    lay = g.add_parser("layer", help="prune one layer; error vs dense and vs Wanda")
    lay.add_argument("model", help="minilm, tiny-lm, tiny-llama, tiny-gpt2 or a model folder")
    lay.add_argument("layer", nargs="?", help="layer name (omit to list them)")
    _pattern_args(lay)
    lay.add_argument("--out", help="mask file (.safetensors)")
    lay.set_defaults(func=_layer)
    mod = g.add_parser("model", help="prune every linear layer in order; saves model and masks")
    mod.add_argument("model")
    _pattern_args(mod)
    mod.add_argument("--reconstruct", default="none", help="none | linear | sublayer | block:N")
    mod.add_argument("--out", required=True, help="new result folder")
    mod.add_argument("--device", default="cpu")
    mod.set_defaults(func=_model)
    ev = g.add_parser("eval", help="perplexity or embedding fidelity, and sparsity achieved")
    ev.add_argument("model")
    ev.add_argument("--dense", help="the dense model (default: the one a pruned folder came from)")
    ev.add_argument("--text", help="text file or folder (default: the model's held-out split)")
    ev.add_argument("--context", type=int, help="tokens per window (default: 256, encoders 128)")
    ev.add_argument("--stride", type=int, help="window step (default: the context)")
    ev.add_argument("--max-tokens", type=int, help="evaluate only the first N tokens")
    ev.set_defaults(func=_eval)


def _options(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--option must look like KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _setup(args):
    from rigorlab.tools.pruning.patterns import parse_pattern
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    sparsity = args.sparsity if args.sparsity is not None or args.nm else 0.5
    return parse_pattern(sparsity, args.nm, args.per_layer), sparsity


def _layer(args: argparse.Namespace) -> int:
    from rigorlab.tools.pruning.layer import layer_from_model, prune_layer
    from rigorlab.tools.pruning.models import linear_layers, load_model
    out = console()
    if not args.layer:
        for name in linear_layers(load_model(args.model).model):
            out.print(name)
        return 0
    pattern, _ = _setup(args)
    with out.status(f"collecting the inputs of {args.layer} ..."):
        inputs = layer_from_model(args.model, args.layer, calibration=_path(args.calibration),
                                  n_samples=args.samples, seq_len=args.seq_len, heldout=True)
    with out.status(f"pruning with {args.method} ..."):
        res = prune_layer(inputs, args.method, pattern, warm_start=args.warm_start,
                          options=_options(args.option), mask_out=_path(args.out))
    _layer_table(out, [res])
    return 0


def _layer_table(out, rows: list[dict]) -> None:
    from rich.table import Table
    t = Table(title="layer error")
    for col in ("layer", "method", "pattern", "relative", "vs Wanda", "held-out vs Wanda", "time"):
        t.add_column(col, justify="left" if col in ("layer", "method") else "right")
    for r in rows:
        t.add_row(r["layer"], r["method"], r["pattern"], f"{r['relative_error']:.4f}",
                  f"{r['vs_wanda']:.3f}", f"{r.get('heldout_vs_wanda', float('nan')):.3f}",
                  f"{r['seconds']:.2f}s")
    out.print(t)
    if rows and rows[0].get("mask_file"):
        out.print(f"mask: {rows[0]['mask_file']}")


def _model(args: argparse.Namespace) -> int:
    from rigorlab.tools.pruning.pipeline import ModelSpec, prune_model
    _, sparsity = _setup(args)
    spec = ModelSpec(model=args.model, method=args.method, sparsity=None if args.nm else sparsity,
                     nm=args.nm, per_layer=args.per_layer, warm_start=args.warm_start,
                     options=_options(args.option), calibration=args.calibration,
                     n_samples=args.samples, seq_len=args.seq_len, reconstruct=args.reconstruct,
                     device=args.device)
    from rigorlab.server.cli.cmd_models import progress_bar
    out = console()
    with progress_bar(out, "pruning") as progress:
        report = prune_model(spec, Path(args.out), progress=progress)
    _model_table(out, report)
    return 0


def _model_table(out, report: dict) -> None:
    from rich.table import Table
    t = Table(title=f"{report['model']}: {report['method']} {report['pattern']}")
    for col in ("layer", "shape", "relative", "vs Wanda", "time"):
        t.add_column(col, justify="left" if col == "layer" else "right")
    for r in report["layers"]:
        t.add_row(r["name"], "x".join(map(str, r["shape"])), f"{r['relative']:.4f}",
                  f"{r['vs_wanda']:.3f}", f"{r['seconds']:.2f}s")
    out.print(t)
    out.print(f"mean relative error {report['mean_relative_error']:.4f}, "
              f"mean vs Wanda {report['mean_vs_wanda']:.3f}, {report['seconds']:.1f}s")
    for w in report["reconstruction"]:
        out.print(f"reconstruction ({w['blocks']} block(s)): MSE {w['mse_before']:.4g} -> {w['mse_after']:.4g}")


def _eval(args: argparse.Namespace) -> int:
    from rigorlab.tools.pruning.evaluate import evaluate_model
    out = console()
    with out.status("evaluating ..."):
        res = evaluate_model(args.model, text=_path(args.text), dense=args.dense,
                             context=args.context, stride=args.stride, max_tokens=args.max_tokens,
                             progress=lambda d, t, m: out.print(m) if t is None else None)
    for k, v in res.items():
        out.print(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}")
    return 0


def _path(value: str | None) -> Path | None:
    return Path(value).resolve() if value else None
