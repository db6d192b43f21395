"""`hsi models list`: names, tasks, parameter counts, descriptions; filters and suggestions."""

from __future__ import annotations

import pytest

from cli_runner import run_main as run



def _row(out: str, name: str) -> list[str]:
    return next(line.split() for line in out.splitlines() if line.split()[:1] == [name])


def test_list_shows_task_and_parameter_count(capsys: pytest.CaptureFixture[str]) -> None:
    from hsi_app.models import create_model

    code, out, _ = run(capsys, "models", "list")
    assert code == 0
    expected = sum(p.numel() for p in create_model("spectral_vit", in_chans=200, num_classes=16).parameters())
    row = _row(out, "spectral_vit")
    assert row[1] == "classification" and row[2] == f"{expected:,}" and "LoLA-SpecViT" in " ".join(row[3:])
    assert _row(out, "ssfcn")[2] == f"{sum(p.numel() for p in create_model('ssfcn', in_chans=200, num_classes=16).parameters()):,}"


def test_pattern_filters(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "models", "list", "spectral_v*")
    names = [line.split()[0] for line in out.splitlines()[1:]]
    assert code == 0 and names == ["spectral_vit", "spectral_vit_snv", "spectral_vit_wide"]
    code, out, _ = run(capsys, "models", "list", "vit")  # bare word = substring
    assert {"spectral_vit", "test_spectral_vit"} <= {line.split()[0] for line in out.splitlines()[1:]}


def test_bare_models_lists_everything(capsys: pytest.CaptureFixture[str]) -> None:
    from hsi_app.models import list_models

    code, out, _ = run(capsys, "models")
    assert code == 0 and [line.split()[0] for line in out.splitlines()[1:]] == list_models()


def test_unknown_name_suggests_close_matches(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "models", "list", "spectrl_vit")
    assert code == 2 and "did you mean" in err and "spectral_vit" in err and "Traceback" not in err


def test_unbuildable_model_shows_question_mark(monkeypatch: pytest.MonkeyPatch) -> None:
    from hsi_app.cli import models_cmd
    from hsi_app.errors import ConfigError

    def boom(*a: object, **k: object) -> None:
        raise ConfigError("nope")

    models_cmd.parameter_count.cache_clear()
    monkeypatch.setattr("hsi_app.models.create_model", boom)
    rows = models_cmd.model_rows("test_spectral_vit")
    models_cmd.parameter_count.cache_clear()
    assert rows[0]["params"] is None and models_cmd._fmt_params(None) == "?"


@pytest.mark.parametrize("pattern", ["VIT", "?", "["])
def test_a_pattern_without_match_says_so(pattern: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "models", "list", pattern)
    assert code == 2 and f"no model matches {pattern!r}" in err and "not registered" not in err
    assert len(err.strip().splitlines()) == 1


def test_an_upper_case_pattern_is_pointed_to_the_lower_case_one(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "models", "list", "VIT")
    assert code == 2 and "`hsi models list vit`" in err
