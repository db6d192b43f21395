"""The scene an ensemble's members were trained on, found again and checked before it is scored.

Each member's ``config.json`` names its scene (``data``) and, for runs from session 49 on, the
identity of its contents (``extra.data_identity``, :mod:`hsi_app.provenance`). Members are on the
same scene when their identities agree (when both have one) or else when their paths resolve to
the same file. A file scene is stored as its resolved absolute path; an older run's path as typed
is resolved against the current folder, as it always was.

The scene opened again is checked against the recorded identity (sha256, or size and
modification time over 1 GiB): a missing or changed scene is refused, never scored. An older
run without an identity is scored with a warning that its scene could not be verified. A member
trained on a cube changed in Python after it was read (its identity says ``changed_in_memory``)
is refused too: its file opened again holds other values than those it was trained on.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hsi_app.errors import ConfigError, HSIError, HSIWarning
from hsi_app.io.cube import Cube
from hsi_app.provenance import same_contents, scene_key


@dataclass(frozen=True)
class MemberScene:
    """One member's record of its training scene.

    Attributes:
        run: the member's run folder (for messages).
        data: config.json ``data``: an absolute path, a path as typed (older runs), a built-in name, or ''.
        key: :func:`~hsi_app.provenance.scene_key` of its ``data_identity`` (``None`` when not recorded).
        changed: trained on a cube changed in Python after it was read (``data_identity`` ``changed_in_memory``),
            so its file opened again holds other values.
    """

    run: str
    data: str
    key: tuple[Any, ...] | None
    changed: bool = False

    @property
    def config(self) -> str:
        """``RUN/config.json``, as messages name it."""
        return str(Path(self.run) / "config.json")

    @property
    def resolved(self) -> str:
        """``data`` as an absolute path (a relative one against the current folder); a built-in name or '' as is."""
        from hsi_app.io.builtin import is_builtin

        if not self.data or (is_builtin(self.data) and not Path(self.data).exists()):
            return self.data
        return str(Path(self.data).resolve())


def member_scene(run: str | os.PathLike[str], config: Any) -> MemberScene:
    """The :class:`MemberScene` of a run folder and its loaded :class:`~hsi_app.checkpoint.RunConfig`."""
    scene = ((config.extra or {}).get("data_identity") or {}).get("scene")
    changed = bool((scene or {}).get("changed_in_memory"))
    return MemberScene(str(run), str(config.data or ""), scene_key(scene), changed)


def same_scene(a: MemberScene, b: MemberScene) -> bool:
    """Whether two members were trained on one scene: their identities agree when both have one, else their
    resolved paths do (two empty ``data`` never do)."""
    if a.key is not None and b.key is not None:
        return same_contents(a.key, b.key) or same_contents(b.key, a.key)  # either may be the older record
    return bool(a.data) and a.resolved == b.resolved


def common_scene(scenes: Sequence[MemberScene]) -> MemberScene | None:
    """The first member's scene when every pair of members shares it, else ``None``."""
    if not scenes or any(not same_scene(a, b) for i, a in enumerate(scenes) for b in scenes[i + 1:]):
        return None
    return scenes[0]


def open_member_scene(scenes: Sequence[MemberScene]) -> Cube:
    """Open the scene the members name (see :func:`common_scene`), checked against their recorded identity.

    Each member's path is tried in turn; the first that opens and whose contents match the
    identity is used. Without any identity (older runs) the first that opens is used, with an
    :class:`~hsi_app.errors.HSIWarning` that it could not be verified.

    Raises:
        ConfigError: the members name no scene, a member was trained on a cube changed in Python after it was
            read, or none of their paths holds the recorded scene.
    """
    from hsi_app.io.open import open_cube
    from hsi_app.provenance import data_identity

    first = scenes[0]
    if not first.data:
        raise ConfigError(f"{first.config} names no scene file (trained on a cube made in Python); pass --data SCENE "
                          "to score the ensemble")
    changed = next((s for s in scenes if s.changed), None)
    if changed is not None:
        raise ConfigError(f"{changed.config}: trained on a cube changed in Python after it was read from "
                          f"{changed.data} (scaled, masked, a band subset or a crop), so that file holds other values; "
                          "pass --data SCENE (data=cube in Python) with the values it was trained on")
    keys = {s.key for s in scenes if s.key is not None}
    for path in dict.fromkeys(s.data for s in scenes if s.data):
        try:
            cube = open_cube(path)
        except HSIError:
            continue
        found = scene_key(data_identity(cube)["scene"])
        if keys and not any(same_contents(key, found) for key in keys):
            continue
        if not keys:
            warnings.warn(f"{first.config} names scene {path} without a record of its contents (a run from before "
                          "session 49), so the scene scored could not be verified to be the one it was trained on; "
                          "pass --data SCENE to name it", HSIWarning, stacklevel=2)
        return cube
    raise ConfigError(f"{first.config} names scene {first.data}, which is missing or has changed since training; "
                      "pass --data SCENE")
