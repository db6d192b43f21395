"""Accuracy and area of a finished class map against reference data (``hsi evaluate``).

A map (``hsi predict``/``hsi train``/``hsi batch`` output, or any paletted class GeoTIFF)
is compared with reference labels on its grid: a label raster, ``.npy``/``.mat``, or
vector polygons/points in any CRS (rasterised onto the map's grid). Classes are matched by
name when both sides carry names (``CLASS_NAMES`` tag, text attributes), else by number.

Reported, all in plain numpy (no torch import):

* the pixel confusion matrix (rows = reference, columns = map; reference pixels where the
  map has no data are counted apart as ``unmapped``), overall accuracy, average accuracy
  (mean producer's accuracy over the reference classes present), Cohen's kappa, and per
  class the producer's accuracy (recall), user's accuracy (precision) and F1, all from
  counts of reference pixels; with a stratified sample the area-weighted OA and producer's
  accuracy (Olofsson et al. 2014, eq. 1-3) are the map's, and are reported beside them;
* mapped area per class (pixel count x pixel area, in hectares when the map has a CRS: on a geographic
  CRS whose rows run along parallels the ground areas of each row's pixels summed,
  :mod:`~hsi_app.tasks.map_row_areas`; a rotated one the pixel's ground area at the map centre; never degrees
  squared);
* the error-adjusted area estimate with a 95 % interval (Olofsson et al. 2014, "Good
  practices for estimating area and assessing accuracy of land change", eq. 9-11 with the
  map classes as strata). It is unbiased only when the reference pixels are a random
  sample within each map class; reference polygons drawn by hand are clustered, so treat
  it as indicative there (the report says so).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np

from hsi_app.errors import HSIWarning, LabelError
from hsi_app.io.labels import class_name_key

M2_PER_HA = 10_000.0
Z95 = 1.959964
AREA_DISTORTION_LIMIT = 0.02  # larger differences between map-unit and ground areas are reported
ASSESS_BLOCK_PX = 1 << 22  # pixels per block of the confusion count (about 32 MB of int64)
UNMATCHED_SHOWN = 5  # reference classes named in the warning about classes the map does not have
SAMPLING_NOTE = (
    "error-adjusted areas assume the reference pixels are a random sample within each map class "
    "(Olofsson et al. 2014); hand-drawn reference polygons are clustered, so read them as indicative"
)


@dataclass(frozen=True)
class MapAccuracy:
    """A map scored against reference labels.

    Attributes:
        class_names: names of classes ``1..K`` (index 0 of the arrays below is class 1).
        confusion: ``(K, K)`` int64 pixel counts, rows = reference, columns = map.
        unmapped: ``(K,)`` reference pixels of each class where the map has no data (0).
        mapped_pixels: ``(K,)`` map pixels of each class over the whole map.
        pixel_area_m2: ground area of one pixel in m² (:func:`pixel_area_m2`), or ``None`` without a CRS.
        mapped_area_m2: ``(K,)`` ground area mapped as each class in m², summed row by row on a geographic
            map whose rows run along parallels (:mod:`~hsi_app.tasks.map_row_areas`); ``None``: every pixel
            has ``pixel_area_m2``.
    """

    class_names: list[str]
    confusion: np.ndarray
    unmapped: np.ndarray
    mapped_pixels: np.ndarray
    pixel_area_m2: float | None
    mapped_area_m2: np.ndarray | None = None

    @classmethod
    def from_joint(cls, class_names: Sequence[str], joint: np.ndarray, pixel_area_m2: float | None,
                   mapped_area_m2: np.ndarray | None = None) -> MapAccuracy:
        """From ``joint``, the ``(K + 1, K + 1)`` int64 pixel counts of reference id (rows) against map class
        (columns), id 0 included (0 = unlabelled reference / no-data map), and ``mapped_area_m2`` ``(K,)`` when
        the map's pixels differ in area (see the class's attributes)."""
        return cls(list(class_names), joint[1:, 1:].copy(), joint[1:, 0].copy(), joint[:, 1:].sum(axis=0),
                   pixel_area_m2, mapped_area_m2)

    def class_areas_m2(self) -> np.ndarray | None:
        """``(K,)`` ground area mapped as each class in m², or ``None`` for a map without ground areas."""
        if self.mapped_area_m2 is not None:
            return np.asarray(self.mapped_area_m2, np.float64)
        if self.pixel_area_m2 is None:
            return None
        return self.mapped_pixels * float(self.pixel_area_m2)

    @property
    def n_reference(self) -> int:
        """Reference pixels that fall on mapped pixels (the confusion matrix total)."""
        return int(self.confusion.sum())

    def scores(self) -> dict[str, Any]:
        """``oa``, ``aa``, ``kappa`` and per-class producer's / user's accuracy and F1.

        Raises:
            LabelError: no reference pixel lies on a mapped pixel.
        """
        cm = self.confusion.astype(np.float64)
        n = cm.sum()
        if n == 0:
            raise LabelError("no reference pixel lies on a mapped pixel; check that the reference covers the map")
        ref_tot, map_tot, hits = cm.sum(axis=1), cm.sum(axis=0), np.diag(cm)
        producers = np.divide(hits, ref_tot, out=np.full_like(hits, np.nan), where=ref_tot > 0)
        users = np.divide(hits, map_tot, out=np.full_like(hits, np.nan), where=map_tot > 0)
        f1 = np.divide(2 * hits, ref_tot + map_tot, out=np.full_like(hits, np.nan), where=(ref_tot + map_tot) > 0)
        oa = hits.sum() / n
        chance = float((ref_tot * map_tot).sum() / n**2)
        kappa = (oa - chance) / (1.0 - chance) if chance < 1.0 else (1.0 if oa == 1.0 else 0.0)
        return {"oa": float(oa), "aa": float(np.nanmean(producers[ref_tot > 0])), "kappa": float(kappa),
                "producers_accuracy": _floats(producers), "users_accuracy": _floats(users), "f1": _floats(f1)}

    def adjusted_areas(self, *, by_pixels: bool = False) -> tuple[np.ndarray, np.ndarray] | None:
        """Error-adjusted area proportions of each class and their standard errors.

        With map-class weights ``W_i`` (share of the mapped area: of mapped pixels, or of the summed ground
        areas where pixels differ in area, ``mapped_area_m2``) and sample counts ``n_ij`` (map ``i``, reference
        ``j``): ``p_j = sum_i W_i n_ij / n_i``, and ``SE(p_j)^2 = sum_i W_i^2 (n_ij/n_i)(1 - n_ij/n_i) / (n_i - 1)``.
        ``by_pixels``: ``W_i`` the share of mapped pixels whatever their areas (a share of the pixel count).

        Returns:
            ``(proportions (K,), standard errors (K,))`` of the mapped area, or ``None`` when
            a mapped class has fewer than two reference pixels (its stratum cannot be
            estimated).
        """
        strata = self._strata(by_pixels)
        if strata is None:
            return None
        weights, share, n_i = strata
        p = (weights[:, None] * share).sum(axis=0)
        var_terms = np.divide(weights[:, None] ** 2 * share * (1.0 - share), (n_i - 1)[:, None],
                              out=np.zeros_like(share), where=(n_i > 1)[:, None])
        return p, np.sqrt(var_terms.sum(axis=0))

    def adjusted_accuracy(self) -> tuple[float, list[float | None]] | None:
        """Overall and producer's accuracy estimated for the whole map (Olofsson et al. 2014,
        eq. 1-3): each map class's sample counts weighted by its mapped share,
        ``p_ij = W_i n_ij / n_i``. The plain :meth:`scores` count reference pixels, which
        over-weights rare map classes when they were sampled more densely. User's accuracy
        is the same either way.

        Returns:
            ``(OA, producer's accuracy per class (None where the estimated area is 0))``, or
            ``None`` as for :meth:`adjusted_areas`.
        """
        strata = self._strata()
        if strata is None:
            return None
        weights, share, _ = strata
        p = weights[:, None] * share  # (map i, reference j) estimated area proportions
        diag, ref_share = np.diag(p), p.sum(axis=0)
        producers = np.divide(diag, ref_share, out=np.full_like(diag, np.nan), where=ref_share > 0)
        return float(diag.sum()), _floats(producers)

    def _strata(self, by_pixels: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """``(W_i (K,), n_ij / n_i (K, K) with rows = map class, n_i (K,))``, or ``None`` when a
        mapped class has fewer than two reference pixels; ``W_i`` by pixel count with ``by_pixels``."""
        counts = self.confusion.T.astype(np.float64)  # rows = map class (strata), columns = reference
        n_i = counts.sum(axis=1)
        mapped = (self.mapped_pixels if self.mapped_area_m2 is None or by_pixels
                  else np.asarray(self.mapped_area_m2, np.float64))
        weights = mapped / (mapped.sum() or 1)  # W_i: the share of the map's area (pixels of unequal area: m²)
        if np.any(n_i[weights > 0] < 2):
            return None
        share = np.divide(counts, n_i[:, None], out=np.zeros_like(counts), where=n_i[:, None] > 0)
        return weights, share, n_i

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly report: scores, confusion matrix, per-class rows, areas and the sampling note.

        ``per_class`` has a row (with its ``id``) for each class found in the reference or the map;
        a class in neither (a gap in the ids, such as 2-4 of a run trained on ids 1, 5 and 9) has
        none. The confusion matrix keeps every class of ``class_names``.
        """
        s = self.scores()
        areas = self.class_areas_m2()
        adjusted = self.adjusted_areas()
        # pixels of unequal ground area: the pixel estimate weighs the strata by pixels, so it stays a pixel count
        adjusted_px = self.adjusted_areas(by_pixels=True) if self.mapped_area_m2 is not None else adjusted
        adjusted_acc = self.adjusted_accuracy()
        total = float(self.mapped_pixels.sum())
        total_m2 = float(areas.sum()) if self.mapped_area_m2 is not None and areas is not None else None
        unit = 1.0 / M2_PER_HA  # one pixel area: the products in the order of the code before row areas (same bits)
        rows = []
        for k, name in enumerate(self.class_names):
            if not (self.confusion[k].sum() or self.unmapped[k] or self.mapped_pixels[k]):
                continue  # in neither the reference nor the map (ids 2-4 of a run on ids 1, 5, 9): no row
            row: dict[str, Any] = {
                "class": name, "id": k + 1, "reference_pixels": int(self.confusion[k].sum()),
                "unmapped_reference_pixels": int(self.unmapped[k]),
                "producers_accuracy": s["producers_accuracy"][k], "users_accuracy": s["users_accuracy"][k],
                "f1": s["f1"][k], "mapped_pixels": int(self.mapped_pixels[k]),
            }
            if areas is not None:
                row["mapped_area_ha"] = (float(areas[k] / M2_PER_HA) if self.mapped_area_m2 is not None
                                         else float(self.mapped_pixels[k] * self.pixel_area_m2 * unit))
            if adjusted is not None and adjusted_px is not None and adjusted_acc is not None:
                row["producers_accuracy_adjusted"] = adjusted_acc[1][k]
                p, se = adjusted
                row["adjusted_pixels"] = float(adjusted_px[0][k] * total)
                row["adjusted_pixels_ci95"] = float(Z95 * adjusted_px[1][k] * total)
                if total_m2 is not None:
                    row["adjusted_area_ha"] = float(p[k] * total_m2 / M2_PER_HA)
                    row["adjusted_area_ci95_ha"] = float(Z95 * se[k] * total_m2 / M2_PER_HA)
                elif self.pixel_area_m2 is not None:
                    row["adjusted_area_ha"] = float(p[k] * total * self.pixel_area_m2 * unit)
                    row["adjusted_area_ci95_ha"] = float(Z95 * se[k] * total * self.pixel_area_m2 * unit)
            rows.append(row)
        return {
            "oa": s["oa"], "aa": s["aa"], "kappa": s["kappa"],
            "oa_adjusted": adjusted_acc[0] if adjusted_acc is not None else None, "n_reference": self.n_reference,
            "n_unmapped": int(self.unmapped.sum()), "class_names": self.class_names,
            "confusion_matrix": self.confusion.tolist(), "per_class": rows, "pixel_area_m2": self.pixel_area_m2,
            "adjusted_area_note": SAMPLING_NOTE if adjusted is not None else self._no_adjusted_note(),
        }

    def _no_adjusted_note(self) -> str:
        """Why there are no error-adjusted areas, naming the mapped classes with under 2 reference pixels."""
        n_i = self.confusion.sum(axis=0)
        few = [f"{self.class_names[i]} ({int(n_i[i])})"
               for i in np.flatnonzero((self.mapped_pixels > 0) & (n_i < 2))]
        shown = ", ".join(few[:UNMATCHED_SHOWN]) + (f" and {len(few) - UNMATCHED_SHOWN} more"
                                                    if len(few) > UNMATCHED_SHOWN else "")
        return f"no error-adjusted areas: mapped class{'es' if len(few) != 1 else ''} with fewer than 2 reference " \
               f"pixels: {shown}"


def _floats(values: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else float(v) for v in values]


def assess_map(
    classes: np.ndarray,
    reference: np.ndarray,
    class_names: list[str],
    *,
    pixel_area_m2: float | None = None,
    row_areas_m2: np.ndarray | None = None,
) -> MapAccuracy:
    """Score a class map against reference labels on the same grid.

    Args:
        classes: ``(H, W)`` int map classes, 0 = no data.
        reference: ``(H, W)`` int reference classes, 0 = unlabelled.
        class_names: names of classes ``1..K`` (K at least the largest id on either side).
        pixel_area_m2: area of one pixel in m² (``None``: areas in pixels only).
        row_areas_m2: ``(H,)`` area of a pixel of each row in m² (a geographic map,
            :func:`~hsi_app.tasks.map_row_areas.row_pixel_areas_m2`): class areas are their sums.

    Returns:
        :class:`MapAccuracy`.

    Raises:
        LabelError: different shapes, negative ids, or ids above ``len(class_names)``.
    """
    cls, ref = np.asarray(classes), np.asarray(reference)
    if cls.shape != ref.shape:
        raise LabelError(f"reference {ref.shape} and map {cls.shape} differ in size; put the reference on the map's grid")
    k = len(class_names)
    for what, arr in (("map", cls), ("reference", ref)):
        lo, hi = int(arr.min(initial=0)), int(arr.max(initial=0))
        if lo < 0 or hi > k:
            raise LabelError(f"{what} class ids span {lo}..{hi} but only {k} classes are named; pass all class names")
    # one joint histogram of (reference, map) pairs, 0 included, row block by row block so
    # the temporaries stay small: joint[r, c] counts reference r against map class c
    joint = np.zeros((k + 1) * (k + 1), dtype=np.int64)
    flat_cls, flat_ref = cls.reshape(-1), ref.reshape(-1)
    for i in range(0, flat_cls.size, ASSESS_BLOCK_PX):
        pair = flat_ref[i:i + ASSESS_BLOCK_PX].astype(np.int64) * (k + 1)
        pair += flat_cls[i:i + ASSESS_BLOCK_PX]
        joint += np.bincount(pair, minlength=joint.size)
    mapped_m2 = None
    if row_areas_m2 is not None:
        from hsi_app.tasks.map_row_areas import summed_areas_m2

        mapped_m2 = summed_areas_m2(cls, row_areas_m2, k + 1)[1:]
    return MapAccuracy.from_joint(class_names, joint.reshape(k + 1, k + 1), pixel_area_m2, mapped_m2)


class PixelArea(NamedTuple):
    """Which pixel area the areas of a map use (:func:`measure_pixel_area`).

    Attributes:
        m2: area of one pixel in m², or ``None`` when it cannot be known.
        kind: ``"map-unit"``: ``|det(transform)|`` x the squared linear unit of a projected CRS that keeps area
            at the map centre; ``"centre-ground"``: the ground area of the pixel at the map centre, measured on the
            ellipsoid (a geographic CRS, or a projection that does not keep area there, such as Web Mercator);
            ``"none"``: ``m2`` is ``None``.
        varies: a warning said that this one value does not hold across the map (a projection that does not keep
            area at the centre or at the corners; a geographic map whose rows' pixels differ by more than
            :data:`AREA_DISTORTION_LIMIT`, or with rows beyond the poles).
    """

    m2: float | None
    kind: Literal["map-unit", "centre-ground", "none"]
    varies: bool


def pixel_area_m2(transform: Any, crs: Any, shape: tuple[int, int] | None = None, *,
                  warn_variation: bool = True, source: str | os.PathLike[str] | None = None) -> float | None:
    """Area of one pixel in m² on the ground: a projected CRS (any linear unit) or a geographic one (degrees),
    else ``None`` (no CRS, another kind of CRS such as a local or engineering one, or a geographic pixel off the
    globe).

    Map units are ground metres only where the projection keeps area (UTM to within 0.1 %).
    With ``shape`` ``(H, W)`` the pixel at the map centre is also measured on the ellipsoid;
    where that differs by more than :data:`AREA_DISTORTION_LIMIT` (Web Mercator: 2.4x at
    50° N), an :class:`~hsi_app.errors.HSIWarning` says so and the ground area is returned; where it does not but
    a corner pixel's ground area does (a polar stereographic map), a warning says that the map-unit area, which is
    returned, does not hold across the map.
    On a geographic CRS a pixel's area is never its size in degrees (or grads) squared: it is measured on the
    ellipsoid (the pixel at the map centre, or the first pixel without ``shape``); it shrinks with the
    cosine of the latitude, so where pixels of rows across the map differ by more than the limit a warning
    says that one value at the centre stands for the whole map.

    ``warn_variation=False`` leaves out both warnings that one value does not hold across the map (the corners of
    a projected map, the rows of a geographic one), for a caller that sums the ground areas row by row
    (:func:`~hsi_app.tasks.map_row_areas.ground_areas`); the warnings that the centre's map-unit area is not its
    ground area, or that rows lie beyond the poles, are given all the same. ``source``: the map's file, named first
    in each warning line. :func:`measure_pixel_area` also says which of these areas it is.
    """
    return _measure(transform, crs, shape, warn_variation, _named(source)).m2


def measure_pixel_area(transform: Any, crs: Any, shape: tuple[int, int] | None = None, *,
                       warn_variation: bool = True, source: str | os.PathLike[str] | None = None) -> PixelArea:
    """:func:`pixel_area_m2` (same arguments, same warnings) with which area it is: a :class:`PixelArea`."""
    return _measure(transform, crs, shape, warn_variation, _named(source))


def _measure(transform: Any, crs: Any, shape: tuple[int, int] | None, warn_variation: bool, prefix: str) -> PixelArea:
    """The body of :func:`pixel_area_m2` / :func:`measure_pixel_area` (its warnings name their caller's line)."""
    if crs is None or not (getattr(crs, "is_projected", False) or getattr(crs, "is_geographic", False)):
        return PixelArea(None, "none", False)
    if crs.is_geographic:
        centre, varies = _geographic_pixel_area_m2(transform, crs, shape or (1, 1), warn_variation, prefix)
        return PixelArea(centre, "none" if centre is None else "centre-ground", varies)
    factor = float(crs.linear_units_factor[1])
    planar = abs(transform.a * transform.e - transform.b * transform.d) * factor**2
    if shape is None:
        return PixelArea(planar, "map-unit", False)
    ground = _ground_pixel_area_m2(transform, crs, shape)
    if ground is None or abs(ground / planar - 1.0) <= AREA_DISTORTION_LIMIT:
        varies = warn_variation and _warn_if_corners_distorted(transform, crs, shape, planar, prefix)
        return PixelArea(planar, "map-unit", varies)
    warnings.warn(
        f"{prefix}{crs.to_string()} does not keep area: a pixel at the map centre covers {ground:,.4g} m² on the ground "
        f"but {planar:,.4g} m² in map units; areas use the ground value at the centre, which varies across the "
        "map. Reproject the map to an equal-area or UTM CRS for exact areas", HSIWarning, stacklevel=3)
    return PixelArea(ground, "centre-ground", True)


def _named(source: str | os.PathLike[str] | None) -> str:
    """``"map.tif: "`` to start a warning line about the map ``source``, ``""`` when it is not known."""
    return f"{source}: " if source is not None and str(source) else ""


def _warn_if_corners_distorted(transform: Any, crs: Any, shape: tuple[int, int], planar: float,
                               prefix: str = "") -> bool:
    """One :class:`~hsi_app.errors.HSIWarning` when the map-unit area ``planar`` (m²) of a projected map, right at
    its centre, is more than :data:`AREA_DISTORTION_LIMIT` off the ground area of a corner pixel (a polar
    stereographic map of Greenland: true scale at 70° N, 7 % more area per pixel at 60° N); True when it warned."""
    h, w = shape
    corners = [(0, 0), (0, w - 1), (h - 1, 0), (h - 1, w - 1)]
    areas = [_ground_pixel_areas_m2(transform, crs, shape, [r], col=c)[0] for r, c in corners]
    known = [a for a in areas if a is not None]
    if not known or max(abs(a / planar - 1.0) for a in known) <= AREA_DISTORTION_LIMIT:
        return False
    warnings.warn(
        f"{prefix}{crs.to_string()} does not keep area across the map: its corner pixels cover {min(known):,.4g} to "
        f"{max(known):,.4g} m² on the ground, but {planar:,.4g} m² in map units, which the areas use (within "
        f"{AREA_DISTORTION_LIMIT:.0%} at the map centre). Reproject the map to an equal-area CRS for exact areas", HSIWarning, stacklevel=4)
    return True


AREA_SAMPLE_ROWS = 65
"""Rows of a geographic map whose pixel areas are compared for the variation warning (evenly spread, with the
first, centre and last ones)."""


def _geographic_pixel_area_m2(transform: Any, crs: Any, shape: tuple[int, int],
                              warn_variation: bool = True, prefix: str = "") -> tuple[float | None, bool]:
    """Ellipsoidal area in m² of the centre pixel of an ``(H, W)`` grid in angular units (``None`` off the globe),
    and whether it warned: when pixels of :data:`AREA_SAMPLE_ROWS` rows from edge to edge (a map spanning the
    equator has its largest ones inside) differ by more than :data:`AREA_DISTORTION_LIMIT`, or some rows lie off
    the globe."""
    h, w = shape
    if h < 2:
        return _ground_pixel_area_m2(transform, crs, shape), False
    rows = sorted({0, h - 1, h // 2, *np.linspace(0, h - 1, min(h, AREA_SAMPLE_ROWS)).round().astype(int).tolist()})
    areas = _ground_pixel_areas_m2(transform, crs, shape, rows)  # one CRS and transformer for all rows
    centre = areas[rows.index(h // 2)]
    if centre is None:
        return None, False
    known = [a for a in areas if a is not None]
    if len(known) < len(areas):
        warnings.warn(
            f"{prefix}{crs.to_string()}: some rows of the map lie beyond the poles, so their pixels have no area; areas use "
            f"{centre:,.4g} m², the pixel at the map centre. Check the map's transform", HSIWarning, stacklevel=4)
        return centre, True
    if warn_variation and max(known) / min(known) - 1.0 > AREA_DISTORTION_LIMIT:
        warnings.warn(
            f"{prefix}{crs.to_string()} is in angular units: a pixel covers {min(known):,.4g} to {max(known):,.4g} m² on the "
            f"ground across the map; areas use {centre:,.4g} m², the pixel at the map centre. "
            "Reproject the map to an equal-area or UTM CRS for exact areas", HSIWarning, stacklevel=4)
        return centre, True
    return centre, False


def _ground_pixel_area_m2(transform: Any, crs: Any, shape: tuple[int, int]) -> float | None:
    """Ellipsoidal area in m² of the pixel at the centre of an ``(H, W)`` grid, or ``None``."""
    return _ground_pixel_areas_m2(transform, crs, shape, [shape[0] // 2])[0]


def _ground_pixel_areas_m2(transform: Any, crs: Any, shape: tuple[int, int], rows: list[int],
                           col: int | None = None) -> list[float | None]:
    """Ellipsoidal area in m² of the pixel in the centre column (or column ``col``) of each of ``rows`` (``None``
    where it lies off the globe, or where the CRS cannot be taken to longitude/latitude).

    The corners go to the CRS's own geographic CRS, whose angles (degrees, grads...) are turned into degrees,
    and the polygon's area is taken on its ellipsoid (a sphere too: ``Geod(a, b)``).
    """
    from pyproj import CRS, Geod, Transformer

    try:
        proj = CRS.from_wkt(crs.to_wkt())
        geographic = proj.geodetic_crs
        to_lonlat = Transformer.from_crs(proj, geographic, always_xy=True)
        to_degrees = float(np.degrees(geographic.axis_info[0].unit_conversion_factor))  # per angular unit
        ellipsoid = geographic.ellipsoid
        geod = Geod(a=ellipsoid.semi_major_metre, b=ellipsoid.semi_minor_metre)
    except Exception:  # noqa: BLE001 - no inverse projection here: keep the planar area
        return [None] * len(rows)
    c = shape[1] // 2 if col is None else col
    areas: list[float | None] = []
    for r in rows:
        try:
            corners = [transform @ (c + dc, r + dr) for dc, dr in ((0, 0), (1, 0), (1, 1), (0, 1))]
            lon, lat = to_lonlat.transform([p[0] for p in corners], [p[1] for p in corners])
            lon, lat = np.asarray(lon, float) * to_degrees, np.asarray(lat, float) * to_degrees
            if not (np.isfinite(lat).all() and np.abs(lat).max() <= 90.0):
                areas.append(None)
                continue
            area = abs(geod.polygon_area_perimeter(lon.tolist(), lat.tolist())[0])
        except Exception:  # noqa: BLE001 - a point PROJ cannot invert
            areas.append(None)
            continue
        areas.append(area if np.isfinite(area) and area > 0 else None)
    return areas


def merge_class_names(map_names: list[str] | None, ref_names: list[str] | None, ref: np.ndarray,
                      n_map: int, *, source: str = "reference") -> tuple[np.ndarray, list[str]]:
    """Renumber reference ids onto the map's classes by name, adding reference-only classes.

    Names match ignoring case and spacing (``corn-notill`` is the map's ``Corn-notill``).

    Args:
        map_names: names for map ids ``0..K`` (``None``: numbers only).
        ref_names: names for reference ids ``0..R`` (``None``: numbers only).
        ref: ``(H, W)`` reference ids.
        n_map: largest map class id present.
        source: the reference file, for messages.

    Returns:
        ``(reference ids on the map's numbering, names of classes 1..K')``. Renumbered (classes matched by
        name) ids are uint8 when K' is at most 255 (a copy of 1 byte per pixel, not 4), else int32; ids matched
        by number come back as given (any integer dtype).

    Raises:
        LabelError: a negative reference id, a reference id without a name, or no reference class in
            the reference pixels whose name is one of the map's (every pixel would count as an error).
    """
    ref = np.asarray(ref)
    flat = ref.reshape(-1)
    if flat.size and int(flat.min()) < 0:
        raise LabelError(f"{source}: negative class ids ({int(flat.min())}); use 0 for unlabelled")
    from hsi_app.io.block_counts import bincount_blocks

    counts = bincount_blocks(flat, int(flat.max(initial=0)) + 1)
    table, names = class_table(map_names, ref_names, counts, n_map, source=source)
    if table is None:
        return ref, names
    table = table.astype(np.uint8 if len(names) <= 255 else np.int32)
    out = np.empty(ref.shape, table.dtype)
    out_flat = out.reshape(-1)
    for i in range(0, flat.size, ASSESS_BLOCK_PX):  # blocks: a fancy index is turned into intp too
        out_flat[i:i + ASSESS_BLOCK_PX] = table[flat[i:i + ASSESS_BLOCK_PX]]
    return out, names


def class_table(map_names: list[str] | None, ref_names: list[str] | None, ref_counts: np.ndarray, n_map: int, *,
                source: str = "reference") -> tuple[np.ndarray | None, list[str]]:
    """How reference ids map onto the map's classes (:func:`merge_class_names`), from the reference's histogram.

    Args:
        map_names, ref_names, n_map, source: as for :func:`merge_class_names`.
        ref_counts: ``(R + 1,)`` reference pixels of each id ``0..R`` (``np.bincount`` of the reference).

    Returns:
        ``(table, names of classes 1..K')``: ``table[r]`` is the map's id for reference id ``r``, or
        ``None`` when the classes match by number (ids kept as they are).

    Raises:
        LabelError: as :func:`merge_class_names`.
    """
    counts = np.asarray(ref_counts)
    present = np.flatnonzero(counts)
    ref_max = int(present.max(initial=0))
    used = present[present > 0]
    if map_names is None or ref_names is None:  # match by number
        k = max(n_map, ref_max, len(map_names or [""]) - 1)
        names = [(map_names[i] if map_names and i < len(map_names) else f"class {i}") for i in range(1, k + 1)]
        _warn_ids_not_in_map(counts, used, n_map, map_names, source)
        return None, names
    if ref_max >= len(ref_names):
        raise LabelError(f"reference class {ref_max} has no name among its {len(ref_names)} class names")
    names = list(map_names[1:])
    lookup = {class_name_key(n): i + 1 for i, n in enumerate(names)}
    table = np.zeros(max(len(ref_names), ref_max + 1), dtype=np.int32)
    for rid, name in enumerate(ref_names):
        if rid == 0:
            continue
        if class_name_key(name) not in lookup:
            names.append(name)
            lookup[class_name_key(name)] = len(names)
        table[rid] = lookup[class_name_key(name)]
    if used.size and not (table[used] <= len(map_names) - 1).any():
        theirs = ", ".join(str(ref_names[i]) for i in used[:4])
        raise LabelError(f"{source}: none of its classes ({theirs}{', ...' if used.size > 4 else ''}) is one of the "
                         f"map's ({', '.join(map_names[1:5])}, ...); name them as the map does, or give class ids")
    _warn_unmatched(counts, used[table[used] > len(map_names) - 1], ref_names, map_names, source)
    return table, names


def _warn_ids_not_in_map(counts: np.ndarray, used: np.ndarray, n_map: int, map_names: list[str] | None,
                         source: str) -> None:
    """One :class:`~hsi_app.errors.HSIWarning` when reference ids (matched by number) are no class of a map that names
    its classes ``0..K``: ids above ``K`` (a reference on another numbering); every pixel of them counts as an error.
    A map without names says nothing of the classes it could have, so a reference class it never shows is an
    ordinary error there."""
    if map_names is None:
        return
    top = max(n_map, len(map_names) - 1)
    extra = used[used > top]
    if not extra.size:
        return
    shown = ", ".join(str(int(i)) for i in extra[:UNMATCHED_SHOWN])
    more = f" and {extra.size - UNMATCHED_SHOWN} more" if extra.size > UNMATCHED_SHOWN else ""
    pct = 100.0 * counts[extra].sum() / max(int(counts[1:].sum()), 1)
    warnings.warn(f"{source}: reference class id{'s' if extra.size != 1 else ''} {shown}{more} "
                  f"({pct:.1f}% of the reference pixels) {'are' if extra.size != 1 else 'is'} no class of the map "
                  f"(its classes go up to {top}), so every such pixel counts as an error; check that the reference "
                  "uses the map's class numbers, or give both class names", HSIWarning, stacklevel=4)


def _warn_unmatched(counts: np.ndarray, unmatched: np.ndarray, ref_names: list[str], map_names: list[str],
                    source: str) -> None:
    """One :class:`~hsi_app.errors.HSIWarning` naming the reference classes (up to 5) whose name is none of the
    map's, with their share of the reference pixels (``counts``: pixels of each reference id): every such pixel
    counts as an error (a naming slip such as ``CORN - NOTILL`` for ``Corn-notill`` scores near 0 %)."""
    if not unmatched.size:
        return
    shown = ", ".join(str(ref_names[i]) for i in unmatched[:UNMATCHED_SHOWN])
    more = f" and {unmatched.size - UNMATCHED_SHOWN} more" if unmatched.size > UNMATCHED_SHOWN else ""
    share = 100.0 * counts[unmatched].sum() / max(int(counts[1:].sum()), 1)
    warnings.warn(f"{source}: {unmatched.size} reference class{'es match' if unmatched.size != 1 else ' matches'} no map "
                  f"class by name ({shown}{more}; {share:.1f}% of the reference pixels), so every pixel of them "
                  f"counts as an error; names match ignoring case and spacing, the map's are "
                  f"{', '.join(str(n) for n in map_names[1:UNMATCHED_SHOWN + 1])}"
                  f"{', ...' if len(map_names) > UNMATCHED_SHOWN + 1 else ''}", HSIWarning, stacklevel=4)


def evaluate_map(
    map_path: str | os.PathLike[str],
    reference_path: str | os.PathLike[str] | np.ndarray | Any,
    *,
    attribute: str = "class",
    key: str | None = None,
    layer: str | None = None,
    progress: bool = False,
) -> MapAccuracy:
    """Read a class-map GeoTIFF and reference labels on its grid, and score them.

    A GeoTIFF reference on exactly the map's grid is counted strip by strip
    (:func:`~hsi_app.tasks.map_accuracy_windows.evaluate_windowed`: memory follows a strip of
    rows, not the map); other references are read whole onto the map's grid.

    Args:
        map_path: class map (band 1 = class, 0 = no data; ``CLASS_NAMES`` tag optional).
        reference_path: label raster (GeoTIFF on the map's grid, ``.npy``, ``.mat``) or vector
            file in any CRS (rasterised onto the map's grid); or an ``(H, W)`` integer array (numpy,
            or a DataArray such as ``cube.coords["label"]``) on the map's grid, taken as a ``.npy``
            file's would be (class ids as the map's, 0 = unlabelled; only its shape can be checked).
        attribute: vector column holding the class (number or name).
        key: ``.mat`` variable holding the labels.
        layer: layer of a vector reference with several layers (refused without it).
        progress: show the steps (reading the map, reading or rasterising the reference, counting),
            or a bar over the strips of a windowed count, for maps of at least
            :data:`PROGRESS_MIN_PIXELS` pixels.

    Returns:
        :class:`MapAccuracy`. A run's own ``map.tif`` (beside its ``split.npz``) scored against a reference that
        labels its training pixels warns so (:mod:`~hsi_app.tasks.map_training_overlap`).

    Raises:
        DatasetNotFoundError / CubeReadError / InvalidDataError: missing or unreadable map (one line with the
            fix, :func:`~hsi_app.io.cog.read_class_map`). DatasetNotFoundError / LabelError: missing, unreadable or
        misaligned reference, or one with no labelled pixel on a classified map pixel.
    """
    from hsi_app.progress import steps
    from hsi_app.tasks.map_training_overlap import training_overlap_note

    show = progress and _map_pixels(map_path) >= PROGRESS_MIN_PIXELS
    windowed = _windowed(map_path, reference_path, key, layer, show)
    if windowed is not None:
        acc = _checked(windowed, map_path, str(reference_path))
    else:
        with steps("evaluate", 3, enabled=show) as begin:
            begin("reading the map")
            acc = _evaluate_whole(map_path, reference_path, attribute, key, layer, begin)
    note = training_overlap_note(map_path, reference_path, attribute=attribute, key=key, layer=layer)
    if note is not None:  # a run's own map against its training labels: the scores are not its test scores
        warnings.warn(note, HSIWarning, stacklevel=2)
    return acc


PROGRESS_MIN_PIXELS = 4_000_000
"""Maps of fewer pixels are scored in a few seconds: no progress is shown for them."""


def _map_pixels(map_path: str | os.PathLike[str]) -> int:
    """Pixels of a GeoTIFF map from its header (0 when it cannot be opened: the read says why)."""
    import rasterio

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with rasterio.open(map_path) as ds:
                return int(ds.width) * int(ds.height)
    except Exception:  # noqa: BLE001 - any failure is reported by the real read
        return 0


def _windowed(map_path: str | os.PathLike[str], reference: Any, key: str | None, layer: str | None,
              show: bool) -> MapAccuracy | None:
    """The strip-by-strip score of a GeoTIFF reference on the map's grid, or ``None`` for any other reference."""
    from hsi_app.io.labels import sniff_label_format
    from hsi_app.tasks.map_accuracy_windows import evaluate_windowed

    if not isinstance(reference, (str, os.PathLike)) or key is not None or layer is not None:
        return None
    try:
        if not Path(reference).is_file() or sniff_label_format(Path(reference)) != "tiff":
            return None
    except (LabelError, OSError):
        return None
    return evaluate_windowed(map_path, reference, progress=show)


def reference_on_map_grid(map_path: str | os.PathLike[str], cmap: Any, reference_path: str | os.PathLike[str], *,
                          attribute: str = "class", key: str | None = None,
                          layer: str | None = None) -> tuple[np.ndarray, list[str] | None]:
    """Reference labels ``(H, W)`` on the grid of the class map ``cmap`` (:func:`~hsi_app.io.cog.read_class_map`'s
    result for ``map_path``), whatever their format (a raster on the grid, ``.npy``, ``.mat``, a vector file in any
    CRS), and their class names (None when they have none)."""
    from hsi_app.io.cube import make_cube
    from hsi_app.io.labels import EVALUATE_KEY_FIX, read_labels
    from hsi_app.io.vector import GRID_NAME_ATTR

    grid = make_cube(cmap.classes[None], crs=cmap.crs, transform=cmap.transform, source=str(map_path))
    grid.attrs[GRID_NAME_ATTR] = f"the map {map_path}"  # vector messages name the map, not "the cube"
    return read_labels(Path(reference_path), grid, key=key, attribute=attribute, layer=layer, name_key=EVALUATE_KEY_FIX)


def _evaluate_whole(map_path: str | os.PathLike[str], reference_path: Any, attribute: str, key: str | None,
                    layer: str | None, begin: Any) -> MapAccuracy:
    """:func:`evaluate_map` with the map and the reference read whole (``begin``: names each step)."""
    from hsi_app.io.cog import read_class_map
    from hsi_app.io.labels import sniff_label_format

    cmap = read_class_map(map_path, confidence=False)
    begin("reading the reference")
    if isinstance(reference_path, (str, os.PathLike)):
        ref, ref_names = reference_on_map_grid(map_path, cmap, reference_path, attribute=attribute, key=key,
                                               layer=layer)
        source = str(reference_path)
    else:  # an array in hand (cube.hsi.labels): labels on the map's grid, as a .npy file's
        ref, ref_names, source = _array_reference(reference_path, cmap.classes.shape), None, "reference array"
    if cmap.class_names is None and ref_names is not None and sniff_label_format(Path(reference_path)) == "vector":
        used = ", ".join(str(ref_names[i]) for i in np.unique(ref[ref > 0])[:4])
        raise LabelError(f"{reference_path}: its classes are names ({used}) but the map {map_path} has none, so "
                         f"they cannot be matched to its class numbers; give the reference a numeric '{attribute}' "
                         "(the map's ids) or score a map that names its classes (hsi predict writes them)")
    begin("counting")
    n_map = int(cmap.classes.max(initial=0))
    ref, names = merge_class_names(cmap.class_names, ref_names, ref, n_map, source=source)
    if n_map > len(names):  # a map whose own names stop short (assess_map's line would not name the file)
        from hsi_app.io.cog import CLASS_NAMES_TAG

        raise LabelError(f"{map_path}: map class ids span 0..{n_map} but only {len(names)} classes are named; name "
                         f"every class in its {CLASS_NAMES_TAG} tag (hsi predict writes one per class)")
    from hsi_app.tasks.map_row_areas import ground_areas

    area, rows = ground_areas(cmap.transform, cmap.crs, cmap.classes.shape, source=map_path)
    acc = assess_map(cmap.classes, ref, names, pixel_area_m2=area, row_areas_m2=rows)
    return _checked(acc, map_path, source)


def _checked(acc: MapAccuracy, map_path: str | os.PathLike[str], source: str) -> MapAccuracy:
    """``acc``, or one line when no reference pixel lies on a classified pixel of the map.

    Raises:
        LabelError: every labelled pixel on the map's no-data, or no labelled pixel at all.
    """
    if acc.n_reference == 0:
        labelled = int(acc.unmapped.sum())
        raise LabelError(f"{source}: none of its {labelled} labelled pixels on the map's grid lies on a classified "
                         f"pixel of {map_path} (all fall on its no-data, class 0); check that the reference covers "
                         "the mapped area" if labelled else
                         f"{source}: no labelled pixel on the grid of {map_path} (every feature or pixel is class 0 "
                         "or unlabelled); check the class attribute and values")
    return acc


def _array_reference(reference: Any, shape: tuple[int, int]) -> np.ndarray:
    """An ``(H, W)`` reference given as an array (numpy, DataArray), checked as labels on a map of ``shape``.

    Raises:
        LabelError: not an array, or not ``(H, W)`` whole class ids (:func:`~hsi_app.io.cube.check_labels`).
    """
    from hsi_app.io.cube import check_labels

    if not hasattr(reference, "shape"):
        raise LabelError(f"evaluate_map: the reference is a {type(reference).__name__}; pass a label file path or an "
                         "(H, W) integer array on the map's grid")
    return check_labels(np.asarray(reference), shape, "reference array")


def format_report(report: dict[str, Any]) -> str:
    """A text table of :meth:`MapAccuracy.to_dict` for the terminal."""
    has_area = report["pixel_area_m2"] is not None
    unit = "ha" if has_area else "px"
    width = max([5, *(len(r["class"]) for r in report["per_class"])])
    adjusted = report.get("oa_adjusted")
    lines = [
        f"OA {100 * report['oa']:.2f}%  AA {100 * report['aa']:.2f}%  kappa {report['kappa']:.4f}  "
        f"({report['n_reference']} reference pixels on the map, {report['n_unmapped']} on no-data; "
        "counts of reference pixels)",
        *([f"area-weighted OA {100 * adjusted:.2f}% (Olofsson et al. 2014; producer's accuracy in brackets)"]
          if adjusted is not None else []),
        f"{'class':<{width}}  {'ref px':>8}  {'producer [area-wt]':>19}  {'user':>7}  {'mapped ' + unit:>12}  "
        f"{'adjusted ' + unit + ' (95% CI)':>26}",
    ]

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.1f}%"

    for r in report["per_class"]:
        mapped = r.get("mapped_area_ha", r["mapped_pixels"])
        adj = r.get("adjusted_area_ha", r.get("adjusted_pixels"))
        ci = r.get("adjusted_area_ci95_ha", r.get("adjusted_pixels_ci95"))
        adj_text = "-" if adj is None else f"{adj:,.1f} ± {ci:,.1f}"
        producer = pct(r["producers_accuracy"])
        if "producers_accuracy_adjusted" in r:
            producer += f" [{pct(r['producers_accuracy_adjusted'])}]"
        lines.append(f"{r['class']:<{width}}  {r['reference_pixels']:>8}  {producer:>19}  "
                     f"{pct(r['users_accuracy']):>7}  {mapped:>12,.1f}  {adj_text:>26}")
    lines.append(f"note: {report['adjusted_area_note']}")
    return "\n".join(lines)
