"""Commands as the README writes them work from a fresh shell, and every subcommand says what it does."""
from __future__ import annotations

import os
import re
import subprocess

import pytest

from autograder.cli import parser
from autograder.pipeline.course import ROOT

SUBCOMMANDS = list(next(a for a in parser()._actions if a.dest == "command").choices)


def _help(name: str) -> str:
    sub = next(a for a in parser()._actions if a.dest == "command").choices[name]
    return sub.format_help()


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_has_a_one_line_description(name):
    sub = next(a for a in parser()._actions if a.dest == "command").choices[name]
    assert sub.description and "\n" not in sub.description.strip()


@pytest.mark.parametrize("name, has_out", [(n, n in ("export", "grade-all")) for n in SUBCOMMANDS])
def test_out_is_offered_only_where_it_writes_files(name, has_out):
    assert bool(re.search(r"--out\b", _help(name))) == has_out


def test_collect_help_names_the_readme_layout():
    text = " ".join(_help("collect").split())
    readme = (ROOT / "README.md").read_text()
    layout = "PATH/<student>/<assignment>/**"
    assert layout in text and layout in readme and "Canvas" in text and "Moodle" in text


def test_readme_commands_use_the_virtualenv():
    readme = (ROOT / "README.md").read_text()
    bare = re.findall(r"(?m)^(?!\.venv/bin/)\S*python3? -m autograder", readme)
    inline = re.findall(r"(?<![/\w])`python3? -m autograder", readme)
    assert bare == [] and inline == []


def test_the_readme_command_runs_from_a_fresh_shell():
    """No virtualenv on PATH, no PYTHONPATH: just the command as written, from the repository root."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = "/usr/bin:/bin"
    done = subprocess.run([".venv/bin/python", "-m", "autograder", "export", "--help"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--pending" in done.stdout
