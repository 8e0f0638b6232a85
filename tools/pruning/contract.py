"""The pruning tools' contracts: prune_layer, prune_model, evaluate_model.

Method and warm-start names come from methods.py, built-in model names from models.py, the
reconstruction windows from reconstruct.py: a name added there is accepted here at once.
The same specs are read by the CLI (`rigorlab prune ...`) and by the job entry point
(`python -m rigorlab.tools.pruning.run_job`).
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from rigorlab.core.contract import Name, RelPath, Result, Spec, bounded_json
from rigorlab.tools.pruning.methods import METHODS, WARM_STARTS, PruneOptions
from rigorlab.tools.pruning.models import BUILTINS

Method = Literal[METHODS]  # type: ignore[valid-type]
WarmStart = Literal[WARM_STARTS]  # type: ignore[valid-type]
Device = Annotated[str, StringConstraints(pattern=r"^(cpu|cuda(:\d{1,2})?|mps)$")]
ModelName = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
MODEL_DOC = "|".join(BUILTINS) + "|folder|hub id"


class _Pattern(Spec):
    sparsity: float = Field(0.5, gt=0, lt=1)
    nm: Annotated[str, StringConstraints(pattern=r"^\d{1,4}:\d{1,4}$")] | None = Field(
        None, description="e.g. 2:4; overrides sparsity")
    per_layer: bool = False
    warm_start: WarmStart = "wanda"  # type: ignore[valid-type]
    options: bounded_json(depth=1, keys=16) | None = Field(  # type: ignore[valid-type]
        None, description=" ".join(PruneOptions.model_fields))
    calibration: RelPath | None = Field(None, description="text file/folder")
    n_samples: int = Field(32, ge=1, le=4096)
    seq_len: int = Field(128, ge=2, le=8192)


class PruneLayerSpec(_Pattern):
    method: Method = "sparseswaps"  # type: ignore[valid-type]
    model: ModelName | None = Field(None, description=MODEL_DOC)
    layer: Name | None = Field(None, description="name; a wrong one lists all")
    weights: RelPath | None = Field(None, description="W: .npy|.pt|.safetensors")
    gram: RelPath | None = Field(None, description="G = X X^T, same formats")
    out: RelPath | None = Field(None, description="mask .safetensors")

    @model_validator(mode="after")
    def _source(self) -> PruneLayerSpec:
        if self.weights or self.gram:
            if not (self.weights and self.gram) or self.model:
                raise ValueError("give either model + layer, or weights + gram (both files)")
        elif not (self.model and self.layer):
            raise ValueError("give model and layer (or weights and gram files)")
        return self


class PruneModelSpec(_Pattern):
    model: ModelName = Field(description=MODEL_DOC)
    method: Method = "wanda"  # type: ignore[valid-type]
    reconstruct: Annotated[str, StringConstraints(pattern=r"^(none|linear|sublayer|block(:\d{1,3})?)$")] = Field(
        "none")
    out: RelPath | None = Field(None, description="new result folder")
    job: bool | None = Field(None, description="default: big models only")
    device: Device = "cpu"


class EvaluateModelSpec(Spec):
    model: ModelName = Field(description=MODEL_DOC)
    dense: ModelName | None = Field(None, description="default: the pruned folder's source")
    text: RelPath | None = Field(None, description="default: held-out split")
    context: int | None = Field(None, ge=2, le=8192, description="tokens per window")
    stride: int | None = Field(None, ge=1, le=8192, description="default: context")
    max_tokens: int | None = Field(None, ge=2, le=10**8)
    device: Device = "cpu"


class PruneLayerOut(Result):
    layer: str
    method: str
    pattern: str
    shape: list[int]
    error: float
    relative_error: float
    vs_wanda: float
    wanda_relative_error: float
    heldout_relative_error: float | None = None
    heldout_vs_wanda: float | None = None
    sparsity: float
    seconds: float
    info: dict[str, Any]
    mask_file: str | None = None

    def summary(self) -> str:
        return (f"{self.layer} {self.method} {self.pattern}: relative error {self.relative_error:.4g} "
                f"({self.vs_wanda:.3f} x Wanda), {self.seconds:.2f} s"
                + (f"; mask {self.mask_file}" if self.mask_file else ""))


class LayerRowOut(Result):
    name: str
    relative: float
    vs_wanda: float
    seconds: float


class PruneModelOut(Result):
    status: Literal["DONE", "DISPATCHED"]
    out: str
    job_id: str | None = None
    pattern: str | None = None
    mean_relative_error: float | None = None
    mean_vs_wanda: float | None = None
    seconds: float | None = None
    layers: int = 0
    worst_layers: list[LayerRowOut] = Field(default_factory=list, description="highest error first")
    reconstruction: list[dict[str, Any]] = Field(default_factory=list)
    files: dict[str, str] = Field(default_factory=dict)
    note: str = ""

    def summary(self) -> str:
        if self.status == "DISPATCHED":
            return f"dispatched as job {self.job_id}; results land in {self.out}/report.json"
        return (f"{self.layers} layers pruned ({self.pattern}) into {self.out}: mean relative error "
                f"{self.mean_relative_error:.4g}, {self.mean_vs_wanda:.3f} x Wanda, {self.seconds:.1f} s")


class EvaluateOut(Result):
    model: str
    kind: str
    text: str
    context: int
    stride: int
    tokens: int
    sparsity: float
    perplexity: float | None = None
    accuracy: float | None = None
    dense: str | None = None
    dense_perplexity: float | None = None
    dense_accuracy: float | None = None
    cosine_similarity: float | None = None
    token_cosine_similarity: float | None = None
    relative_state_error: float | None = None
    windows: int | None = None

    def summary(self) -> str:
        where = f"{self.tokens} tokens of {self.text} (context {self.context}, stride {self.stride})"
        if self.perplexity is not None:
            dense = (f"; dense {self.dense_perplexity:.4g} / {self.dense_accuracy:.3f}"
                     if self.dense_perplexity is not None else "")
            return (f"perplexity {self.perplexity:.4g}, accuracy {self.accuracy:.3f}{dense}; "
                    f"sparsity {self.sparsity:.3f}; {where}")
        return (f"cosine similarity to {self.dense} {self.cosine_similarity:.4f} (tokens "
                f"{self.token_cosine_similarity:.4f}), relative state error "
                f"{self.relative_state_error:.4g}; sparsity {self.sparsity:.3f}; {where}")
