"""The pausable training clock: a run paused with SIGTSTP and resumed with SIGCONT does not count the pause."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

CHILD = """
import sys, time
from handvae.train.clock import PausableClock
clock = PausableClock()
t_clock, t_wall = clock.now(), time.perf_counter()
print("ready", flush=True)
sys.stdin.readline()  # the parent pauses us in between, then says go on
print(f"{clock.now() - t_clock:.3f} {time.perf_counter() - t_wall:.3f} {clock.paused:.3f}", flush=True)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGTSTP"), reason="POSIX job-control signals only")
def test_a_pause_between_tstp_and_cont_is_not_counted():
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        os.kill(proc.pid, signal.SIGTSTP)
        time.sleep(0.2)
        if os.path.exists(f"/proc/{proc.pid}/stat"):  # Linux: the process really is stopped
            with open(f"/proc/{proc.pid}/stat") as fh:
                assert fh.read().split(")")[1].split()[0] == "T"
        time.sleep(1.0)
        os.kill(proc.pid, signal.SIGCONT)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        clock_s, wall_s, paused = (float(v) for v in proc.stdout.readline().split())
    finally:
        proc.kill()
        proc.wait()
    assert wall_s > 1.2 and paused > 1.1
    assert clock_s == pytest.approx(wall_s - paused, abs=0.01) and clock_s < 0.3
