"""Demo: prune one MiniLM layer with SparseSwaps and a tiny GQA Llama end to end."""
from __future__ import annotations

TITLE = "Pruning: one MiniLM layer with SparseSwaps, a tiny Llama end to end"
TOOLS = ("prune_layer", "prune_model", "evaluate_model")


async def run(demo) -> None:
    layer = await demo.call("prune_layer", model="minilm", layer="encoder.layer.3.attention.self.query",
                            method="sparseswaps", sparsity=0.6, n_samples=16, seq_len=64,
                            out="pruning/demo/query.safetensors")
    demo.console.print(f"SparseSwaps to a 1-swap optimum from Wanda (the first call on a machine "
                       f"compiles its kernel): relative error "
                       f"{layer['relative_error']:.4f} = {layer['vs_wanda']:.2f} x Wanda's, held-out "
                       f"{layer['heldout_vs_wanda']:.2f} x; mask in {layer['mask_file']}")
    model = await demo.call("prune_model", model="tiny-llama", method="sparsegpt", nm="2:4",
                            n_samples=8, seq_len=64, out="pruning/demo/tiny-llama-2of4")
    demo.console.print(f"tiny Llama (GQA), SparseGPT 2:4: {model['layers']} layers, mean "
                       f"{model['mean_vs_wanda']:.2f} x Wanda's error; saved in {model['out']}")
    ev = await demo.call("evaluate_model", model=f"{model['out']}/model", dense="tiny-llama",
                         context=64, max_tokens=1024)
    demo.console.print(f"sparsity {ev['sparsity']:.2f}, perplexity {ev['perplexity']:.0f} vs dense "
                       f"{ev['dense_perplexity']:.0f} (random weights: the path, not the quality)")
