"""The methodology rules: check_rules, protect_evaluation, the research prompts, and the rules
and project instructions as resources."""
from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from rigorlab.server.context import ServerContext
from rigorlab.server.registry import tool

MAX_LISTED = 40


class ViolationOut(BaseModel):
    rule_id: str
    evidence: str
    message: str
    fix: str


class CheckOut(BaseModel):
    count: int
    violations: list[ViolationOut]
    notes: list[str]


class ProtectOut(BaseModel):
    files: list[str]
    digest: str


def register(app, ctx: ServerContext) -> None:
    @tool(app, ctx, title="Check the research rules", read_only=False, idempotent=True)
    def check_rules(
        rules: Annotated[list[str] | None, Field(description="ids, e.g. II; default all")] = None,
        run_verify: Annotated[bool, Field(description="run scripts/verify_*.py as jobs")] = False,
        online: Annotated[bool, Field(description="look up bib ids")] = False,
    ) -> CheckOut:
        """Check the research rules: violations with evidence and fix."""
        from rigorlab.rules.service import check_workspace
        notes = _dispatch_verifications(ctx) if run_verify else []
        report = check_workspace(ctx.workspace.root, ctx.db(), rules, online=online,
                                 inventory=_gpu_inventory(ctx))
        report.notes = notes + report.notes
        listed = [ViolationOut(**v.model_dump()) for v in report.violations[:MAX_LISTED]]
        notes = report.notes + ([f"first {MAX_LISTED} of {len(report.violations)} shown; by rule: "
                                 + str(report.by_rule())] if len(report.violations) > MAX_LISTED else [])
        return CheckOut(count=len(report.violations), violations=listed, notes=notes)

    @tool(app, ctx, title="Protect the evaluation", idempotent=False)
    def protect_evaluation(
        command: Annotated[str, Field(description="exact evaluation command")],
        files: Annotated[list[str], Field(description="metric, test data, fixed params")] = [],  # noqa: B006
    ) -> ProtectOut:
        """Fingerprint the evaluation (rule II); runs after a change are invalid. Adds files; only the researcher re-protects a change."""
        from rigorlab.rules.fingerprints import protect, protected_roots
        paths = [ctx.workspace.rel(ctx.workspace.path(f, must_exist=True, what="protected file"))
                 for f in files]
        status = protect(ctx.workspace.root, ctx.db(), command, paths)
        return ProtectOut(files=protected_roots(ctx.db()), digest=status.digest or "")

    @app.prompt(title="Set up the research plan")
    def setup_research_plan() -> str:
        """Dialogue in rounds that fills in the project instructions (resumes where it stopped)."""
        from rigorlab.rules.prompts import setup_research_plan as text
        return text(ctx.workspace.root)

    @app.prompt(title="Retrospective")
    def retro() -> str:
        """Grade each rule against this session's evidence and append notes to REVISION.md."""
        from rigorlab.rules.prompts import retro as text
        return text(ctx.workspace.root, ctx.db())

    @app.prompt(title="Update the base rules")
    def update_base() -> str:
        """Fold accepted REVISION.md notes into the project's rules."""
        from rigorlab.rules.prompts import update_base as text
        return text(ctx.workspace.root)

    @app.resource("rigorlab://rules", title="Research rules", mime_type="text/markdown")
    def rules_resource() -> str:
        """All methodology rules with their ids, modules and how each is enforced."""
        from rigorlab.rules.render import rules_reference
        return rules_reference()

    @app.resource("rigorlab://rules/{rule_id}", title="One research rule", mime_type="text/markdown")
    def rule_resource(rule_id: str) -> str:
        """One rule by id (I..X, M1, M2, C1, C2, N1..N5, W1..W3)."""
        from rigorlab.rules.catalog import enforcement, rule
        r = rule(rule_id)
        return f"{r.markdown()}\n\nModule: {r.module}. Enforced by: {enforcement(r)}.\n"

    @app.resource("rigorlab://project", title="Project instructions", mime_type="text/markdown")
    def project_resource() -> str:
        """The project section of the workspace's instruction file."""
        from rigorlab.rules.render import project_section, read_instruction_file
        text = project_section(read_instruction_file(ctx.workspace.root)[1])
        return text or "No project instructions yet: run `rigorlab init` and the setup_research_plan prompt."


def _dispatcher(ctx: ServerContext):
    from rigorlab.tools.jobs.api import dispatcher_for
    d = dispatcher_for(ctx.workspace.root, state_dir=ctx.state_dir, conn_factory=ctx.db)
    d.auto_monitor = True
    return d


def _dispatch_verifications(ctx: ServerContext) -> list[str]:
    """Rule X: each verification script without a verdict becomes a CPU job on this machine;
    its verdict is recorded from the job ledger when it ends."""
    import shlex

    from rigorlab.clusters.dispatcher import JobRequest
    from rigorlab.rules.checks.verification import python_for, to_dispatch
    from rigorlab.tools.jobs.api import dispatch
    todo = to_dispatch(ctx.workspace.root, ctx.db())
    if not todo:
        return ["every verification script has a verdict for its current content or a job under way"]
    d = _dispatcher(ctx)
    started = []
    for script, name in todo:
        command = shlex.join([python_for(ctx.workspace.root), script])
        job = dispatch(d, JobRequest(command=command,
                                     cwd=ctx.workspace.root, target="local", gpus=0, name=name,
                                     time_limit_s=600))
        started.append(f"{script} as job {job.id}")
    return ["verification dispatched: " + ", ".join(started) + "; wait_job, then check_rules "
            "again to see the verdicts"]


def _gpu_inventory(ctx: ServerContext) -> dict[str, int] | None:
    """GPUs per target of the jobs waiting now (rule C1); None when nothing is queued."""
    from rigorlab.clusters import ledger
    from rigorlab.core.state import has_table
    conn = ctx.db()
    targets = {j.target for j in ledger.active(conn) if j.state == "QUEUED"} if has_table(conn, "jobs") else set()
    if not targets:
        return None
    d = _dispatcher(ctx)
    found = {}
    for target in targets:
        try:
            found[target] = d.backend(target).max_gpus()
        except Exception:  # noqa: BLE001 - an unreachable target: fall back to the heuristic
            continue
    return found
