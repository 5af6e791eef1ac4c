"""The machine a figure was measured on: its CPU's model, core count and whether the CPU has native
bfloat16 instructions. The one home of this; a run's ``env.json``, the trainer's bfloat16 check and the
speed benchmarks read it.

Speeds differ by machine far more than between settings compared on one machine. On a 2-core Intel Xeon
(2.5 GHz, AVX-512 without BF16) the synthetic world rendered 3.3 times slower, and float32 training ran 2.1
times slower, than on the 2-core AMD EPYC with AVX512-BF16 where the project's earlier figures were
measured. bfloat16 training ran 1.34 times as fast as float32 on the EPYC, and 0.50-0.55 times as fast on
the Xeon (docs/LEARNING.md section 7). So every speed figure should say which machine gave it.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

CPUINFO = Path("/proc/cpuinfo")
# CPU feature flags that give native bfloat16 arithmetic: x86 (AVX512-BF16, AMX) and Arm (FEAT_BF16)
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def read_cpuinfo(path: Path = CPUINFO) -> str:
    """The text of ``/proc/cpuinfo`` (Linux), or ``""`` where there is none."""
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _field(cpuinfo: str, *names: str) -> str | None:
    """The value of the first ``name : value`` line whose name is one of ``names``."""
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in names:
            return value.strip()
    return None


def cpu_model(cpuinfo: str) -> str | None:
    """The CPU's model name (x86 ``model name``; Arm's ``Hardware`` or ``CPU part`` where that is missing)."""
    return _field(cpuinfo, "model name", "Hardware", "CPU part") or platform.processor() or None


def cpu_flags(cpuinfo: str) -> set[str] | None:
    """The first processor's feature flags (x86 ``flags``, Arm ``Features``); None when not listed."""
    value = _field(cpuinfo, "flags", "Features")
    return None if value is None else set(value.split())


def native_bf16(cpuinfo: str) -> bool | None:
    """Whether the CPU has native bfloat16 instructions; None when its flags cannot be read (not Linux)."""
    flags = cpu_flags(cpuinfo)
    return None if flags is None else bool(flags & BF16_FLAGS)


def describe(cpuinfo: str | None = None) -> dict[str, Any]:
    """``{"cpu": model, "cores": logical CPUs, "native_bf16": bool or None}`` of this machine."""
    info = read_cpuinfo() if cpuinfo is None else cpuinfo
    return {"cpu": cpu_model(info), "cores": os.cpu_count(), "native_bf16": native_bf16(info)}


def summary(cpuinfo: str | None = None) -> str:
    """One line for a benchmark's header, e.g. ``machine: Intel(R) Xeon(R) ..., 2 cores, native bf16 no``."""
    d = describe(cpuinfo)
    bf16 = {True: "yes", False: "no", None: "unknown"}[d["native_bf16"]]
    return f"machine: {d['cpu'] or 'unknown CPU'}, {d['cores']} cores, native bf16 {bf16}"
