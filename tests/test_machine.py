"""What a run and a benchmark record of the machine: CPU model, flags, native bfloat16, and the trainer's
warning for bfloat16 on a CPU that only emulates it."""

from __future__ import annotations

import json
import os
import warnings

import pytest
import torch

from conftest import tiny_overrides
from handvae import machine
from handvae.config import load_config
from handvae.schema import Config
from handvae.train.trainer import Trainer, cpu_bf16_warning

# the first processor's lines of /proc/cpuinfo on three kinds of machine (abridged; the rest repeats per core)
XEON = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Processor @ 2.50GHz
flags\t\t: fpu sse2 avx avx2 avx512f avx512dq avx512bw avx512vl
processor\t: 1
model name\t: Intel(R) Xeon(R) Processor @ 2.50GHz
flags\t\t: fpu sse2 avx avx2 avx512f avx512dq avx512bw avx512vl
"""
EPYC = """processor\t: 0
model name\t: AMD EPYC 9B14
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni
"""
ARM = """processor\t: 0
BogoMIPS\t: 2000.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics bf16 i8mm
CPU part\t: 0xd4f
"""


@pytest.mark.parametrize(("text", "model", "bf16"), [
    (XEON, "Intel(R) Xeon(R) Processor @ 2.50GHz", False),
    (EPYC, "AMD EPYC 9B14", True),
    (ARM, "0xd4f", True),
])
def test_model_and_native_bf16_from_cpuinfo(text, model, bf16):
    assert machine.cpu_model(text) == model
    assert machine.native_bf16(text) is bf16
    assert machine.describe(text) == {"cpu": model, "cores": os.cpu_count(), "native_bf16": bf16}


def test_flags_are_the_first_processors_and_unknown_without_cpuinfo():
    assert machine.cpu_flags(XEON) == {"fpu", "sse2", "avx", "avx2", "avx512f", "avx512dq", "avx512bw", "avx512vl"}
    assert machine.cpu_flags("") is None and machine.native_bf16("") is None
    xeon = "Intel(R) Xeon(R) Processor @ 2.50GHz"
    assert machine.summary(XEON) == f"machine: {xeon}, {os.cpu_count()} cores, native bf16 no"
    assert machine.summary(EPYC).endswith("native bf16 yes")
    assert machine.read_cpuinfo(machine.Path("/nonexistent/cpuinfo")) == ""


@pytest.mark.parametrize(("amp", "device", "text", "warns"), [
    ("bf16", "cpu", XEON, True),     # emulated: the one case that warns
    ("bf16", "cpu", EPYC, False),    # native
    ("bf16", "cpu", "", False),      # flags unknown (not Linux): no claim either way
    ("off", "cpu", XEON, False),
    ("auto", "cpu", XEON, False),    # auto stays float32 on the CPU
    ("bf16", "cuda", XEON, False),   # the CPU's flags say nothing about a GPU
])
def test_cpu_bf16_warning_only_where_bf16_is_emulated(amp, device, text, warns):
    msg = cpu_bf16_warning(amp, torch.device(device), text)
    if warns:
        assert "trainer.amp=bf16" in msg and "Intel(R) Xeon(R) Processor @ 2.50GHz" in msg
        assert "trainer.amp=off" in msg
    else:
        assert msg is None


@pytest.mark.parametrize(("text", "warns"), [(XEON, True), (EPYC, False)])
def test_trainer_warns_at_start_and_records_the_machine(tiny_cache, tmp_path, monkeypatch, text, warns):
    monkeypatch.setattr(machine, "read_cpuinfo", lambda path=machine.CPUINFO: text)
    cfg = load_config(Config, None, tiny_overrides(tiny_cache, tmp_path / "run",
                                                   **{"model.strategy": "S1", "trainer.amp": "bf16"}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Trainer(cfg)
    slow = [w for w in caught if "without native bfloat16" in str(w.message)]
    assert len(slow) == (1 if warns else 0)
    env = json.loads((tmp_path / "run" / "env.json").read_text())
    assert env["machine"] == machine.describe(text) and env["device_name"] == machine.cpu_model(text)
