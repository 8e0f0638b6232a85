"""The pruning benchmarks on a CUDA GPU, in one call: checks first, then the tables.

    .venv/bin/python bench/pruning_gpu.py                 # needs torch with CUDA and a GPU
    .venv/bin/python bench/pruning_gpu.py --cpu-smoke     # the same steps, small, on CPU

1. Same masks: the batched SparseSwaps engine on the GPU (all rows of a layer at once) against
   the compiled CPU kernel, on every MiniLM layer at 60% and 50% (masks and swap counts); and
   how many entries of SparseFW's masks differ between the GPU and the CPU run.
2. bench/pruning.py on the device: MiniLM layer errors, SparseFW against T products with G,
   the 4096 x 4096 synthetic layer (all rows, 500 FW iterations).
3. bench/pruning_e2e.py on the device: tiny-lm (trained on the CPU first if the cache lacks it)
   pruned by every method, with and without reconstruction.
Exit code 1 when a mask differs. `--cpu-smoke` runs every step on the CPU at a small size (the
batched engine on the CPU against the kernel): it proves the script runs, not the GPU.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def same_masks(layers, device: str, patterns, fw_iterations: int, console) -> bool:
    import torch
    from rigorlab.tools.pruning.criteria import score_mask
    from rigorlab.tools.pruning.patterns import parse_pattern
    from rigorlab.tools.pruning.sparsefw import sparsefw
    from rigorlab.tools.pruning.sparseswaps import sparseswaps
    ok = True
    for text in patterns:
        p = parse_pattern(text)
        gpu_s = cpu_s = 0.0
        fw_diff = 0
        for name, (W, G, _) in layers.items():
            warm = score_mask("wanda", W, G, p)
            t0 = time.perf_counter()
            cpu = sparseswaps(W, G, warm, p, engine="scan")
            cpu_s += time.perf_counter() - t0
            Wd, Gd, warm_d = W.to(device), G.to(device), warm.to(device)
            _sync(device)
            t0 = time.perf_counter()
            dev = sparseswaps(Wd, Gd, warm_d, p, engine="batched")
            _sync(device)
            gpu_s += time.perf_counter() - t0
            same = torch.equal(dev.mask.cpu(), cpu.mask.cpu()) and torch.equal(dev.swaps.cpu(), cpu.swaps.cpu())
            fw_c = sparsefw(W, G, warm, p, iterations=fw_iterations).mask
            fw_d = sparsefw(Wd, Gd, warm_d, p, iterations=fw_iterations).mask.cpu()
            fw_diff += int((fw_c != fw_d).sum())
            if not same:
                console.print(f"[red]DIFFERENT[/red] SparseSwaps masks on {name} at {text}")
            ok &= same
        console.print(f"{text}: {len(layers)} layers, batched SparseSwaps on {device} {gpu_s:.1f}s, "
                      f"CPU kernel {cpu_s:.1f}s, masks {'the same' if ok else 'DIFFERENT'}; SparseFW "
                      f"({fw_iterations} iterations) masks differ in {fw_diff} entries (float64 "
                      "sums in another order may tip near-ties)")
    return ok


def _sync(device: str) -> None:
    import torch
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cpu-smoke", action="store_true", help="every step, small, on CPU")
    ap.add_argument("--skip", default="", help="comma list of steps to skip: masks,tables,e2e")
    args = ap.parse_args(argv)
    import torch
    from rich.console import Console
    import pruning
    import pruning_e2e
    console = Console(width=150)
    skip = set(filter(None, args.skip.split(",")))
    if args.cpu_smoke:
        device, threads = "cpu", torch.get_num_threads()
    elif not torch.cuda.is_available():
        print("bench/pruning_gpu.py: no CUDA device here; --cpu-smoke runs the steps on CPU")
        return 2
    else:
        device, threads = "cuda", torch.get_num_threads()
        console.print(f"device: {torch.cuda.get_device_name()}; torch {torch.__version__}")
    ok = True
    if "masks" not in skip:
        n, length = (8, 32) if args.cpu_smoke else (64, 128)
        layers = pruning.minilm_layers(n, length, "cpu")
        if args.cpu_smoke:
            layers = {k: (W[:16], G, Gh) for k, (W, G, Gh) in list(layers.items())[:6]}
        ok = same_masks(layers, device, ["60%", "50%"], 20 if args.cpu_smoke else 500, console)
    if "tables" not in skip:
        small = ["--blocks", "0", "--samples", "8", "--seq-len", "32", "--synthetic-rows", "8",
                 "--fw-iterations", "2", "--fw-table-iterations", "5", "--speed-rows", "4",
                 "--speed-repeat", "1", "--patterns", "60%", "--methods", "wanda,sparsegpt"]
        full = ["--synthetic-rows", "4096", "--fw-iterations", "500", "--speed-rows", "384"]
        pruning.main(["--device", device, "--threads", str(threads),
                      *(small if args.cpu_smoke else full)])
    if "e2e" not in skip:
        out = Path("bench/out")
        e2e = ["--device", device, "--rows", str(out / f"pruning_e2e_{device}.jsonl"),
               "--plot", str(out / f"pruning_e2e_{device}.png")]
        if args.cpu_smoke:
            e2e += ["--quick", "--samples", "4", "--seq-len", "64", "--model", os.environ.get(
                "RIGORLAB_SMOKE_MODEL", "tiny-lm")]
        pruning_e2e.main(e2e)
    console.print("masks: the same on both devices" if ok else "[red]masks differ[/red]")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
