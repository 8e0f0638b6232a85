"""The methodology rules: check_rules, protect_evaluation, the research prompts, and the rules
and project instructions as resources."""
from __future__ import annotations

from rigorlab.rules.contract import CheckOut, CheckRulesSpec, ProtectEvaluationSpec, ProtectOut
from rigorlab.server.context import ServerContext
from rigorlab.server.registry import tool


def register(app, ctx: ServerContext) -> None:
    def dispatcher():
        from rigorlab.tools.jobs.api import dispatcher_for
        d = dispatcher_for(ctx.workspace.root, state_dir=ctx.state_dir, conn_factory=ctx.db)
        d.auto_monitor = True
        return d

    @tool(app, ctx, CheckRulesSpec, idempotent=True)
    def check_rules(args: CheckRulesSpec) -> CheckOut:
        """Check the research rules: violations with evidence and fix (paged)."""
        from rigorlab.rules.service import check_rules as run
        return run(args, ctx.workspace.root, ctx.db(), dispatcher)

    @tool(app, ctx, ProtectEvaluationSpec)
    def protect_evaluation(args: ProtectEvaluationSpec) -> ProtectOut:
        """Fingerprint the evaluation (rule II); runs after a change are invalid. Adds files; only the researcher re-protects a change."""
        from rigorlab.rules.fingerprints import protect, protected_roots
        paths = [ctx.workspace.rel(ctx.workspace.path(f, must_exist=True, what="protected file"))
                 for f in args.files]
        status = protect(ctx.workspace.root, ctx.db(), args.command, paths)
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

