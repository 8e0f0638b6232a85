"""`rigorlab models list|build`: the built-in models, and training tiny-lm into the cache."""
from __future__ import annotations

import argparse
import json

from rigorlab.core.errors import UserError
from rigorlab.server.cli.common import console


def register(sub) -> None:
    p = sub.add_parser("models", help="built-in models: list them, build tiny-lm")
    g = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    ls = g.add_parser("list", help="the built-in models and whether they are ready")
    ls.set_defaults(func=_list)
    b = g.add_parser("build", help="train tiny-lm into the cache (about 10 minutes on 2 cores)")
    b.add_argument("name", help="tiny-lm")
    b.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    b.set_defaults(func=_build)


def _list(args: argparse.Namespace) -> int:
    from rich.table import Table
    from rigorlab.tools.pruning import tiny_lm
    from rigorlab.tools.pruning.models import BUILTINS
    t = Table(title="built-in models")
    for col in ("name", "what", "ready"):
        t.add_column(col)
    for name, what in BUILTINS.items():
        ready = ("yes: " + str(tiny_lm.cached_path()) if tiny_lm.is_built() else
                 "no: rigorlab models build tiny-lm") if name == "tiny-lm" else "yes"
        t.add_row(name, what, ready)
    console().print(t)
    return 0


def _build(args: argparse.Namespace) -> int:
    from rigorlab.tools.pruning import tiny_lm
    from rigorlab.tools.pruning.models import BUILTINS
    if args.name != "tiny-lm":
        raise UserError(f"{args.name} needs no build: it is ready to use" if args.name in BUILTINS
                        else f"unknown model {args.name!r}: the one to build is tiny-lm")
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    out = console()
    if tiny_lm.is_built():
        out.print(f"tiny-lm is built: {tiny_lm.cached_path()}")
    else:
        with progress_bar(out, "training tiny-lm") as progress:
            tiny_lm.ensure_built(progress=progress)
    report = json.loads((tiny_lm.cached_path() / "build.json").read_text())
    out.print(f"validation perplexity {report['validation_perplexity']:.2f} (unigram model of the "
              f"same tokens: {report['unigram_validation_perplexity']:.1f}), next-token accuracy "
              f"{report['validation_accuracy']:.3f}; {report['parameters']:,} parameters, "
              f"{report['train_tokens']:,} train tokens; built in {report['seconds']:.0f}s")
    out.print(f"folder: {tiny_lm.cached_path()}")
    return 0


def progress_bar(out, title: str):
    """A rich progress bar as a `progress(done, total, message)` callback (a context manager)."""
    from contextlib import contextmanager
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    @contextmanager
    def bar():
        with Progress(TextColumn("{task.description}"), BarColumn(),
                      TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                      console=out) as p:
            task = p.add_task(title, total=None)

            def progress(done, total, message):
                if total:
                    p.update(task, completed=done, total=total, description=message[:70])
                else:
                    out.print(message)
            yield progress
    return bar()
