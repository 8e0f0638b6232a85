"""SLURM's job states (squeue/sacct/scontrol, SLURM 22.05 man pages) mapped to ours, and
parsers for the three commands' outputs."""
from __future__ import annotations

from rigorlab.clusters.model import JobState

SLURM_STATES: dict[str, JobState] = {
    "PENDING": JobState.SUBMITTED, "CONFIGURING": JobState.SUBMITTED,
    "REQUEUED": JobState.SUBMITTED, "REQUEUE_FED": JobState.SUBMITTED,
    "REQUEUE_HOLD": JobState.SUBMITTED, "RESV_DEL_HOLD": JobState.SUBMITTED,
    "POWER_UP_NODE": JobState.SUBMITTED,
    "RUNNING": JobState.RUNNING, "COMPLETING": JobState.RUNNING, "RESIZING": JobState.RUNNING,
    "SIGNALING": JobState.RUNNING, "STAGE_OUT": JobState.RUNNING, "STOPPED": JobState.RUNNING,
    "SUSPENDED": JobState.RUNNING, "UPDATE_DB": JobState.RUNNING,
    "COMPLETED": JobState.COMPLETED,
    "FAILED": JobState.FAILED, "SPECIAL_EXIT": JobState.FAILED,
    "CANCELLED": JobState.CANCELLED, "REVOKED": JobState.CANCELLED,
    "TIMEOUT": JobState.TIMEOUT, "DEADLINE": JobState.TIMEOUT,
    "OUT_OF_MEMORY": JobState.OUT_OF_MEMORY,
    "NODE_FAIL": JobState.NODE_FAIL, "BOOT_FAIL": JobState.NODE_FAIL,
    "PREEMPTED": JobState.PREEMPTED,
}
# squeue's compact codes (%t), in case a site's squeue format gives them.
COMPACT = {"PD": "PENDING", "R": "RUNNING", "CG": "COMPLETING", "CD": "COMPLETED", "CF": "CONFIGURING",
           "F": "FAILED", "CA": "CANCELLED", "TO": "TIMEOUT", "OOM": "OUT_OF_MEMORY", "NF": "NODE_FAIL",
           "PR": "PREEMPTED", "BF": "BOOT_FAIL", "DL": "DEADLINE", "RQ": "REQUEUED", "RH": "REQUEUE_HOLD",
           "RF": "REQUEUE_FED", "RD": "RESV_DEL_HOLD", "RS": "RESIZING", "RV": "REVOKED",
           "SI": "SIGNALING", "SE": "SPECIAL_EXIT", "SO": "STAGE_OUT", "ST": "STOPPED", "S": "SUSPENDED"}


def map_state(text: str) -> JobState | None:
    """'CANCELLED by 0' -> CANCELLED; unknown words -> None."""
    word = (text or "").strip().split(" ")[0].rstrip("+").upper()
    word = COMPACT.get(word, word)
    return SLURM_STATES.get(word)


def parse_exit(text: str) -> int | None:
    """SLURM's 'code:signal' -> a shell-style exit code (128 + signal when signalled)."""
    try:
        code, _, sig = (text or "").partition(":")
        code_i, sig_i = int(code), int(sig or 0)
    except ValueError:
        return None
    return 128 + sig_i if sig_i else code_i


def parse_squeue(text: str) -> dict[str, dict]:
    """`squeue -h -o '%i|%j|%T|%r'` -> {job name: {id, state, reason}}."""
    out = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) >= 3:
            out[parts[1]] = {"id": parts[0], "state": parts[2], "reason": parts[3] if len(parts) > 3 else ""}
    return out


def parse_scontrol(text: str) -> dict[str, dict]:
    """`scontrol -o show job` lines -> {job name: {id, state, reason, exit}}."""
    out = {}
    for line in text.splitlines():
        fields = {}
        for tok in line.split():
            k, sep, v = tok.partition("=")
            if sep and k not in fields:
                fields[k] = v
        if "JobId" in fields and "JobName" in fields:
            out[fields["JobName"]] = {"id": fields["JobId"], "state": fields.get("JobState", ""),
                                      "reason": fields.get("Reason", ""), "exit": fields.get("ExitCode", "")}
    return out


def parse_sacct(text: str) -> dict[str, dict]:
    """`sacct -n -P -X -o JobID,JobName,State,ExitCode` -> {job name: {...}} (last wins)."""
    out = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) >= 4:
            out[parts[1]] = {"id": parts[0], "state": parts[2], "exit": parts[3], "reason": ""}
    return out
