"""What checks and gates return: a violation names the rule, the evidence and the fix."""
from __future__ import annotations

from pydantic import BaseModel, Field


class Violation(BaseModel):
    rule_id: str = Field(description="rule id, e.g. II, VI, IX, W1, C1")
    message: str = Field(description="what is wrong")
    evidence: str = Field(description="where: file:line, a commit, or a ledger record")
    fix: str = Field(description="what to do about it")

    def line(self) -> str:
        return f"[{self.rule_id}] {self.evidence}: {self.message} -> {self.fix}"


class EvalStatus(BaseModel):
    """Rule II: are the evaluation command and the protected files as they were protected?"""
    protected: bool = Field(description="whether protect_evaluation was ever run here")
    valid: bool = Field(description="true when protected and nothing changed since")
    changed: list[str] = Field(default_factory=list, description="changed, missing or new paths")
    command: str | None = None
    protected_at: float | None = Field(None, description="unix time of the active protection")
    changed_since: float | None = Field(
        None, description="earliest time a change can have happened (oldest mtime of a changed "
        "file); runs made after it are invalid")
    digest: str | None = Field(None, description="fingerprint of the protected evaluation")
    current_digest: str | None = Field(None, description="fingerprint of the files as they are now")
    todo: str = Field("", description="what to do")

    def violation(self) -> Violation | None:
        if self.valid or not self.protected:
            return None
        return Violation(rule_id="II", message="the evaluation changed since it was protected: "
                         + ", ".join(self.changed), evidence=", ".join(self.changed) or "evaluation",
                         fix=self.todo)
