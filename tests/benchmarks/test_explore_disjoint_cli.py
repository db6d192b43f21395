"""benchmarks/explore_disjoint.py's command line: ``--help`` prints the variants, a wrong call says how to call it.

BENCHMARKS.md names the script with ``VARIANT SEEDS``; before, ``--help`` and a call without seeds both
ended in an ``IndexError`` traceback. The runs themselves train models (minutes), so they are not run here.
"""

from __future__ import annotations

import pytest

from fixture_loader import benchmark_module


def test_help_lists_the_variants(capsys: pytest.CaptureFixture[str]) -> None:
    module = benchmark_module("explore_disjoint")
    with pytest.raises(SystemExit) as stop:
        module.parse_args(["--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert "snvonly" in out and "--legacy-blocks" in out


def test_variant_and_seeds_are_read() -> None:
    module = benchmark_module("explore_disjoint")
    assert module.parse_args(["snvonly:spectral_vit", "0,2"]) == ("snvonly:spectral_vit", [0, 2], False)
    assert module.parse_args(["base", "3", "--legacy-blocks"]) == ("base", [3], True)


@pytest.mark.parametrize("args", [[], ["base"], ["base", "zero"], ["base", "0", "--legacy"]],
                         ids=["nothing", "no seeds", "seeds not integers", "unknown option"])
def test_a_wrong_call_exits_with_one_usage_line(args: list[str]) -> None:
    module = benchmark_module("explore_disjoint")
    with pytest.raises(SystemExit) as stop:
        module.parse_args(args)
    message = str(stop.value.code)
    assert "usage: explore_disjoint.py VARIANT SEEDS" in message and "\n" not in message
