"""``hsi train --task denoise``: train a denoiser on a clean scene (called by :mod:`hsi_app.cli.train_cmd`)."""

from __future__ import annotations

from typing import Any

import click


def run(
    *,
    data: str,
    out: str,
    noise: str = "gaussian:50",
    model: str | None = None,
    epochs: int | None = None,
    seed: int = 0,
    window: int = 512,
    key: str | None = None,
    quiet: bool = False,
    init: str | None = None,
    device: str | None = None,
    **_ignored: Any,
) -> dict[str, Any]:
    """Train on DATA's clean good bands with NOISE added on the fly; write the run folder OUT.

    ``init`` (a denoise run folder of the same model) warm-starts the weights; its weights are scored on
    the held-out block too (``init_model``), and a line says when training made them worse.

    Accepts every option of ``hsi train``; ``hsi train`` refuses those of other tasks (labels,
    split, schedule, targets...) when typed, so the rest only carry their defaults.

    Returns:
        The metrics written to ``OUT/metrics.json``.
    """
    from hsi_app.data.noise import parse_noise
    from hsi_app.errors import ConfigError
    from hsi_app.io import open_cube
    from hsi_app.models import model_info
    from hsi_app.tasks.denoising import DEFAULT_MODEL, DenoiseOptions, train_denoiser

    name = model or DEFAULT_MODEL
    if model_info(name)["task"] != "denoise":
        raise ConfigError(f"--model {name}: not a denoiser; use hsdt_s, hsdt_m, hsdt or hsdt_subspace (see `hsi models`)")
    if epochs is not None and epochs < 1:
        raise ConfigError(f"--epochs {epochs}: must be >= 1")
    spec = parse_noise(noise).spec
    from hsi_app.cli.run_notes import say_earlier_run

    say_earlier_run(out, task="denoise")
    cube = open_cube(data, key=key)
    opts = DenoiseOptions(model=name, noise=spec, epochs=epochs, seed=seed, window=window, progress=not quiet,
                          init=init, device=device)
    m = train_denoiser(cube, out, opts)
    d, n = m["denoised"], m["noisy"]
    best = max(m.get("baselines", {}).items(), key=lambda kv: kv[1]["psnr"], default=None)
    line = (f"{name} on {spec}, held-out cols {m['heldout']['cols'][0]}-{m['heldout']['cols'][1]}: "
            f"PSNR {d['psnr']:.2f} dB (noisy {n['psnr']:.2f}) MPSNR {d['mpsnr']:.2f} dB SSIM {d['ssim']:.4f} "
            f"SAM {d['sam']:.4f} rad")
    if best is not None:
        line += f"; best baseline {best[0]} {best[1]['psnr']:.2f} dB"
    if "init_model" in m:
        line += f"; --init weights {m['init_model']['psnr']:.2f} dB"
    click.echo(f"{line}  ({m['train_seconds']:.0f} s) -> {out}")
    if init is not None:
        from hsi_app.tasks.denoise_init import init_regression

        worse = init_regression(m, init)
        if worse:
            click.echo(f"hsi: warning: {worse}", err=True)
    return m
