"""The Frank-Wolfe tools' contracts: run_fw_solver and fw_worst_case.

Objective, set, algorithm and step names come from the modules that implement them, so a
name added there is accepted here at once. The same FWSpec is read by the CLI
(`rigorlab fw run`) and by the job entry point (`python -m rigorlab.tools.fw.run`).
"""
from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from rigorlab.core.contract import RelPath, Result, Spec, bounded_dict, bounded_json, bounded_list, parse
from rigorlab.tools.fw.oracles import SET_NAMES
from rigorlab.tools.fw.algorithms import (ALGORITHMS, DEFAULT_ALGORITHM, DEFAULT_MAX_ITER, DEFAULT_PLOT,
                                          DEFAULT_TOL, PLOT_MODES)
from rigorlab.tools.fw.spec import OBJECTIVES
from rigorlab.tools.fw.steps import STEPS

IN_CALL_LIMIT_S = 60.0          # a longer time limit sends the run out as a job
MAX_GENERATED = 25_000_000      # numbers in generated data (200 MB of float64)
Device = Annotated[str, StringConstraints(pattern=r"^(cpu|cuda(:\d{1,2})?)$")]
Size = Annotated[int, Field(ge=1, le=10**7)]


class FWOptions(Spec):
    """The rarely needed knobs of run_fw_solver, given as its `options` object."""
    lazy: bool = False
    momentum: float | None = Field(None, ge=0, lt=1)
    step_params: bounded_json(depth=2, keys=16) | None = None  # type: ignore[valid-type]
    allow_nonconvex: bool = False
    f_star: float | None = None
    plot: Literal[PLOT_MODES] = DEFAULT_PLOT  # type: ignore[valid-type]


class FWSpec(Spec):
    objective: Literal[OBJECTIVES]  # type: ignore[valid-type]
    set: Literal[SET_NAMES]  # type: ignore[valid-type]
    set_params: bounded_json(depth=4) | None = Field(  # type: ignore[valid-type]
        None, description="radius n m k p lower upper equality atoms(.npy) factors")
    data: bounded_dict(RelPath, keys=8, key_len=16) | None = Field(  # type: ignore[valid-type]
        None, description="A,y or Q|d,B and b: .npy .safetensors[:key] .npz(Q)")
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="random data of size")
    size: bounded_list(Size, items=2, min_items=1) | None = Field(  # type: ignore[valid-type]
        None, description="[m,n]; [n] if quadratic")
    function: RelPath | None = Field(None, description="python: file.py:f[,grad]")
    algorithm: Literal[ALGORITHMS] = DEFAULT_ALGORITHM  # type: ignore[valid-type]
    step: Literal[tuple(STEPS)] | None = None  # type: ignore[valid-type]
    tol: float = Field(DEFAULT_TOL, ge=0, le=1e6)
    max_iter: int = Field(DEFAULT_MAX_ITER, ge=1, le=10**8)
    time_limit_s: float = Field(60.0, gt=0, le=30 * 86400, description=f">{IN_CALL_LIMIT_S:.0f}: a job")
    device: Device = "cpu"
    dtype: Literal["float64", "float32"] = "float64"
    out: RelPath | None = None
    job: bool | None = None
    options: bounded_json(depth=3, keys=8) | None = Field(  # type: ignore[valid-type]
        None, description=" ".join(FWOptions.model_fields))

    @model_validator(mode="after")
    def _data_size(self) -> FWSpec:
        if self.size and math.prod(self.size) > MAX_GENERATED:
            raise ValueError(f"generated data is at most {MAX_GENERATED:,} numbers (m * n); "
                             "give data files for bigger problems")
        return self

    def solver_options(self) -> FWOptions:
        return parse(FWOptions, self.options, what="option")


class WorstCaseSpec(Spec):
    r_end: float = Field(1e-4, ge=1e-5, le=1e-2)
    bits: int = Field(300, ge=64, le=2000)
    step: Literal["exact", "short"] = "exact"
    out: RelPath | None = None


class FWOut(Result):
    status: str
    out: str
    job_id: str | None = None
    primal: float | None = None
    gap: float | None = None
    iterations: int | None = None
    time_s: float | None = None
    active_size: int | None = None
    algorithm: str | None = None
    step: str | None = None
    lmo_calls: int | None = None
    auto: str | None = None
    convexity: dict[str, Any] | None = None
    overhead_s: dict[str, float] | None = None
    kernel_load_s: float | None = None
    kernel_compiled: bool | None = None
    plot: str | None = None
    trajectory: list[dict[str, float]] = Field(default_factory=list)
    files: dict[str, str] = Field(default_factory=dict)
    note: str = ""

    @classmethod
    def of(cls, summary: dict[str, Any], out: str, rel) -> FWOut:
        """From run_spec's summary; `rel` turns a saved file's path into a workspace path."""
        files = {k: rel(v) for k, v in summary.get("files", {}).items()}
        return cls(**{**result_fields(summary, cls), "out": out, "files": files})

    def summary(self) -> str:
        if self.status == "DISPATCHED":
            return f"dispatched as job {self.job_id}; results land in {self.out}/summary.json"
        return (f"{self.status}: primal {self.primal:.10g}, FW gap {self.gap:.3e} after {self.iterations} "
                f"iterations ({self.algorithm}, {self.step}), {self.time_s:.3f} s; saved in {self.out}")


class WorstCaseOut(Result):
    iterations: int
    c: float
    slope: float
    fit_range: list[int]
    ratio_min: float
    ratio_max: float
    replay_window: int
    replay_max_rel_dev: float
    free_replay_escapes_at: int | None
    x0: list[float]
    r_end: float
    bits: int
    step: str
    files: dict[str, str]

    def summary(self) -> str:
        return (f"T = {self.iterations}: primal gap ~ {self.c:.6f} / t^2 (fitted slope {self.slope:.4f}); "
                f"files in {next(iter(self.files.values()), '').rsplit('/', 1)[0]}")


def result_fields(summary: dict[str, Any], model: type[Result]) -> dict[str, Any]:
    return {k: summary[k] for k in model.model_fields if k in summary}
