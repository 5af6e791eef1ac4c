"""The pausable training clock: a run paused with SIGTSTP and resumed with SIGCONT does not count the pause."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

# SIGCONT is held blocked until the parent says go on, so that its handler runs only then: a continue the
# parent follows at once with a stop is then certain to be discarded, as it can be on a busy machine.
CHILD = """
import signal, sys, time
from handvae.train.clock import PausableClock
clock = PausableClock()
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCONT})
t_clock, t_wall = clock.now(), time.perf_counter()
print("ready", flush=True)
sys.stdin.readline()  # the parent pauses us in between, then says go on
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCONT})
time.sleep(0.01)
print(f"{clock.now() - t_clock:.3f} {time.perf_counter() - t_wall:.3f} {clock.paused:.3f}", flush=True)
"""


def _is_stopped(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().split(")")[1].split()[0] == "T"


@pytest.mark.skipif(not hasattr(signal, "SIGTSTP"), reason="POSIX job-control signals only")
@pytest.mark.parametrize("stops", [1, 2])
def test_a_pause_between_tstp_and_cont_is_not_counted(stops):
    """``stops=2``: the pause is resumed and stopped again at once (``kill -CONT; kill -TSTP``); the stop
    signal discards the pending SIGCONT, so the process may see two stops and one continue: the whole
    interval from the first stop still counts as paused."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        os.kill(proc.pid, signal.SIGTSTP)
        time.sleep(1.0)
        if stops == 2:  # most of the pause lies before the second stop
            os.kill(proc.pid, signal.SIGCONT)
            os.kill(proc.pid, signal.SIGTSTP)
        time.sleep(0.2)
        if os.path.exists(f"/proc/{proc.pid}/stat"):  # Linux: the process really is stopped
            assert _is_stopped(proc.pid)
        os.kill(proc.pid, signal.SIGCONT)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        clock_s, wall_s, paused = (float(v) for v in proc.stdout.readline().split())
    finally:
        proc.kill()
        proc.wait()
    assert wall_s > 1.2 and paused > 1.1
    assert clock_s == pytest.approx(wall_s - paused, abs=0.01) and clock_s < 0.3
