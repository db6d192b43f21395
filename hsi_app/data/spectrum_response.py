"""Band values of sampled spectra: each band's Gaussian response integrated over the piecewise-linear spectrum.

A spectral library is a set of point samples of continuous spectra, often coarser than a sensor's bands
(a 50 nm library against 10 nm bands) or with gaps (deleted channels, blank cells). A weighted mean of the
raw samples (:func:`hsi_app.data.resample.resampling_matrix`, right for cube-to-cube resampling) turns
such a library into a staircase: a band with no sample within its width takes the nearest one. Here each
spectrum is taken as the straight lines between its samples (linear interpolation across its own gaps),
and each band's value is the mean of that curve under the band's Gaussian response ``phi`` over the
spectrum's own range ``[lo, hi]``::

    value_j = integral_lo^hi phi_j(x) s(x) dx / integral_lo^hi phi_j(x) dx

computed exactly, segment by segment (on a segment ``s`` is linear, and in ``t = (x - mu) / sigma``
``integral (a + b t) phi(t) dt = a (Phi(t1) - Phi(t0)) + b (phi(t0) - phi(t1))``), so no grid step
is chosen. A band near the range's edge uses the part of its response inside the range.
"""

from __future__ import annotations

import numpy as np

from hsi_app.data.resample import FWHM_TO_SIGMA

MAX_CELLS = 4_000_000
"""Most (band x segment) terms held at once; bands are done in chunks beyond it."""


def integrate_bands(wavelengths: np.ndarray, values: np.ndarray, centres: np.ndarray, fwhm: np.ndarray) -> np.ndarray:
    """Band values ``(C,)`` of one spectrum sampled at ``wavelengths`` (NaN values are gaps, bridged linearly).

    Args:
        wavelengths: ``(L,)`` sample wavelengths (nm), in any order (they are sorted here).
        values: ``(L,)`` the spectrum; NaN where it has no value. At least one finite value (one value
            gives every band that value).
        centres: ``(C,)`` band centres (nm), each within reach of the spectrum's range (the caller decides
            which bands lie too far outside it).
        fwhm: ``(C,)`` positive, finite band widths (nm).

    Returns:
        ``(C,)`` float64: each band's Gaussian response integrated over the piecewise-linear spectrum,
        normalised over the part of the response inside the spectrum's range; a band whose response
        there vanishes (its centre many widths beyond the range) takes the nearest end value.

    Raises:
        ValueError: no finite value, wavelengths and values of different lengths, or a FWHM or centre
            that is not a finite positive number.
    """
    from scipy.special import ndtr

    wl = np.asarray(wavelengths, dtype=np.float64).ravel()
    v = np.asarray(values, dtype=np.float64).ravel()
    if wl.shape != v.shape:
        raise ValueError(f"integrate_bands: {wl.size} wavelengths but {v.size} values")
    ok = np.isfinite(v) & np.isfinite(wl)
    if not ok.any():
        raise ValueError("integrate_bands: the spectrum has no finite value (every cell is NaN or missing)")
    order = np.argsort(wl[ok], kind="stable")
    x, y = wl[ok][order], v[ok][order]
    mu = np.asarray(centres, dtype=np.float64).ravel()
    sigma = np.asarray(fwhm, dtype=np.float64).ravel() * FWHM_TO_SIGMA
    if sigma.shape != mu.shape:
        raise ValueError(f"integrate_bands: {mu.size} band centres but {sigma.size} FWHM values")
    if not (np.isfinite(sigma).all() and (sigma > 0).all() and np.isfinite(mu).all()):
        raise ValueError("integrate_bands: every band needs a finite centre and a finite FWHM above 0")
    out = np.empty(mu.size, dtype=np.float64)
    chunk = max(1, MAX_CELLS // max(1, x.size))
    for start in range(0, mu.size, chunk):
        m, s = mu[start:start + chunk, None], sigma[start:start + chunk, None]
        t = (x[None, :] - m) / s  # (c, L) sample positions in band widths
        cdf, pdf = ndtr(t), np.exp(-0.5 * t * t) / np.sqrt(2.0 * np.pi)
        dt = np.diff(t, axis=1)
        slope = np.divide(np.diff(y)[None, :], dt, out=np.zeros_like(dt), where=dt > 0)  # per unit of t
        start_value = y[None, :-1] - slope * t[:, :-1]  # the segment's line: start_value + slope * t
        num = (start_value * np.diff(cdf, axis=1) + slope * (pdf[:, :-1] - pdf[:, 1:])).sum(axis=1)
        den = cdf[:, -1] - cdf[:, 0]
        weak = den < 1e-12
        out[start:start + chunk] = np.where(weak, np.where(m[:, 0] < x[0], y[0], y[-1]),
                                            num / np.where(weak, 1.0, den))
    return out


SAME_CENTRE_FWHM = 0.05
"""A library sample this close to a band's centre (in the band's FWHM) sits on it."""


def samples_at_band_centres(wavelengths: np.ndarray, centres: np.ndarray, fwhm: np.ndarray) -> np.ndarray:
    """Per band, the index of the library sample sitting on its centre, or -1: ``(C,)`` int.

    A library resampled to the sensor beforehand (ENVI's spectral library resampling, USGS's convolved
    libraries) holds one value per band, at its centre: integrating the band's response over the
    straight lines between such values would blur it a second time (with FWHM = band spacing, a third
    of each neighbour). The rule looks at each band, on the library's whole wavelength grid (every
    row, whatever a material holds there): a band whose centre has a sample within
    :data:`SAME_CENTRE_FWHM` of its FWHM, and no other sample in its own slot (half a FWHM either side,
    but no further than halfway to the neighbouring band centres), sits on that sample. Only when every band within the library's range does so is the library taken as
    resampled to this sensor, and each band takes its sample as it is; otherwise (a 10 nm library whose
    grid meets some ~10 nm bands' centres by chance) every band is integrated, so neighbouring bands are
    never treated two ways. A library convolved to the full sensor still matches a scene whose bad bands
    were dropped (the library's samples in the gaps are no band's), and a finer library (1 nm, bands at
    whole nm: several samples within each band) is integrated.

    Args:
        wavelengths: ``(L,)`` the library's sample wavelengths (nm), every row.
        centres: ``(C,)`` band centres (nm).
        fwhm: ``(C,)`` band widths (nm).

    Returns:
        ``(C,)`` int: the sample's index for each band, or all -1 when some band within the library's
        range has no sample to itself (then every band is integrated).
    """
    x = np.asarray(wavelengths, dtype=np.float64).ravel()
    mu = np.asarray(centres, dtype=np.float64).ravel()
    out = np.full(mu.size, -1, dtype=np.intp)
    if x.size == 0 or mu.size == 0:
        return out
    width = np.asarray(fwhm, dtype=np.float64).ravel()
    dist = np.abs(x[None, :] - mu[:, None])  # (C, L)
    nearest = dist.argmin(axis=1)
    close = dist[np.arange(mu.size), nearest] <= SAME_CENTRE_FWHM * width
    lo, hi = _own_slots(mu, width)
    alone = ((x[None, :] >= lo[:, None]) & (x[None, :] <= hi[:, None])).sum(axis=1) == 1
    hit = close & alone
    covered = (mu >= x.min() - 0.5 * width) & (mu <= x.max() + 0.5 * width)
    if not hit[covered].all():  # a library on some centres by chance (10 nm grid, ~10 nm bands): integrate all
        return out
    out[hit] = nearest[hit]
    return out


def _own_slots(centres: np.ndarray, fwhm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each band's own stretch of wavelengths: ``(C,)`` low and high ends (nm).

    Half a FWHM either side of its centre, but no further than halfway to the next band centre on
    that side, so bands closer than their FWHM (oversampling imagers, the detector overlap of
    Hyperion or EnMAP near 900-1000 nm) each keep a slot of their own.
    """
    order = np.argsort(centres, kind="stable")
    ordered = centres[order]
    mid = 0.5 * (ordered[1:] + ordered[:-1])
    lo, hi = np.empty_like(centres), np.empty_like(centres)
    lo[order] = np.r_[-np.inf, mid]
    hi[order] = np.r_[mid, np.inf]
    return np.maximum(lo, centres - 0.5 * fwhm), np.minimum(hi, centres + 0.5 * fwhm)
