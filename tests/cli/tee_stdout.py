"""Runs a command, copying its stdout to ours and to a file: what a stdio bridge wrote, for a test to read.

    python -m tests.cli.tee_stdout FILE COMMAND [ARG ...]

stdin and stderr are the command's own; the exit status is the command's.
"""

from __future__ import annotations

import subprocess
import sys


def main(argv: list[str]) -> int:
    target, command = argv[1], argv[2:]
    child = subprocess.Popen(command, stdout=subprocess.PIPE)
    assert child.stdout is not None
    with open(target, "ab") as copy:
        for line in iter(child.stdout.readline, b""):  # ends when the command closes its stdout
            sys.stdout.buffer.write(line)
            sys.stdout.buffer.flush()
            copy.write(line)
            copy.flush()
    return child.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
