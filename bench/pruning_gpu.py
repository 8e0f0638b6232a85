"""The pruning benchmark on a CUDA GPU: the same tables, batched SparseSwaps on every row.

    .venv/bin/python bench/pruning_gpu.py            # needs torch with CUDA and a GPU

SparseSwaps runs with the batched engine (all rows of a layer at once, certified exact best
swap per row); the 4096 x 4096 synthetic layer is timed on all rows and 500 FW iterations.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> int:
    import torch
    if not torch.cuda.is_available():
        print("bench/pruning_gpu.py: no CUDA device here; run bench/pruning.py on CPU instead")
        return 2
    import pruning
    extra = sys.argv[1:]
    return pruning.main(["--device", "cuda", "--threads", str(torch.get_num_threads()),
                         "--synthetic-rows", "4096", "--fw-iterations", "500",
                         "--speed-rows", "384", *extra])


if __name__ == "__main__":
    sys.exit(main())
