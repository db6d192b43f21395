"""The CLI as a new user meets it: help texts, command order, startup cost, README coverage, refusals."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from cli_runner import assert_one_error_line, run_main

from hsi_app.cli.main import COMMANDS, cli

README = Path(__file__).resolve().parents[2] / "README.md"
GENERIC_METAVARS = {"TEXT", "INTEGER", "FLOAT", "INTEGER RANGE", "FLOAT RANGE"}


def _leaf_commands() -> list[tuple[tuple[str, ...], click.Command]]:
    """Every runnable command: ``(("datasets", "fetch"), cmd)``, sub-commands of groups included."""
    out: list[tuple[tuple[str, ...], click.Command]] = []

    def walk(cmd: click.Command, path: tuple[str, ...]) -> None:
        if isinstance(cmd, click.Group):
            ctx = click.Context(cmd)
            for name in cmd.list_commands(ctx):
                walk(cmd.get_command(ctx, name), (*path, name))
        else:
            out.append((path, cmd))

    ctx = click.Context(cli)
    for name in COMMANDS:
        walk(cli.get_command(ctx, name), (name,))
    return out


def test_every_help_page_loads_no_heavy_library() -> None:
    """`hsi --help` and every `hsi CMD [SUB] --help`, in one process: torch, gradio, torchgeo, lightning never load."""
    paths = [[]] + [list(p) for p, _ in _leaf_commands()] + [["datasets"], ["models"]]
    code = (
        "import contextlib, io, json, sys\n"
        "from hsi_app.cli.main import main\n"
        f"for path in {json.dumps(paths)}:\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        try:\n"
        "            main([*path, '--help'])\n"
        "        except SystemExit as e:\n"
        "            assert not e.code, (path, e.code)\n"
        "print(json.dumps([m for m in ('torch', 'gradio', 'torchgeo', 'lightning', 'peft') if m in sys.modules]))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout.strip().splitlines()[-1]) == []


@pytest.mark.parametrize("command", ["batch", "denoise"])
def test_help_of_the_scene_commands_loads_no_numpy(command: str) -> None:
    """`hsi batch --help` / `hsi denoise --help` each in a fresh process: not even numpy is imported for a help page."""
    code = (
        "import contextlib, io, sys\n"
        "from hsi_app.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        f"        main([{command!r}, '--help'])\n"
        "    except SystemExit as e:\n"
        "        assert not e.code, e.code\n"
        "print('numpy' in sys.modules)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "False"


@pytest.mark.parametrize(("path", "cmd"), _leaf_commands(),
                         ids=lambda v: " ".join(v) if isinstance(v, tuple) else "")
def test_every_option_has_help_and_a_telling_metavar(path: tuple[str, ...], cmd: click.Command) -> None:
    """An option without help, or shown as `--window INTEGER` / `--input TEXT`, leaves the user guessing."""
    ctx = click.Context(cmd, info_name=" ".join(path))
    for param in cmd.params:
        if not isinstance(param, click.Option) or param.hidden:
            continue
        assert param.help and param.help.strip(), f"hsi {' '.join(path)} {param.opts[0]}: no help text"
        if not param.is_flag:
            metavar = param.make_metavar(ctx)
            assert metavar not in GENERIC_METAVARS, f"hsi {' '.join(path)} {param.opts[0]}: metavar {metavar}"


def test_top_level_help_lists_commands_in_workflow_order(capsys: pytest.CaptureFixture[str]) -> None:
    """A new user reads down the list: look at the data first, train before mapping, map before scoring."""
    code, out, _ = run_main(capsys, "--help")
    assert code == 0
    listed = [m.group(1) for m in re.finditer(r"^  ([a-z][\w-]*)\s", out.split("Commands:")[1], re.M)]
    assert sorted(listed) == sorted(COMMANDS)
    pos = {name: i for i, name in enumerate(listed)}
    assert listed[0] == "info"
    assert pos["datasets"] < pos["train"] < pos["predict"] < pos["evaluate"] < pos["vectorize"]
    assert pos["train"] < pos["finetune"] and pos["train"] < pos["denoise"] and pos["simulate-targets"] > pos["detect"]


@pytest.mark.parametrize("group", ["datasets", "models"])
def test_sub_command_summaries_are_whole_sentences(capsys: pytest.CaptureFixture[str], group: str) -> None:
    """Click cuts a docstring's first line at 45 characters or at 'e.g.'; the summaries are written out whole."""
    code, out, _ = run_main(capsys, group, "--help")
    assert code == 0
    rows = re.sub(r"\n\s{10,}", " ", out.split("Commands:")[1]).strip().splitlines()
    assert rows
    for row in rows:
        assert not row.endswith("...") and not row.endswith("e.g.") and row.count("(") == row.count(")"), row


@pytest.mark.parametrize("args", [[], ["datasets"]])
def test_a_bare_command_prints_its_help_not_an_error(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    code, out, err = run_main(capsys, *args)
    assert code == 0 and err == ""
    assert out.startswith(f"Usage: hsi{' ' + args[0] if args else ''} [OPTIONS] COMMAND") and "Commands:" in out


def test_readme_documents_every_command_and_option() -> None:
    """Each command has a row in README's command table and each option is named somewhere in README."""
    text = README.read_text(encoding="utf-8")
    table = text[text.index("| command | what it does |"):text.index("Every command prints one readable")]
    for path, cmd in _leaf_commands():
        head = "hsi " + " ".join(path)
        if path[-1] != "list":  # `hsi datasets list`, `hsi models [list PATTERN]`
            assert re.search(rf"`{re.escape(head)}[ `\]]", table), f"{head}: no row in README's command table"
        for param in cmd.params:
            if isinstance(param, click.Option):
                names = [*param.opts, *param.secondary_opts]
                assert any(re.search(re.escape(n) + r"(?![\w-])", text) for n in names), f"{head} {names[0]}: not in README"


def test_vectorize_refuses_min_pixels_beside_min_area(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """--min-area used to win silently over a typed --min-pixels; one of the two is the unit."""
    code, _, err = run_main(capsys, "vectorize", "--map", str(tmp_path / "map.tif"), "--out", str(tmp_path / "p.gpkg"),
                            "--min-pixels", "5", "--min-area", "0.5")
    assert_one_error_line(code, err, "--min-pixels", "--min-area", "drop it")


@pytest.mark.parametrize("command", ["train", "finetune"])
def test_split_beside_given_label_maps_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                  command: str) -> None:
    """--train-labels/--test-labels replace the split: a typed --split would be dropped without a word."""
    for name in ("tr.npy", "te.npy"):
        (tmp_path / name).write_bytes(b"")  # never read: the refusal comes first
    (tmp_path / "base").mkdir()
    head = ["train", "--data", str(tmp_path / "scene.mat")] if command == "train" else \
        ["finetune", "--base", str(tmp_path / "base"), "--data", str(tmp_path / "scene.mat"), "--lora-rank", "4"]
    code, _, err = run_main(capsys, *head, "--split", "disjoint:0.5", "--train-labels", str(tmp_path / "tr.npy"),
                            "--test-labels", str(tmp_path / "te.npy"), "--out", str(tmp_path / "run"))
    assert_one_error_line(code, err, "--split", "--train-labels", "drop it")
    assert not (tmp_path / "run").exists()


def _tiny_scene(path: Path) -> Path:
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    cube = np.random.default_rng(0).uniform(0.0, 1.0, size=(5, 12, 10)).astype(np.float32)
    with rasterio.open(path, "w", driver="GTiff", height=12, width=10, count=5, dtype="float32", crs="EPSG:32616",
                       transform=from_origin(0.0, 0.0, 30.0, 30.0)) as ds:
        ds.write(cube)
        ds.update_tags(wavelength="400,500,600,700,800", wavelength_units="nm")
    return path


def test_predict_runs_on_the_device_asked_for(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """--device reaches the model loader (auto -> None: the GPU when there is one); a bad one is one line, exit 2."""
    import torch
    from tiny_runs import make_run

    from hsi_app import ensemble

    run, scene = make_run(tmp_path / "run"), _tiny_scene(tmp_path / "scene.tif")
    seen: list[str | None] = []
    real = ensemble.load_classifier
    monkeypatch.setattr(ensemble, "load_classifier", lambda *a, **kw: (seen.append(kw.get("device")), real(*a, **kw))[1])
    for device in ("cpu", "auto"):
        out = tmp_path / f"map_{device}.tif"
        code, _, err = run_main(capsys, "predict", "--model", str(run), "--input", str(scene), "--out", str(out),
                                "--device", device, "--quiet")
        assert code == 0 and out.exists(), err
    assert seen == ["cpu", None]
    code, _, err = run_main(capsys, "denoise", "--model", str(run), "--input", str(scene), "--out",
                            str(tmp_path / "d.tif"), "--device", "gpu0")
    assert_one_error_line(code, err, "--device 'gpu0': unknown device; use cpu, cuda")
    if not torch.cuda.is_available():
        code, _, err = run_main(capsys, "predict", "--model", str(run), "--input", str(scene), "--out",
                                str(tmp_path / "c.tif"), "--device", "cuda")
        assert_one_error_line(code, err, "--device 'cuda': no CUDA GPU visible")
        assert not (tmp_path / "c.tif").exists()


def test_errors_stay_one_line_on_click_8_1(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """pyproject allows click 8.1, which has no NoArgsIsHelpError: an ``except`` naming it turned every error into
    an AttributeError traceback there."""
    monkeypatch.delattr(click.exceptions, "NoArgsIsHelpError", raising=False)
    code, _, err = run_main(capsys, "vectorize", "--map", str(tmp_path / "missing.tif"), "--out", str(tmp_path / "o.gpkg"))
    assert_one_error_line(code, err, "missing.tif")
