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


def test_readme_python_block_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """README's "Python" block runs as written, in a folder holding the runs and files it names.

    Tiny runs stand in for the reader's (``test_ssfcn``, one epoch), with a reference of two Indian Pines
    fields drawn as polygons in pixel coordinates (the scene has no CRS).
    """
    import geopandas as gpd
    from shapely.geometry import box

    from cli_runner import run_main

    (block,) = [text for first, text in _blocks("python") if "load_classifier" in text]
    monkeypatch.chdir(tmp_path)
    for k, seed in enumerate(("0", "1000")):
        code, _, err = run_main(capsys, "train", "--data", "indian_pines", "--model", "test_ssfcn", "--epochs", "1",
                                "--init-seed", seed, "--quiet", "--out", f"runs/m{k}")
        assert code == 0, err
    code, _, err = run_main(capsys, "predict", "--model", "runs/m0", "--input", "indian_pines", "--out", "map.tif",
                            "--quiet")
    assert code == 0, err
    # 10 x 10 px of Woods (rows 10-19, cols 120-129 on the ground truth) and of Soybean-mintill (rows 0-9, cols 100-109)
    ref = gpd.GeoDataFrame({"class": ["Woods", "Soybean-mintill"]},
                           geometry=[box(120, 10, 130, 20), box(100, 0, 110, 10)])
    ref.to_file("reference.gpkg")
    scope: dict[str, object] = {}
    exec(compile(block, "README.md", "exec"), scope)
    probs = scope["probs"]
    assert probs.shape == (16, 64, 64)
    assert abs(float(probs.sum(0).mean()) - 1.0) < 1e-4
    assert 0.0 <= scope["acc"].scores()["oa"] <= 1.0
