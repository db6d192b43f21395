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
        wavelengths: ``(L,)`` increasing sample wavelengths (nm).
        values: ``(L,)`` the spectrum; NaN where it has no value. At least two finite values.
        centres: ``(C,)`` band centres (nm), each within reach of the spectrum's range (the caller decides
            which bands lie too far outside it).
        fwhm: ``(C,)`` positive band widths (nm).

    Returns:
        ``(C,)`` float64: each band's Gaussian response integrated over the piecewise-linear spectrum,
        normalised over the part of the response inside the spectrum's range; a band whose response
        there vanishes (its centre many widths beyond the range) takes the nearest end value.
    """
    from scipy.special import ndtr

    ok = np.isfinite(values)
    x = np.asarray(wavelengths, dtype=np.float64)[ok]
    y = np.asarray(values, dtype=np.float64)[ok]
    mu = np.asarray(centres, dtype=np.float64)
    sigma = np.asarray(fwhm, dtype=np.float64) * FWHM_TO_SIGMA
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


def samples_at_band_centres(wavelengths: np.ndarray, centres: np.ndarray, fwhm: np.ndarray) -> np.ndarray | None:
    """Indices ``(C,)`` of the samples when a spectrum is already at the bands, else ``None``.

    A library resampled to the sensor beforehand (ENVI's spectral library resampling, USGS's convolved
    libraries) holds one value per band, at its centre: integrating the band's response over the
    straight lines between such values would blur it a second time (with FWHM = band spacing, a third
    of each neighbour). It is taken as it is when its samples and the bands match one to one: each band
    has a sample within :data:`SAME_CENTRE_FWHM` of its FWHM, and no other sample lies within the bands'
    span, half a FWHM beyond the outer bands included (a finer library, e.g. 1 nm with bands at whole nm,
    is integrated).

    Args:
        wavelengths: ``(L,)`` increasing sample wavelengths with a value (nm).
        centres: ``(C,)`` band centres (nm).
        fwhm: ``(C,)`` band widths (nm).
    """
    x = np.asarray(wavelengths, dtype=np.float64)
    mu = np.asarray(centres, dtype=np.float64)
    if x.size == 0 or mu.size == 0:
        return None
    nearest = np.abs(x[None, :] - mu[:, None]).argmin(axis=1)
    tol = SAME_CENTRE_FWHM * np.asarray(fwhm, dtype=np.float64)
    if not (np.abs(x[nearest] - mu) <= tol).all():
        return None
    half = 0.5 * np.asarray(fwhm, dtype=np.float64)
    within = int(((x >= (mu - half).min()) & (x <= (mu + half).max())).sum())  # samples the bands see
    return nearest if within == np.unique(nearest).size == mu.size else None
