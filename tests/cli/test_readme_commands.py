"""README's code blocks as a new user copies them: every `hsi ...` line parses, every Python block runs."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from hsi_app.cli.main import cli

README = Path(__file__).resolve().parents[2] / "README.md"


def _blocks(lang: str) -> list[tuple[int, str]]:
    """README's fenced blocks of ``lang``: ``(first line number, text)``."""
    lines = README.read_text(encoding="utf-8").splitlines()
    out: list[tuple[int, str]] = []
    start: int | None = None
    for i, line in enumerate(lines, 1):
        if start is None and line.strip() == f"```{lang}":
            start = i + 1
        elif start is not None and line.strip() == "```":
            out.append((start, "\n".join(lines[start - 1:i - 1])))
            start = None
    return out


def _hsi_lines() -> list[tuple[str, list[str]]]:
    """Each `hsi ...` command of README's bash blocks, continuations joined, comments and `[...]` placeholders dropped."""
    cmds: list[tuple[str, list[str]]] = []
    for first, text in _blocks("bash"):
        joined = re.sub(r"\\\n\s*", " ", text)
        for k, line in enumerate(joined.splitlines()):
            line = line.strip()
            if not line.startswith("hsi "):
                continue
            line = re.sub(r"\s\[[^\]]*\]", "", line)  # `[...]`: "add your own options here"
            args = shlex.split(line, comments=True)[1:]
            cmds.append((f"README line ~{first + k}: {line}", args))
    return cmds


def _parse(args: list[str]) -> None:
    """Parse ``hsi ARGS`` down to the leaf command without running it (click raises on a bad or missing option)."""
    ctx = cli.make_context("hsi", list(args))
    cmd: click.Command = cli
    rest = ctx.protected_args + ctx.args
    while isinstance(cmd, click.Group) and rest:
        name, cmd, rest = cmd.resolve_command(ctx, rest)
        ctx = cmd.make_context(name, rest, parent=ctx)
        rest = ctx.protected_args + ctx.args if isinstance(cmd, click.Group) else []


HSI_LINES = _hsi_lines()


def test_readme_shows_hsi_commands() -> None:
    """The extraction finds README's examples (so the parse test below cannot pass on nothing)."""
    heads = {args[0] for _, args in HSI_LINES}
    assert {"train", "predict", "detect", "finetune", "evaluate", "vectorize"} <= heads


@pytest.mark.parametrize("where,args", HSI_LINES, ids=[w.split(":")[0] for w, _ in HSI_LINES])
def test_every_readme_hsi_line_parses(where: str, args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Option names, required options and choices of each README command are the CLI's.

    Paths are not checked (README's files are the reader's own): ``click.Path`` takes any value here.
    """
    monkeypatch.setattr(click.Path, "convert", lambda self, value, param, ctx: value)
    try:
        _parse(args)
    except click.ClickException as exc:
        pytest.fail(f"{where}\n  -> {exc.format_message()}")
