"""The prepared CUDA device check (benchmarks/check_cuda.py), run on the CPU.

On a machine without CUDA the script checks the portable scan and the state-dict path; these
tests run it that way and make sure that a wrong scan makes it fail.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest
import torch

from fixture_loader import benchmark_module
from hsi_app.models.layers.selective_scan import selective_scan_parallel

@pytest.fixture(scope="module")
def check() -> ModuleType:
    return benchmark_module("check_cuda")


def _scan_without_skip(**kw: torch.Tensor) -> torch.Tensor:
    """A plausible bug: the ``D * u`` skip term left out."""
    kw["D"] = torch.zeros_like(kw["D"])
    return selective_scan_parallel(**kw)


def test_cpu_run_passes_and_reports(check: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.json"
    assert check.main(["--device", "cpu", "--side", "12", "--steps", "1", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    checks = report["checks"]
    # no kernel on a CPU: the portable scan at three lengths, then the model's logits
    assert [c["what"] for c in checks[:3]] == ["scan, T=5", "scan, T=64", "scan, T=224"]
    assert all(c["ok"] for c in checks) and len(checks) == 4
    assert max(c["out_err"] for c in checks[:3]) < 1e-5 and max(c["grad_err"] for c in checks[:3]) < 1e-5
    assert checks[3]["out_err"] == 0.0  # CPU weights read back from safetensors give the same logits
    assert report["env"]["device"] == "cpu"
    assert [(s["path"], s["peak_gpu_mib"]) for s in report["steps"]] == [("portable (cpu)", None)]
    assert report["steps"][0]["seconds"] > 0
    assert "not available" in capsys.readouterr().out


def test_wrong_scan_is_caught(check: ModuleType) -> None:
    bad = check.compare_scan(_scan_without_skip, "bug", 64, torch.device("cpu"))
    assert not bad.ok and bad.out_err > 0.01


def test_failed_check_exits_1(check: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(check, "selective_scan_parallel", _scan_without_skip)
    assert check.main(["--device", "cpu", "--side", "8", "--steps", "1"]) == 1


def test_scan_inputs_match_the_mamba_ssm_layout(check: ModuleType) -> None:
    args = check.scan_inputs(7, batch=2, inner=5, state=3)
    shapes = {k: tuple(v.shape) for k, v in args.items()}
    assert shapes == {"u": (2, 5, 7), "delta": (2, 5, 7), "A": (5, 3), "B": (2, 3, 7), "C": (2, 3, 7),
                      "D": (5,), "z": (2, 5, 7), "delta_bias": (5,)}
    assert bool((args["A"] < 0).all())  # a stable system, as a Mamba block's -exp(A_log)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_cuda_without_a_gpu_and_a_required_missing_kernel_are_one_line(check: ModuleType,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert check.main(["--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sees no GPU" in err and torch.__version__ in err
    assert check.main(["--device", "cpu", "--require-kernel"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--require-kernel, but mamba_ssm's kernel cannot be used" in err


def test_a_check_that_raises_keeps_the_rows_before_it(check: ModuleType, monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """E.g. 'no kernel image is available' in the model step: the scan rows are printed and saved, the flags restored."""
    def broken(*args: object) -> None:
        raise RuntimeError("CUDA error: no kernel image is available for execution on the device\nmore")

    monkeypatch.setattr(check, "model_paths", broken)
    flags = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    out = tmp_path / "report.json"
    assert check.main(["--device", "cpu", "--side", "8", "--steps", "1", "--json", str(out)]) == 1
    assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == flags
    report = json.loads(out.read_text())
    assert [c["ok"] for c in report["checks"]] == [True, True, True, False]
    last = report["checks"][-1]
    assert last["error"] == "RuntimeError: CUDA error: no kernel image is available for execution on the device"
    assert last["out_err"] is None and report["steps"] == []
    assert "**NO**: RuntimeError: CUDA error" in capsys.readouterr().out
    assert report["env"]["mamba_ssm"] is False and "mamba_ssm_error" in report["env"]
