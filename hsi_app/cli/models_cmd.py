"""``hsi models``: list registered models with task, parameter count and description."""

from __future__ import annotations

from functools import lru_cache

import click

COUNT_BANDS = 200  # parameter counts are for an Indian Pines-like input
COUNT_CLASSES = 16


@lru_cache(maxsize=None)
def parameter_count(name: str, in_chans: int = COUNT_BANDS, num_classes: int = COUNT_CLASSES) -> int | None:
    """Parameters of model ``name`` built for ``in_chans`` bands and ``num_classes`` classes.

    Returns:
        The count, or None when the model cannot be built with those sizes (or has no
        torch parameters).
    """
    from hsi_app.errors import HSIError
    from hsi_app.models import create_model

    try:
        model = create_model(name, in_chans=in_chans, num_classes=num_classes)
    except (HSIError, RuntimeError, ValueError, TypeError):
        return None
    params = getattr(model, "parameters", None)
    if params is None:
        return None
    return int(sum(p.numel() for p in params()))


def model_rows(pattern: str = "*") -> list[dict[str, object]]:
    """``{"name", "task", "params", "description"}`` for every model matching ``pattern``."""
    from hsi_app.models import list_models, model_info

    rows: list[dict[str, object]] = []
    for name in list_models(pattern):
        info = model_info(name)
        rows.append({"name": name, "task": info["task"], "params": parameter_count(name),
                     "description": info["description"]})
    return rows


def no_match_hint(pattern: str, glob: str) -> str:
    """What to try when ``hsi models list PATTERN`` (as the shell-style ``glob``) matches no model name."""
    from hsi_app.errors import did_you_mean
    from hsi_app.models import list_models

    if glob != glob.lower() and list_models(glob.lower()):
        return f"names are lower case and matching is case-sensitive: try `hsi models list {pattern.lower()}`"
    return did_you_mean(pattern, list_models("*"), "run `hsi models` to list them all", cutoff=0.5)


def _fmt_params(n: object) -> str:
    return "?" if n is None else f"{int(n):,}"  # type: ignore[call-overload]


@click.group("models", invoke_without_command=True)
@click.pass_context
def models(ctx: click.Context) -> None:
    """Registered models (`hsi models list [PATTERN]`); with no sub-command, list them all."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_cmd, pattern="*")


@models.command("list", short_help="List models whose name matches PATTERN (shell-style or a substring).")
@click.argument("pattern", required=False, default="*")
def list_cmd(pattern: str) -> None:
    """List models whose name matches PATTERN (shell-style, e.g. '*vit*'; a bare word matches substrings).

    Parameter counts are for 200 bands and 16 classes (Indian Pines).
    """
    from hsi_app.errors import UnknownKeyError
    from hsi_app.models import list_models

    glob = pattern if any(ch in pattern for ch in "*?[") else f"*{pattern}*"
    rows = model_rows(glob)
    if not rows:
        if not list_models("*"):
            raise UnknownKeyError("no models are registered; reinstall hsi_app")
        raise UnknownKeyError(f"no model matches {pattern!r}; {no_match_hint(pattern, glob)}")
    header = ("name", "task", f"params ({COUNT_BANDS} bands, {COUNT_CLASSES} classes)", "description")
    width = [max(len(header[0]), *(len(str(r["name"])) for r in rows)),
             max(len(header[1]), *(len(str(r["task"])) for r in rows)),
             len(header[2])]
    click.echo(f"{header[0]:<{width[0]}}  {header[1]:<{width[1]}}  {header[2]:>{width[2]}}  {header[3]}")
    for r in rows:
        click.echo(f"{r['name']!s:<{width[0]}}  {r['task']!s:<{width[1]}}  {_fmt_params(r['params']):>{width[2]}}  "
                   f"{r['description']}")
