"""Run the official MCP conformance suite's client scenarios for the plain SDK and every mode of ours.

    PYTHONPATH=$PWD python -m tests.official_suite [--mode M ...] [--scenario S ...] [--jobs N]

The ``plain-sdk1`` and ``sdk1`` columns run the SDK's 1.x line with the interpreter of the second
environment that ``nox -s sdk1`` builds (``.nox/sdk1/bin/python``, or ``$MCP_SDK1_PYTHON``).

Installs the pinned suite first (``.ci/install-official-suite``: npm, cached in ``.ci/.node/``),
runs every (scenario, mode) pair as its own suite process, several at a time, each bounded by a
timeout, judges each run (:mod:`.results`), prints the table scenario x mode and writes it as JSON
(``--json``, default ``.ci/.official-suite/results.json``). Exits 1 when a scenario the plain SDK
passes fails in some mode (each mode is held to its yardstick, ``plain`` or, for ``sdk1``,
``plain-sdk1``, when that runs too) and the cell is not listed in ``modes.PENDING`` with the issue
that fixes it, or when a listed cell passes (a stale entry); 2 when the suite cannot be installed or
run or a scenario is unknown; 0 otherwise. No pytest test runs this: it needs
Node and npm (``test_results.py`` checks the judging without them).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .modes import MODE_DESCRIPTIONS, MODES, PENDING, SDK1_MODES, YARDSTICKS, gaps
from .results import (
    Outcome,
    judge,
    new_warnings,
    outcome_to_json,
    pending_reason,
    regressions,
    render_table,
    scenarios_from_listing,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL = REPO_ROOT / ".ci" / "install-official-suite"
VERSIONS = REPO_ROOT / ".ci" / "official-suite-versions"
SUITE = REPO_ROOT / ".ci" / ".node" / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
DEFAULT_OUT = REPO_ROOT / ".ci" / ".official-suite"
#: The client's own limit inside the suite (its default); the runner kills a run this much later.
CLIENT_TIMEOUT_MS = 30_000
KILL_MARGIN_SECONDS = 30.0
#: The SDK 1.x environment's interpreter (``nox -s sdk1`` makes it); ``$MCP_SDK1_PYTHON`` overrides.
SDK1_PYTHON = REPO_ROOT / ".nox" / "sdk1" / "bin" / "python"


def sdk1_python() -> str:
    return os.environ.get("MCP_SDK1_PYTHON") or str(SDK1_PYTHON)


def sdk_version(python: str) -> str:
    """The ``mcp`` version ``python`` imports."""
    code = "import importlib.metadata as m; print(m.version('mcp'))"
    try:
        done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    except OSError:  # no such interpreter
        return "?"
    return done.stdout.strip() if done.returncode == 0 else "?"


def pinned_versions() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in VERSIONS.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            pins[name.strip()] = value.strip()
    return pins


def install() -> str:
    """Install (or find cached) the pinned suite; the Node binary to run it with."""
    done = subprocess.run([str(INSTALL)], capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise SystemExit(f"official suite: install failed ({done.returncode}):\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1]


def list_scenarios(node: str) -> list[tuple[str, tuple[str, ...]]]:
    done = subprocess.run(
        [node, str(SUITE), "list", "--client"], capture_output=True, text=True, timeout=60, check=True
    )
    return scenarios_from_listing(done.stdout)


def client_command(mode: str) -> str:
    # The suite splits the command on spaces and appends the server URL.
    python, module = (sdk1_python(), "tests_sdk1.suite_client") if mode in SDK1_MODES else (sys.executable, "")
    module = module or "tests.official_suite.client"
    if " " in python:
        raise SystemExit(f"official suite: the suite splits its --command on spaces: {python!r} has one")
    return f"{python} -m {module} --mode {mode}"


def run_one(node: str, scenario: str, mode: str, out: Path) -> Outcome:
    """One suite process for one (scenario, mode); killed with its children if it overruns."""
    directory = out / "runs" / mode / scenario.replace("/", "__")
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    argv = [node, str(SUITE), "client", "--command", client_command(mode), "--scenario", scenario]
    argv += ["-o", str(directory), "--timeout", str(CLIENT_TIMEOUT_MS)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "NO_COLOR": "1"}
    started = time.monotonic()
    # A session of its own: on overrun the whole group (suite, shell, client, bridge) is ended.
    process = subprocess.Popen(
        argv,
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=CLIENT_TIMEOUT_MS / 1000 + KILL_MARGIN_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate(timeout=30)
        output += "\nCLIENT TIMED OUT (the runner killed the suite process)"
    seconds = time.monotonic() - started
    (directory / "suite-output.txt").write_text(output)
    found = sorted(directory.rglob("checks.json"))
    checks = json.loads(found[-1].read_text()) if found else []
    client_stderr = (
        (found[-1].parent / "stderr.txt").read_text() if found and (found[-1].parent / "stderr.txt").exists() else ""
    )
    return judge(scenario, mode, checks, output, client_stderr, seconds=seconds, gaps=gaps(mode))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.official_suite", description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", action="append", choices=MODES, help="a mode to run (repeatable; default all)")
    parser.add_argument("--scenario", action="append", help="a client scenario to run (repeatable; default all)")
    parser.add_argument("--jobs", type=int, default=4, help="suite processes at a time (default 4)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where each run's results go")
    parser.add_argument("--json", type=Path, default=None, help="the table as JSON (default OUT/results.json)")
    args = parser.parse_args(argv)
    modes = [m for m in MODES if m in (args.mode or MODES)]
    started = time.monotonic()
    versions = {"2.x": sdk_version(sys.executable)}
    if any(mode in SDK1_MODES for mode in modes):
        versions["1.x"] = sdk_version(sdk1_python())
        if not versions["1.x"].startswith("1."):
            print(
                f"official suite: no SDK 1.x environment at {sdk1_python()}: run `nox -s sdk1` first"
                " (or leave the 1.x columns out with --mode)",
                file=sys.stderr,
            )
            return 2
    node = install()
    listed = list_scenarios(node)
    if not listed:
        print("official suite: the suite listed no client scenarios", file=sys.stderr)
        return 2
    unknown = sorted(set(args.scenario or ()) - {name for name, _ in listed})
    if unknown:
        print(f"official suite: no such client scenario: {', '.join(unknown)}", file=sys.stderr)
        return 2
    scenarios = [name for name, _ in listed if not args.scenario or name in args.scenario]
    pairs = [(scenario, mode) for scenario in scenarios for mode in modes]
    print(f"official suite: {len(scenarios)} scenarios x {len(modes)} modes, {args.jobs} at a time", file=sys.stderr)
    outcomes: list[Outcome] = []
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for outcome in pool.map(lambda pair: run_one(node, pair[0], pair[1], args.out), pairs):
            verdict = "pass" if outcome.passed else "FAIL"
            print(f"  {outcome.scenario} / {outcome.mode}: {verdict} ({outcome.seconds:.1f} s)", file=sys.stderr)
            outcomes.append(outcome)
    wall = time.monotonic() - started
    pins = pinned_versions()
    sys.stderr.flush()
    sdks = f"mcp {versions['2.x']}" + (
        f", and mcp {versions['1.x']} for {' and '.join(SDK1_MODES)}" if "1.x" in versions else ""
    )
    print(f"\nOfficial MCP conformance suite {pins['CONFORMANCE_VERSION']}, client scenarios, {sdks}:\n")
    print(render_table(outcomes, scenarios, modes))
    for mode in modes:
        for gap in gaps(mode):
            print(f"- {mode} ran without: {gap}")
    yardsticks = {mode: yardstick for mode, yardstick in YARDSTICKS.items() if yardstick in modes}
    for outcome, warning in new_warnings(outcomes, yardsticks=yardsticks):
        print(f"- new warning in {outcome.mode} ({outcome.scenario}): {warning.id}: {warning.description}")
    failing = regressions(outcomes, yardsticks=yardsticks)
    reasons = {(o.scenario, o.mode): pending_reason(o, PENDING) for o in failing}
    known = [o for o in failing if reasons[(o.scenario, o.mode)] is not None]
    unexpected = [o for o in failing if reasons[(o.scenario, o.mode)] is None]
    for reason in sorted({r for r in reasons.values() if r is not None}):
        print(f"- pending ({sum(1 for r in reasons.values() if r == reason)} cells): {reason}")
    stale = [o for o in outcomes if o.passed and pending_reason(o, PENDING) is not None]
    for outcome in stale:
        print(f"- STALE pending entry: {outcome.scenario} / {outcome.mode} passes now; remove it from PENDING")
    print(
        f"\nwall time {wall:.0f} s; {len(failing)} cells fail a scenario the plain SDK passes"
        f" ({len(known)} pending, {len(unexpected)} not)"
    )
    report = {
        "suite": "@modelcontextprotocol/conformance",
        "versions": {**pins, **{f"MCP_{line}": version for line, version in versions.items()}},
        "modes": {mode: MODE_DESCRIPTIONS[mode] for mode in modes},
        "scenarios": [
            {"name": name, "spec_versions": list(versions)} for name, versions in listed if name in scenarios
        ],
        "outcomes": [outcome_to_json(o) for o in outcomes],
        "regressions": [
            {"scenario": o.scenario, "mode": o.mode, "reason": o.reason, "pending": pending_reason(o, PENDING)}
            for o in failing
        ],
        "wall_seconds": round(wall, 1),
        "jobs": args.jobs,
    }
    target = args.json or args.out / "results.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {target}", file=sys.stderr)
    return 1 if unexpected or stale else 0


if __name__ == "__main__":
    sys.exit(main())
