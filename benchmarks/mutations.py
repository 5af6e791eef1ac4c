"""A small, repeatable mutation check: do the tests catch these hand-written faults?

Each mutation (``benchmarks/mutation_list.py``) names a file under ``src/handvae``, an exact piece of
its text (which must occur exactly once), its replacement, the tests to run and what the fault is. For
each one, ``src/`` is copied into a temporary folder, the fault is written into the copy (the real
``src/`` is never touched), and the tests run with ``PYTHONPATH`` pointing at the copy, so that ``import
handvae`` there is the mutant; a small pytest plugin checks, after collection, that the imported
``handvae`` is the copy's (torchrun children inherit the same ``PYTHONPATH``). The verdict per mutation:

- ``caught``: the tests fail on the mutant (pytest exit code 1);
- ``missed``: the tests pass on the mutant, a blind spot;
- ``error``: the original text is not in the file any more (the code moved on: update the mutation),
  the copy was not what got imported, the tests could not run (exit codes 2-5) or timed out.

``--baseline`` first runs every listed test on an unmutated copy, which must pass (a test that fails
anyway "catches" everything). Examples::

    python benchmarks/mutations.py                   # every mutation, then the summary
    python benchmarks/mutations.py --list            # the mutations, without running anything
    python benchmarks/mutations.py --only rhd-rows crop-margin --baseline

The tests are run with ``-x`` (the first failure decides), ``-p no:cacheprovider`` and the
interpreter running this script (use the project's ``.venv/bin/python``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mutation_list import MUTATIONS, Mutation  # the faults

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"


_PLUGIN = '''
import os
import sys


def pytest_collection_finish(session):
    mod = sys.modules.get("handvae")
    if mod is None:
        import handvae as mod
    want = os.path.realpath(os.environ["HANDVAE_MUTANT_SRC"])
    got = os.path.realpath(mod.__file__)
    if not got.startswith(want + os.sep):
        with open(os.environ["HANDVAE_MUTANT_FLAG"], "w") as fh:
            fh.write(got)
        raise SystemExit(f"mutation check: imported handvae from {got}, not from the copy in {want}")
'''


def copy_src(dest: Path) -> Path:
    """A copy of the real src/ under ``dest`` (no caches); returns the copy's src folder."""
    out = dest / "src"
    shutil.copytree(SRC, out, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    return out


def apply(mutation: Mutation, src_copy: Path) -> str | None:
    """Write the fault into the copy; returns an error message when the original text is not there once."""
    path = src_copy / "handvae" / mutation.file
    if not path.is_file():
        return f"{mutation.file}: no such file"
    text = path.read_text()
    n = text.count(mutation.original)
    if n != 1:
        return f"{mutation.file}: the original text occurs {n} times (expected once)"
    path.write_text(text.replace(mutation.original, mutation.replacement))
    return None


def run_tests(src_copy: Path, tests: tuple[str, ...], work: Path, timeout: float) -> tuple[str, str]:
    """Run ``tests`` against the copy; returns (verdict, detail) with verdict in caught | missed | error."""
    (work / "plugin").mkdir(exist_ok=True)
    (work / "plugin" / "handvae_mutant_check.py").write_text(_PLUGIN)
    flag = work / "wrong_import.txt"
    flag.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "HANDVAE_MUTANT_SRC": str(src_copy),
           "HANDVAE_MUTANT_FLAG": str(flag)}
    env["PYTHONPATH"] = os.pathsep.join([str(src_copy), str(work / "plugin"),
                                         *filter(None, [os.environ.get("PYTHONPATH")])])
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-p", "handvae_mutant_check",
           "--basetemp", str(work / "pytest"), *tests]
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "error", f"timed out after {timeout:.0f} s"
    tail = [ln for ln in proc.stdout.strip().splitlines() if ln.strip()]
    last = tail[-1] if tail else proc.stderr.strip()[-300:]
    if flag.exists():
        return "error", f"the copy was not imported (handvae came from {flag.read_text()})"
    if proc.returncode == 0:
        return "missed", last
    if proc.returncode == 1:
        failed = next((ln for ln in tail if ln.startswith("FAILED ")), last)
        return "caught", failed
    return "error", f"pytest exit code {proc.returncode}: {last}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", nargs="*", default=[], metavar="NAME", help="run only these mutations")
    p.add_argument("--list", action="store_true", help="list the mutations and exit")
    p.add_argument("--baseline", action="store_true", help="first check that the listed tests pass unmutated")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per pytest run (default 900)")
    p.add_argument("--keep", action="store_true", help="keep the temporary copies (their paths are printed)")
    p.add_argument("--tests", nargs="*", default=None, metavar="TEST",
                   help="run these tests (paths or node ids) instead of each mutation's own")
    args = p.parse_args(argv)

    unknown = sorted(set(args.only) - {m.name for m in MUTATIONS})
    if unknown:
        p.error(f"unknown mutation(s) {unknown}; --list shows them")
    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only]
    if args.tests:
        chosen = [dataclasses.replace(m, tests=tuple(args.tests)) for m in chosen]
    if args.list:
        for m in chosen:
            print(f"{m.name:22s} {m.file:22s} {m.description}\n{'':22s} tests: {' '.join(m.tests)}")
        return 0

    root = Path(tempfile.mkdtemp(prefix="handvae_mutations_"))
    try:
        if args.baseline and not baseline_passes(chosen, root, args.timeout):
            print("the tests fail without a mutation; fix them first", file=sys.stderr)
            return 2
        results = [run_mutation(m, root, args.timeout, args.keep) for m in chosen]
    finally:
        if args.keep:
            print(f"copies kept under {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return summarise(results)


def baseline_passes(chosen: list[Mutation], root: Path, timeout: float) -> bool:
    """Run every test the chosen mutations name on an unmutated copy; True when they all pass."""
    tests = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
    work = root / "baseline"
    work.mkdir()
    t0 = time.perf_counter()
    verdict, detail = run_tests(copy_src(work), tests, work, timeout)
    ok = verdict == "missed"  # nothing mutated: the tests must pass
    print(f"baseline ({len(tests)} test path(s), {time.perf_counter() - t0:.0f} s): "
          f"{'pass' if ok else 'FAIL'}: {detail}", flush=True)
    return ok


def run_mutation(m: Mutation, root: Path, timeout: float, keep: bool) -> tuple[Mutation, str, float]:
    """Apply ``m`` to a fresh copy of the sources and run its tests: (mutation, verdict, seconds)."""
    work = root / m.name
    work.mkdir()
    copy = copy_src(work)
    t0 = time.perf_counter()
    problem = apply(m, copy)
    verdict, detail = ("error", problem) if problem else run_tests(copy, m.tests, work, timeout)
    seconds = time.perf_counter() - t0
    print(f"{verdict:6s} {m.name:22s} ({seconds:4.0f} s) {m.description}\n       {detail}", flush=True)
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return m, verdict, seconds


def summarise(results: list[tuple[Mutation, str, float]]) -> int:
    """Print the counts and every mutation not caught; exit status 0 only when all were caught."""
    counts = {v: sum(1 for _, verdict, _ in results if verdict == v) for v in ("caught", "missed", "error")}
    print(f"\nsummary: {counts['caught']} of {len(results)} mutations caught, {counts['missed']} missed, "
          f"{counts['error']} errors ({sum(s for *_, s in results):.0f} s)")
    for m, verdict, _ in results:
        if verdict != "caught":
            print(f"  {verdict}: {m.name} ({m.description})")
    return 0 if counts["caught"] == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
