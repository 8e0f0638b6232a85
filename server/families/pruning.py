"""Pruning: prune_layer, prune_model (in process or as a job), evaluate_model."""
from __future__ import annotations

from rigorlab.server.context import ServerContext
from rigorlab.server.registry import tool
from rigorlab.tools.pruning.contract import (EvaluateModelSpec, EvaluateOut, PruneLayerOut, PruneLayerSpec,
                                             PruneModelOut, PruneModelSpec)


def register(app, ctx: ServerContext) -> None:
    @tool(app, ctx, PruneLayerSpec, idempotent=True)
    def prune_layer(args: PruneLayerSpec, progress) -> PruneLayerOut:
        """Prune one layer: error (absolute, relative, vs Wanda, held-out), time, mask file."""
        from rigorlab.tools.pruning.service import prune_layer as run
        return run(args, ctx.workspace, progress)

    @tool(app, ctx, PruneModelSpec)
    def prune_model(args: PruneModelSpec, progress) -> PruneModelOut:
        """Prune every linear layer in order on pruned activations; saves model, masks, report."""
        from rigorlab.tools.pruning.service import prune_model as run
        return run(args, ctx.workspace, progress)

    @tool(app, ctx, EvaluateModelSpec, read_only=True, idempotent=True)
    def evaluate_model(args: EvaluateModelSpec) -> EvaluateOut:
        """Perplexity (causal LM) or cosine similarity to the dense model (encoder); sparsity."""
        from rigorlab.tools.pruning.service import evaluate_model as run
        return run(args, ctx.workspace)
