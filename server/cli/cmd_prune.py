"""`rigorlab prune layer|model|eval`: the pruning tools for a person, with progress bars.

The options are generated from the tools' specs (tools/pruning/contract.py), so a person and
an agent pass the same arguments with the same defaults and the same checks.
"""
from __future__ import annotations

import argparse
import json

from rigorlab.server.cli.common import add_workspace_arg, console, workspace_of
from rigorlab.server.cli.spec_args import add_spec_args, spec_from_args


def register(sub) -> None:
    from rigorlab.tools.pruning.contract import EvaluateModelSpec, PruneLayerSpec, PruneModelSpec
    p = sub.add_parser("prune", help="prune a layer or a model; evaluate a pruned model")
    g = p.add_subparsers(dest="prune_command", metavar="ACTION", required=True)
    lay = g.add_parser("layer", help="prune one layer; error vs dense and vs Wanda (no layer: list them)")
    add_spec_args(lay, PruneLayerSpec, positional=("model", "layer"))
    mod = g.add_parser("model", help="prune every linear layer in order; saves model and masks")
    add_spec_args(mod, PruneModelSpec, positional=("model",))
    ev = g.add_parser("eval", help="perplexity or embedding fidelity, and sparsity achieved")
    add_spec_args(ev, EvaluateModelSpec, positional=("model",))
    for q, func in ((lay, _layer), (mod, _model), (ev, _eval)):
        add_workspace_arg(q)
        q.add_argument("--threads", type=int, help="torch threads")
        q.set_defaults(func=func)


def _setup(args):
    from rigorlab.core.jail import Workspace
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    _build_first(getattr(args, "model", None))
    if getattr(args, "dense", None):
        _build_first(args.dense)
    return Workspace(workspace_of(args))


def _build_first(model: str | None) -> None:
    """A person's command trains tiny-lm on first use, in this process, with a progress bar."""
    from rigorlab.tools.pruning.models import needs_build
    if model and needs_build(model):
        from rigorlab.server.cli.cmd_models import progress_bar
        from rigorlab.tools.pruning.tiny_lm import ensure_built
        with progress_bar(console(), f"training {model}") as progress:
            ensure_built(progress=progress)


def _layer(args: argparse.Namespace) -> int:
    from rigorlab.tools.pruning.contract import PruneLayerSpec
    from rigorlab.tools.pruning.service import model_ref, prune_layer
    ws = _setup(args)
    out = console()
    if not getattr(args, "layer", None) and not getattr(args, "weights", None):
        from rigorlab.tools.pruning.models import linear_layers, load_model
        for name in linear_layers(load_model(model_ref(ws, args.model)).model):
            out.print(name)
        return 0
    spec = spec_from_args(PruneLayerSpec, args)
    with out.status(f"pruning {spec.layer or spec.weights} with {spec.method} ..."):
        res = prune_layer(spec, ws)
    _layer_table(out, res)
    return 0


def _layer_table(out, r) -> None:
    from rich.table import Table
    t = Table(title="layer error")
    for col in ("layer", "method", "pattern", "relative", "vs Wanda", "held-out vs Wanda", "time"):
        t.add_column(col, justify="left" if col in ("layer", "method") else "right")
    heldout = "" if r.heldout_vs_wanda is None else f"{r.heldout_vs_wanda:.3f}"
    t.add_row(r.layer, r.method, r.pattern, f"{r.relative_error:.4f}", f"{r.vs_wanda:.3f}", heldout,
              f"{r.seconds:.2f}s")
    out.print(t)
    out.print(f"mask: {r.mask_file}")


def _model(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rigorlab.tools.pruning.contract import PruneModelSpec
    from rigorlab.tools.pruning.service import prune_model
    ws = _setup(args)
    spec = spec_from_args(PruneModelSpec, args)
    out = console()
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=out) as bar:
        task = bar.add_task("pruning", total=None)

        def progress(done, total, message):
            if total:
                bar.update(task, completed=done, total=total, description=message[:70])
            else:
                out.print(message)

        result = prune_model(spec, ws, progress)
    if result.status == "DISPATCHED":
        out.print(result.summary())
        return 0
    _model_table(out, json.loads(ws.path(result.files["report"]).read_text()))
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
    from rigorlab.tools.pruning.contract import EvaluateModelSpec
    from rigorlab.tools.pruning.service import evaluate_model
    ws = _setup(args)
    out = console()
    with out.status("evaluating ..."):
        res = evaluate_model(spec_from_args(EvaluateModelSpec, args), ws)
    for k, v in res.model_dump(exclude_none=True).items():
        out.print(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}")
    return 0
