"""Model registry: names, lookup errors, info, registration rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hsi_app.errors import ConfigError, UnknownKeyError
from hsi_app.models import create_model, list_models, model_info, register_model
from hsi_app.models import registry as reg

OWN = {"ssfcn", "ssfcn_small", "ssfcn_snv", "test_ssfcn", "cnn3d", "test_cnn3d"}


def test_family_models_are_registered() -> None:
    assert OWN <= set(list_models())
    assert list_models() == sorted(list_models())


def test_pattern_filters_names() -> None:
    tiny = list_models("test_*")
    assert {"test_ssfcn", "test_cnn3d"} <= set(tiny)
    assert all(n.startswith("test_") for n in tiny)
    assert list_models("ssfcn*") == ["ssfcn", "ssfcn_small", "ssfcn_snv"]
    assert list_models("no_such_*") == []


def test_every_family_has_a_test_variant() -> None:
    for name in ("ssfcn", "cnn3d"):
        assert f"test_{name}" in list_models()


def test_unknown_name_suggests_close_matches() -> None:
    with pytest.raises(UnknownKeyError) as info:
        create_model("ssfnc", in_chans=4, num_classes=2)
    assert isinstance(info.value, KeyError)
    msg = str(info.value)
    assert "'ssfnc'" in msg and "ssfcn" in msg
    with pytest.raises(UnknownKeyError, match="hsi models"):
        model_info("zzzzzzzz")


def test_model_info_reports_task_and_description() -> None:
    info = model_info("cnn3d")
    assert info["task"] == "classification"
    assert info["description"].startswith("Dense 3D-CNN")
    assert info["module"] == "hsi_app.models.cnn3d"


def test_created_model_has_declared_attributes() -> None:
    net = create_model("test_ssfcn", in_chans=5, num_classes=3, wavelengths=[400, 500, 600, 700, 800])
    assert net.task == "classification"
    assert isinstance(net.receptive_radius, int) and net.receptive_radius > 0
    assert net(torch.zeros(1, 5, 8, 8)).shape == (1, 3, 8, 8)


def test_bad_sizes_and_options_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="in_chans=0"):
        create_model("test_ssfcn", in_chans=0, num_classes=3)
    with pytest.raises(ConfigError, match="model_args"):
        create_model("test_ssfcn", in_chans=4, num_classes=3, no_such_option=1)
    with pytest.raises(ConfigError):
        create_model("test_ssfcn", in_chans=4, num_classes=3, kernel=4)


def test_register_and_reject_duplicate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reg, "_REGISTRY", dict(reg._REGISTRY))

    def tmp_linear(in_chans: int, num_classes: int, wavelengths: object = None) -> torch.nn.Module:
        """A 1x1 conv used only by this test."""
        net = torch.nn.Conv2d(in_chans, num_classes, 1)
        net.receptive_radius = 0  # type: ignore[assignment]
        return net

    register_model(tmp_linear)
    assert "tmp_linear" in list_models()
    assert model_info("tmp_linear")["description"] == "A 1x1 conv used only by this test."
    assert create_model("tmp_linear", in_chans=3, num_classes=2).out_channels == 2
    register_model(tmp_linear)  # the same function again is harmless (module re-import)

    def other() -> None:
        pass

    other.__name__ = other.__qualname__ = "tmp_linear"
    with pytest.raises(ConfigError, match="registered twice"):
        register_model(other)


def test_register_with_task_option(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reg, "_REGISTRY", dict(reg._REGISTRY))

    @register_model(task="denoising")
    def tmp_identity(in_chans: int, num_classes: int, wavelengths: object = None) -> torch.nn.Module:
        """Identity."""
        return torch.nn.Identity()

    assert model_info("tmp_identity")["task"] == "denoising"


def test_bad_model_args_name_only_the_unknown_keys() -> None:
    """A valid option next to an unknown one: the message lists the unknown one alone."""
    with pytest.raises(ConfigError) as info:
        create_model("test_channel_vit", in_chans=4, num_classes=2, wavelengths=[500, 600, 700, 800],
                     group_nm=100.0, foo=1)
    msg = str(info.value)
    assert "unknown model args ['foo']" in msg and "group_nm" not in msg
    with pytest.raises(ConfigError, match=r"unknown model args \['bar', 'foo'\]"):
        create_model("test_ssfcn", in_chans=4, num_classes=3, foo=1, bar=2)


@pytest.mark.parametrize("sizes", [{"in_chans": "200", "num_classes": 3}, {"in_chans": 4, "num_classes": 2.5},
                                   {"in_chans": True, "num_classes": 3}])
def test_sizes_that_are_not_integers_are_one_config_error(sizes: dict) -> None:
    with pytest.raises(ConfigError, match="both must be integers >= 1"):
        create_model("test_ssfcn", **sizes)


def test_create_model_documents_the_shapes_each_task_maps() -> None:
    """The shapes create_model's docstring gives per task are those the test models map."""
    doc = " ".join((create_model.__doc__ or "").split())
    c, k, b = 6, 3, 2
    want = {"classification": (b, k, 8, 8), "denoise": (b, c, 8, 8), "detect": (b, k + 4, 8, 8)}
    for task, text in [("classification", "(B, K, h, w)"), ("denoise", "the input's shape"),
                       ("detect", "(B, K + 4, h, w)"), ("denoise", "``hsdt_subspace*``: ``(B, 1, C, h, w)`` only")]:
        assert f"``{task}``" in doc and text in doc, (task, text)
    for name in list_models("test_*"):
        task = model_info(name)["task"]
        model = create_model(name, in_chans=c, num_classes=k, wavelengths=np.linspace(450.0, 900.0, c)).eval()
        with torch.no_grad():
            if name.startswith("test_hsdt_subspace"):
                x = torch.rand(b, 1, c, 8, 8)
                assert tuple(model(x).shape) == tuple(x.shape), name
                continue
            assert tuple(model(torch.rand(b, c, 8, 8)).shape) == want[task], name
