"""docs/cli.md and --help: every kind, option and recipe, held to the parser and the table."""
import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from aigc_np.cli import OPTIONS, build_parser
from aigc_np.cli.docs import MARKER, reference_markdown
from aigc_np.kinds import KINDS

ROOT = Path(__file__).resolve().parents[1]


def subparsers():
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return parser, action.choices


def test_docs_cli_md_is_what_the_parser_and_the_table_make():
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert MARKER in text, "docs/cli.md lost its marker"
    assert text.split(MARKER, 1)[1].strip() == reference_markdown().strip(), \
        "docs/cli.md differs from the command line: run python -m aigc_np.cli.docs --write"


def test_the_docs_name_every_kind_option_and_recipe():
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    _, commands = subparsers()
    for name, sub in commands.items():
        for action in sub._actions:
            for flag in action.option_strings:
                if flag not in ("-h", "--help"):
                    assert f"`{flag}" in text, (name, flag)
    for kind in KINDS.values():
        assert f"### `{kind.name}`" in text
        for recipe in kind.recipes:
            assert f"`--recipe {recipe}`" in text, (kind.name, recipe)


def test_every_option_at_every_level_has_a_help_line():
    parser, commands = subparsers()
    for p in (parser, *commands.values()):
        for action in p._actions:
            assert action.help and action.help.strip(), (p.prog, action.option_strings or action.dest)
    assert len({o.flag for o in OPTIONS}) == len(OPTIONS), "an option is declared twice"


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["sample", "--help"], ["evaluate", "--help"]])
def test_help_is_plain_text_at_every_level(argv):
    out = subprocess.run([sys.executable, "-m", "aigc_np", *argv], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.isascii() and "\x1b" not in out.stdout
    assert "usage:" in out.stdout
