"""`rigorlab models list|build` as a person runs them."""
from __future__ import annotations

import os
import subprocess
import sys


def rigorlab(*args, state_home) -> subprocess.CompletedProcess:
    env = dict(os.environ, RIGORLAB_STATE_HOME=str(state_home), COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "rigorlab.server", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_models_list_says_tiny_lm_needs_a_build_and_build_refuses_other_names(state_home):
    out = rigorlab("models", "list", state_home=state_home)
    assert out.returncode == 0, out.stderr
    line = next(x for x in out.stdout.splitlines() if "tiny-lm" in x)
    assert "no: rigorlab models build tiny-lm" in line
    assert "minilm" in out.stdout and "tiny-gpt2" in out.stdout
    bad = rigorlab("models", "build", "nope", state_home=state_home)
    assert bad.returncode == 2 and "the one to build is tiny-lm" in bad.stderr
    ready = rigorlab("models", "build", "minilm", state_home=state_home)
    assert ready.returncode == 2 and "needs no build" in ready.stderr
