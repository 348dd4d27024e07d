"""The console script and ``python -m mcp_session_recovery``: help, version, bad arguments, missing extras."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from subprocess import DEVNULL

import pytest

from mcp_session_recovery import __version__
from mcp_session_recovery.cli import COMMANDS

from .support import ROOT, _env, run_cli


def test_pyproject_declares_the_console_script_as_cli_main() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["scripts"] == {"mcp-session-recovery": "mcp_session_recovery.cli:main"}
    assert "demo" in project["optional-dependencies"]


@pytest.mark.parametrize("script", [False, True], ids=["python -m", "console script"])
def test_help_lists_every_command(script: bool) -> None:
    result = run_cli(["--help"], script=script)
    assert result.returncode == 0
    prog = "mcp-session-recovery" if script else "python -m mcp_session_recovery"
    assert result.stdout.startswith(f"usage: {prog}")
    for name, _, summary in COMMANDS:
        assert name in result.stdout
        assert summary.split()[0] in result.stdout


@pytest.mark.parametrize("script", [False, True], ids=["python -m", "console script"])
def test_version(script: bool) -> None:
    result = run_cli(["--version"], script=script)
    assert result.returncode == 0
    assert result.stdout.strip().endswith(__version__)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ([], "required: COMMAND"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["demo", "--era", "future"], "invalid choice: 'future'"),
        (["diagrams", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        (["doctor"], "required: url"),
        (["doctor", "http://127.0.0.1:9/mcp", "--header", "no colon here"], "--header takes 'Name: value'"),
        (["doctor", "ftp://example.org/"], "must be an http:// or https:// address"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args: list[str], words: str) -> None:
    result = run_cli(args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert words in lines[0]


def test_the_console_script_refuses_bad_arguments_the_same_way() -> None:
    result = run_cli(["frobnicate"], script=True)
    assert result.returncode == 2
    choices = ", ".join(repr(name) for name, _, _ in COMMANDS)
    assert result.stderr.splitlines() == [
        f"mcp-session-recovery: error: argument COMMAND: invalid choice: 'frobnicate' (choose from {choices})"
        " (see mcp-session-recovery --help)"
    ]


@pytest.mark.parametrize("name", [name for name, _, _ in COMMANDS])
def test_each_command_has_help(name: str) -> None:
    result = run_cli([name, "--help"])
    assert result.returncode == 0
    assert result.stdout.startswith(f"usage: python -m mcp_session_recovery {name}")


def test_top_level_help_imports_no_command_module() -> None:
    code = (
        "import sys\n"
        "from mcp_session_recovery.cli import build_parser\n"
        "build_parser(['--help'])\n"
        "print(sorted(m for m in sys.modules if m.startswith('mcp_session_recovery.cli.')"
        " or m in ('mcp', 'httpx2', 'graphviz')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(None), timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("argv", "hidden", "extra"),
    [
        (["demo"], "mcp", "demo"),
        (["demo"], "h11", "demo"),
        (["doctor", "http://127.0.0.1:9/mcp"], "httpx2", "cli"),
        (["proxy", "http://127.0.0.1:9/mcp", "--listen", "127.0.0.1:0"], "uvicorn", "cli"),
        (["proxy", "http://127.0.0.1:9/mcp", "--listen", "127.0.0.1:0"], "httpx2", "cli"),
        (["stdio", "http://127.0.0.1:9/mcp"], "httpx2", "cli"),
        (["diagrams", "--out", "{tmp}"], "graphviz", "diagrams"),
    ],
)
def test_a_missing_optional_package_is_one_line_naming_the_commands_extra(
    argv: list[str], hidden: str, extra: str, tmp_path: Path
) -> None:
    # Hide the package from the command as if the extra were not installed.
    code = (
        "import sys\n"
        "class Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name == {hidden!r} or name.startswith({hidden + '.'!r}):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "from mcp_session_recovery.cli import main\n"
        f"sys.exit(main({[word.format(tmp=tmp_path) for word in argv]!r}))\n"
    )
    command = [sys.executable, "-c", code]
    result = subprocess.run(command, capture_output=True, text=True, env=_env(None), timeout=30, stdin=DEVNULL)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert f"{hidden!r} is not installed" in lines[0]
    assert f"pip install 'mcp-session-recovery[{extra}]'" in lines[0]


def test_ci_runs_every_command_of_the_readmes_try_it_as_written() -> None:
    """Every command block of "Try it" (the virtual environment, the demo, the tests) is a line of
    ``.ci/run``, in the same order, with nothing but pip's ``-q`` added, and nothing of Python runs
    before the environment is made; the clone is prose (CI runs on one already)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    try_it = readme.split("\n## Try it\n")[1].split("\n## ")[0]
    blocks = re.findall(r"```(\w*)\n(.*?)```", try_it, flags=re.DOTALL)
    assert {language for language, _ in blocks} == {"sh"}, "every block of Try it is a shell block CI runs"
    commands = [line for _, block in blocks for line in block.splitlines() if line and not line.startswith("#")]
    assert commands == [
        "python3 -m venv .venv && . .venv/bin/activate",
        "pip install -e '.[demo]' && mcp-session-recovery demo",
        "pip install -e '.[dev]' && python -m pytest",
    ]
    ci = [line.replace("pip install -q ", "pip install ") for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    positions = [ci.index(command) for command in commands]
    assert positions == sorted(positions)
    python = [i for i, line in enumerate(ci) if line.startswith(("pip ", "python ", "ruff ", "mypy", ".ci/"))]
    assert positions[0] < min(python), "everything after the virtual environment runs in it"
    assert "git clone" not in try_it.replace("install from a clone", "")
