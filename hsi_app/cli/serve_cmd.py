"""``hsi serve``: start the Gradio map viewer (``web/app.py``) on this machine."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import click

APP_PATH = Path(__file__).resolve().parents[2] / "web" / "app.py"


def load_web_app(path: Path = APP_PATH) -> ModuleType:
    """Import ``web/app.py`` (the layout lives outside the package, next to it in the source tree).

    Raises:
        ConfigError: the source tree has no ``web/app.py`` (a wheel install without it).
    """
    from hsi_app.errors import ConfigError

    if not path.is_file():
        raise ConfigError(f"{path}: web app not found; run `hsi serve` from a source checkout (pip install -e .)")
    spec = importlib.util.spec_from_file_location("hsi_web_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to bind; the default keeps the viewer on this machine.")
@click.option("--port", type=click.IntRange(1, 65535), default=7860, show_default=True)
@click.option("--scenes", default=None, type=click.Path(exists=True, file_okay=False),
              help="Folder of scenes to offer (default: $HSI_SCENES).")
@click.option("--runs", default=None, type=click.Path(exists=True, file_okay=False),
              help="Folder of `hsi train` runs to offer as models (default: $HSI_RUNS).")
@click.option("--max-upload", default=None, help="Largest accepted upload, e.g. 2GB (default: $HSI_MAX_UPLOAD or 2GB).")
def serve(host: str, port: int, scenes: str | None, runs: str | None, max_upload: str | None) -> None:
    """Open the map viewer: scenes, RGB composites, spectra, land-cover maps, downloads."""
    from hsi_app.viewer import ViewerConfig, format_size

    config = ViewerConfig.create(scenes=scenes, runs=runs, max_upload=max_upload)
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"hsi: warning: binding {host}: anyone who can reach this machine can use the viewer", err=True)
    click.echo(f"hsi viewer on http://{host}:{port}  (uploads up to {format_size(config.max_upload_bytes)}; Ctrl-C stops)")
    load_web_app().launch(config, host=host, port=port, quiet=True)
