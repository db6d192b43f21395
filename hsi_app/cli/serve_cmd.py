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


LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def check_address(host: str, port: int) -> None:
    """Check, before the app is built, that the viewer can listen on ``host:port``.

    The port is bound (and released at once) on ``host``, with ``SO_REUSEADDR`` as the web
    server does, and also on 127.0.0.1 when ``host`` is another interface, as Gradio checks
    that one too.

    Raises:
        ConfigError: ``host`` is not a valid address of this machine, or the port is taken
            (or needs privileges).
    """
    import errno
    import socket

    from hsi_app.errors import ConfigError

    name = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError, ValueError):
        raise ConfigError(f"--host {host}: not a valid host name or IP address; use 127.0.0.1 (this machine only) "
                          "or 0.0.0.0 (every interface)") from None
    targets = [(infos[0][0], infos[0][4])]
    if name not in LOCAL_HOSTS:
        targets.append((socket.AF_INET, ("127.0.0.1", port)))
    for family, addr in targets:
        try:
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(addr)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise ConfigError(f"--port {port}: {addr[0]}:{port} is already in use (another `hsi serve`?); "
                                  f"choose another --port, e.g. --port {port + 1 if port < 65535 else 8080}") from None
            if err.errno == errno.EACCES:
                raise ConfigError(f"--port {port}: binding {addr[0]}:{port} needs privileges; "
                                  "choose a --port above 1023, e.g. --port 7860") from None
            if err.errno == errno.EADDRNOTAVAIL:
                raise ConfigError(f"--host {host}: not an address of this machine; use 127.0.0.1 (this machine "
                                  "only), 0.0.0.0 (every interface) or one of its own IP addresses") from None
            raise ConfigError(f"--host {host} --port {port}: cannot listen there ({err.strerror}); "
                              "choose another --host or --port") from None


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              metavar="ADDR", help="Interface to bind; the default keeps the viewer on this machine.")
@click.option("--port", type=click.IntRange(1, 65535), default=7860, show_default=True, metavar="PORT",
              help="TCP port of the viewer (1-65535).")
@click.option("--scenes", default=None, type=click.Path(exists=True, file_okay=False),
              help="Folder of scenes to offer (default: $HSI_SCENES).")
@click.option("--runs", default=None, type=click.Path(exists=True, file_okay=False),
              help="Folder of `hsi train` runs to offer as models (default: $HSI_RUNS).")
@click.option("--max-upload", default=None, metavar="SIZE", help="Largest accepted upload, e.g. 2GB (default: $HSI_MAX_UPLOAD or 2GB).")
def serve(host: str, port: int, scenes: str | None, runs: str | None, max_upload: str | None) -> None:
    """Open the map viewer: scenes, RGB composites, spectra, land-cover maps, downloads."""
    from hsi_app.errors import ConfigError
    from hsi_app.viewer import ViewerConfig, format_size

    config = ViewerConfig.create(scenes=scenes, runs=runs, max_upload=max_upload)
    check_address(host, port)  # before the app is built and before the URL is announced
    app = load_web_app()
    bare = host.strip("[]")
    url_host = f"[{bare}]" if ":" in bare else host  # an IPv6 address goes in brackets, in URLs and for Gradio
    if bare not in LOCAL_HOSTS:
        click.echo(f"hsi: warning: binding {host}: anyone who can reach this machine can use the viewer", err=True)
    click.echo(f"hsi viewer on http://{url_host}:{port}  (uploads up to {format_size(config.max_upload_bytes)}; Ctrl-C stops)")
    try:
        app.launch(config, host=url_host, port=port, quiet=True)
    except OSError as err:  # the port was taken between the check and the launch
        raise ConfigError(f"--port {port}: cannot listen on {host}:{port} ({err}); choose another --port") from err
