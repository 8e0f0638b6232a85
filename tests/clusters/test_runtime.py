"""Jobs inside a container runtime: a real bubblewrap job, and the generated command lines of
docker and apptainer (Apptainer is not packaged for Debian 12; Docker's engine is not needed
to check what would run)."""
from __future__ import annotations

import pytest

from rigorlab.core.errors import UserError

from rigorlab.tools.jobs import dispatch
from rigorlab.clusters.dispatcher import JobRequest
from rigorlab.clusters.model import JobState
from tests.conftest import require_service


def launch_argv(job) -> list[str]:
    """The runtime command line the wrapper runs (launch0: NUL-terminated arguments)."""
    return (job.job_dir / "launch0").read_text().split("\0")[:-1]


def test_a_bwrap_job_sees_only_the_workspace_and_its_folder(make_dispatcher, workspace):
    require_service("podman")          # tests/services/podman.sh installs bubblewrap
    (workspace / "in.txt").write_text("data\n")
    beside = workspace.parent / "host-only.txt"
    beside.write_text("on the host\n")
    d = make_dispatcher()
    job = dispatch(d, JobRequest.of(command=f'cat in.txt; cat {beside} 2>&1 | head -1; touch /usr/x 2>/dev/null '
                              '|| echo ro; echo \'{"a": 1}\' > "$RIGORLAB_METRICS_FILE"; '
                              'echo made > out.txt', cwd=workspace, runtime="bwrap",
                              experiment_id="E005"))
    job = d.wait(job.id, 30)
    assert (job.state, job.exit_code) == (JobState.COMPLETED, 0), d.logs(job.id, "stderr").text
    out = d.logs(job.id).text.splitlines()
    assert out[0] == "data" and "No such file" in out[1] and out[2] == "ro"
    assert job.metrics_file.read_text() == '{"a": 1}\n'
    assert (workspace / "out.txt").read_text() == "made\n"
    assert launch_argv(job)[0] == "bwrap" and "bwrap" not in (job.job_dir / "wrapper.sh").read_text()


def test_docker_and_apptainer_command_lines(make_dispatcher, workspace):
    d = make_dispatcher()
    for runtime, image, expect in (
            ("docker", "lab:1", ["docker", "run", "--gpus", '"device=0"', "lab:1"]),
            ("apptainer", "/images/lab.sif", ["apptainer", "exec", "--nv",
                                              "APPTAINERENV_CUDA_VISIBLE_DEVICES=0", "/images/lab.sif"])):
        job = dispatch(d, JobRequest.of(command="nvidia-smi -L", cwd=workspace, runtime=runtime, image=image))
        job = d.wait(job.id, 30)
        argv = launch_argv(job)
        assert all(x in argv for x in expect), argv
        from rigorlab.clusters.backends.local import rigorlab_paths
        mounts = " ".join(argv)
        assert str(workspace) in mounts and str(job.job_dir) in mounts
        for p in rigorlab_paths():    # rigorlab's interpreter and source, read-only
            assert f"{p}:{p}:ro" in mounts or f"source={p},target={p},readonly" in mounts
            mounts = mounts.replace(p, "")
        assert "/root" not in mounts.replace(str(job.job_dir), "").replace(str(workspace), "")
        assert argv[-2:] == ["bash", str(job.job_dir / "command.sh")]
        assert job.state in (JobState.FAILED, JobState.COMPLETED), "it ran the runtime for real"


def test_runtime_precedence(make_dispatcher, workspace, monkeypatch):
    from rigorlab.clusters.dispatcher import JobRequest as R
    d = make_dispatcher('[defaults]\nruntime = "podman"\n[local]\ngpus = 1\n[nodes.n]\nhost = "h"\n'
                        'runtime = "apptainer"\n')
    local, node = d.backend("local"), d.backend("n")
    assert d.runtime_for(R.of(command="x", cwd=workspace), local) == "podman"
    assert d.runtime_for(R.of(command="x", cwd=workspace), node) == "apptainer"
    assert d.runtime_for(R.of(command="x", cwd=workspace, runtime="bwrap"), node) == "bwrap"
    plain = make_dispatcher("[local]\ngpus = 1\n")
    monkeypatch.setenv("RIGORLAB_JOB_RUNTIME", "docker")
    assert plain.runtime_for(R.of(command="x", cwd=workspace), plain.backend("local")) == "docker"
    assert d.runtime_for(R.of(command="x", cwd=workspace), local) == "docker", "the sandbox wins over [defaults]"
    assert d.runtime_for(R.of(command="x", cwd=workspace, runtime="docker"), local) == "docker"
    for escape in ("bare", "bwrap"):
        with pytest.raises(UserError, match="omit runtime"):
            d.runtime_for(R.of(command="x", cwd=workspace, runtime=escape), local)
    assert d.runtime_for(R.of(command="x", cwd=workspace), node) == "apptainer", "remote targets keep their own"
    monkeypatch.delenv("RIGORLAB_JOB_RUNTIME")
    from rigorlab.sandbox.available import bwrap_usable
    assert plain.runtime_for(R.of(command="x", cwd=workspace), plain.backend("local")) == \
        ("bwrap" if bwrap_usable()[0] else "bare"), "local jobs are sandboxed by default"


def test_a_bwrap_job_gets_its_gpus_as_a_bare_one_does(make_dispatcher, workspace):
    """Same CUDA_VISIBLE_DEVICES as a bare job (UUIDs or MIG ids included), in PCI bus order
    (nvidia-smi's indices), and the GPU device nodes bound."""
    d = make_dispatcher('[local]\ngpus = ["GPU-aaaa", "3"]\n')
    show = 'echo "$CUDA_VISIBLE_DEVICES|$CUDA_DEVICE_ORDER"'
    jobs = [dispatch(d, JobRequest.of(command=show, cwd=str(workspace), gpus=1, runtime=rt))
            for rt in ("bwrap", "bare")]
    done = [d.wait(j.id, 30) for j in jobs]
    assert [j.runtime for j in done] == ["bwrap", "bare"]
    seen = [d.logs(j.id).text for j in done]
    assert seen == [f"{j.assigned[0]}|PCI_BUS_ID\n" for j in done], seen
    assert "/dev/nvidiactl" in launch_argv(done[0])
