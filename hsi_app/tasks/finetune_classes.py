"""Which classes a fine-tune's head predicts: the base run's, or new ones (``hsi finetune --classes``).

Label ids are only numbers; whether id 3 of the new labels is the base run's class 3 can be
known from names, or from the user. The rule:

* ``base``: the labels are the base run's classes. Named labels are renumbered onto the base's
  ids by name (case and spacing ignored); unnamed ids are taken as the base's ids. The base
  head is kept (LoRA adapts the layers before it) and the map keeps the base's class names.
* ``new``: a new head is trained for the labels' classes ``1..K``, named by the labels or
  ``class k``.
* ``auto`` (default): ``base`` when every labelled class has a name that is one of the base's,
  or when unnamed ids number exactly the base's classes (with a warning listing which id became which
  base class: a label raster numbered in another order would otherwise train and map the wrong
  classes without a word); ``new`` otherwise, with a warning when unnamed ids could be the base's
  (fewer of them than the base has classes).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hsi_app.errors import ConfigError, HSIWarning
from hsi_app.io.labels import class_name_key

CLASS_MODES = ("auto", "base", "new")


@dataclass(frozen=True)
class ClassPlan:
    """The head a fine-tune trains.

    Attributes:
        num_classes: classes of the head, ``K`` (ids ``1..K``).
        class_names: names of ids ``0..K``.
        new_head: a head trained for the labels' classes; False: the base run's head and classes.
        table: label id -> head id, for the labels' ids ``0..max``; ``None`` keeps the ids.
        how: one line on the decision, for progress output.
    """

    num_classes: int
    class_names: list[str]
    new_head: bool
    table: np.ndarray | None
    how: str

    def relabel(self, labels: np.ndarray | None) -> np.ndarray | None:
        """``(H, W)`` label ids on the head's numbering (``None`` stays ``None``)."""
        if labels is None or self.table is None:
            return labels
        return self.table[labels]

    def base_class_names(self) -> list[str] | None:
        """The base run's class names that the labels' ids map onto: entry ``i`` names labels id ``i``.

        With the base's head (``new_head`` False) labels id ``i`` trains, and is saved in the
        fine-tune's ``split.npz`` as, the base's id ``table[i]`` (``i`` itself without a table), so
        entry ``i`` is that base class's name; a labels id no labelled pixel uses reads as entry 0
        (``unlabelled``). ``None`` for a new head: its ids are the labels' own, with no base class.

        Returns:
            Names for labels ids ``0..max`` (``0..K_base`` without a table), or ``None``.
        """
        if self.new_head:
            return None
        if self.table is None:
            return list(self.class_names)
        return [self.class_names[int(b)] for b in self.table]


def _base_id(name: str, base_names: Sequence[str], source: str) -> int | None:
    """The base run's id of class ``name``: its exact spelling first, else the one name equal but for
    case and spacing; None when the base has no such class.

    Raises:
        ConfigError: several base classes equal ``name`` but for case and spacing, none exactly.
    """
    exact = [i for i, n in enumerate(base_names) if i > 0 and n == name]
    if exact:
        return exact[0]
    near = [i for i, n in enumerate(base_names) if i > 0 and class_name_key(n) == class_name_key(name)]
    if len(near) > 1:
        raise ConfigError(f"{source}: class {name!r} matches several base classes ({', '.join(base_names[i] for i in near)})"
                          " but for case; spell it as one of them, or pass --classes new (classes='new' in Python)")
    return near[0] if near else None


def _id_list(names: Sequence[str], ids: Sequence[int], most: int = 6) -> str:
    """``1 = Alfalfa, 2 = Corn`` for the first ``most`` of ``ids`` (``, ...`` when there are more)."""
    shown = [f"{i} = {names[i]}" for i in ids[:most]]
    return ", ".join(shown) + (", ..." if len(ids) > most else "")


def plan_classes(base_names: Sequence[str], label_names: Sequence[str] | None, maps: Sequence[np.ndarray],
                 mode: str = "auto", *, source: str = "labels") -> ClassPlan:
    """Decide the fine-tune's classes from the base run's names and the new labels.

    Args:
        base_names: names of the base run's ids ``0..K_base``.
        label_names: names of the label ids ``0..`` (``None``: unnamed ids).
        maps: the ``(H, W)`` label maps (scene, training, test), 0 = unlabelled.
        mode: ``auto``, ``base`` or ``new`` (module docstring).
        source: the labels, for messages.

    Returns:
        The :class:`ClassPlan`.

    Raises:
        ConfigError: an unknown mode; ``base`` with classes the base run does not have.
    """
    if mode not in CLASS_MODES:
        raise ConfigError(f"--classes {mode}: use one of {', '.join(CLASS_MODES)} (classes= in Python)")
    k_base = len(base_names) - 1
    max_id = max((int(np.max(m)) for m in maps if m.size), default=0)
    present = sorted(set().union(*(np.unique(m[m > 0]).tolist() for m in maps)))
    named = label_names is not None and len(label_names) > max_id
    if named:
        names = [str(n) for n in label_names[: max_id + 1]]  # type: ignore[index]
        base_ids = {i: _base_id(names[i], base_names, source) for i in present}
        unmatched = [names[i] for i in present if base_ids[i] is None]
        if mode == "base" or (mode == "auto" and not unmatched and present):
            if unmatched:
                more = ", ..." if len(base_names) > 5 else ""
                raise ConfigError(f"{source}: classes {', '.join(unmatched[:4])} are not classes of the base run "
                                  f"({', '.join(base_names[1:5])}{more}); rename them or pass --classes new "
                                  "(classes='new' in Python)")
            table = np.zeros(max_id + 1, dtype=np.int32)
            for i in present:
                table[i] = base_ids[i]
            keep = None if np.array_equal(table[present], present) else table
            matched = len(set(table[present].tolist()))
            return ClassPlan(k_base, list(base_names), False, keep,
                             f"{len(present)} label classes matched to {matched} of the base run's by name")
        return ClassPlan(max_id, ["unlabelled", *names[1:]], True, None, f"a new head for {max_id} classes")
    unnamed = ["unlabelled", *[f"class {i}" for i in range(1, max_id + 1)]]
    if mode == "base" or (mode == "auto" and max_id == k_base):
        if max_id > k_base:
            raise ConfigError(f"{source}: label ids go up to {max_id} but the base run has {k_base} classes; "
                              "pass --classes new (classes='new' in Python) for a new head")
        if mode == "auto" and present:
            warnings.warn(f"{source}: label ids 1..{max_id} have no class names, so they are taken as the base run's "
                          f"classes by number ({_id_list(base_names, present)}); if they are other classes, pass "
                          "--classes new (classes='new' in Python), or --classes base to silence this",
                          HSIWarning, stacklevel=2)
        return ClassPlan(k_base, list(base_names), False, None, f"ids taken as the base run's {k_base} classes")
    if mode == "auto" and max_id < k_base:
        warnings.warn(f"{source}: label ids 1..{max_id} have no class names, so they get a new head; if they are the "
                      f"base run's classes ({base_names[1]}, ...), pass --classes base (classes='base' in Python)", HSIWarning, stacklevel=2)
    return ClassPlan(max_id, unnamed, True, None, f"a new head for {max_id} classes")


def replay_plan(base_names: Sequence[str], label_names: Sequence[str] | None, labels: np.ndarray | None,
                mode: str = "auto", *, source: str = "labels") -> ClassPlan:
    """The plan of a fine-tune on these ``--labels`` (:func:`plan_classes`), made quietly, to replay its split.

    ``hsi finetune`` saves its ``split.npz`` on its plan's ids; a replay of that split with the same
    ``--base``, ``--labels`` and ``--classes`` plans the same classes, and the plan's ``table``
    renumbers the split back onto the labels' ids
    (:func:`~hsi_app.io.split_numbering.split_from_base`). The fine-tune itself plans again and
    warns then, so this one does not.

    Args:
        base_names: names of the base run's ids ``0..K_base``.
        label_names: names of the label ids ``0..`` (``None``: unnamed ids).
        labels: the ``(H, W)`` ``--labels`` map (``None``: no labels, nothing to match).
        mode: ``auto``, ``base`` or ``new``.
        source: the labels, for messages.

    Raises:
        ConfigError: as :func:`plan_classes`.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HSIWarning)
        return plan_classes(base_names, label_names, [] if labels is None else [labels], mode, source=source)
