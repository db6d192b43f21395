"""Library messages in the viewer's terms: the fix a message gives is a control of the page.

The readers and the predictor are shared with the CLI, so their messages name its flags
(``pass --resample``, ``Pass --key NAME``). The web page has no flags: :func:`in_viewer_terms`
rewrites those fixes into what the page offers, the "resample bands" checkbox for
``--resample``. The viewer has no variable chooser for a ``.mat`` upload (one cube per
file is what it opens), so ``--key`` becomes "save one cube per .mat file"; it takes no label file, so a
ground truth uploaded as the scene is told to upload the cube instead of "this file with --labels". ``--noise``
is the Denoise tab's noise box, ``--rx-window`` and ``--method rx`` the Detect tab's
window box and method list. The page cannot flag bands bad, so the Python call that fixes
a band with no data at any pixel becomes "remove those bands from the file".
"""

from __future__ import annotations

import re

from hsi_app.predictor import RESAMPLE_HINT

RESAMPLE_LABEL = "resample bands to the model's"
"""Label of the Classify tab's checkbox that does what ``--resample`` does."""
DETECT_RESAMPLE_LABEL = "resample bands to the detector's"
"""Label of the Detect tab's checkbox that does what ``hsi detect --resample`` does."""
RX_WINDOW_LABEL = "rx-local window (inner,outer)"
"""Label of the Detect tab's box that does what ``hsi detect --rx-window`` does."""
PERCENTILE_LABEL = "threshold: score percentile"
"""Label of the Detect tab's threshold slider (:func:`hsi_app.viewer.detect.detect`'s ``quantile``)."""
PERCENTILE_INFO = ("a percentile of all the scene's scores (every score map pooled), not a raw score: 99.9 keeps "
                   "only peaks in the top 0.1 % of the scores. The raw score it stands for, in the detector's own "
                   "units (RX: squared Mahalanobis distance), is shown in the status line and saved as "
                   "\"threshold\" in detect_metrics.json; hsi detect --threshold takes such a raw score.")
"""What the Detect tab's threshold slider means, shown under it (percentile vs raw score)."""
DENOISE_MODEL_LABEL = "Denoising model (denoise runs in models/ or --runs)"
"""Label of the Denoise tab's model list: :func:`hsi_app.viewer.models.list_model_runs` with ``task="denoise"``."""
DETECT_MODEL_LABEL = "learned detector (detect runs in models/ or --runs)"
"""Label of the Detect tab's model list: :func:`hsi_app.viewer.models.list_model_runs` with ``task="detect"``."""
_RESAMPLE_HINT = RESAMPLE_HINT

_KEY_FLAG = r"\.? *Pass --key NAME \(key= in Python\)(?: naming a 3-D array| with one of them)?"
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(re.escape(_RESAMPLE_HINT)),
     f'tick "{RESAMPLE_LABEL}" (Classify tab) to resample spectrally'),
    (re.compile(r"(\d+) 3-D arrays \(H, W, bands\) to choose from; keys found: ([^\n]*?)" + _KEY_FLAG),
     r"\1 3-D arrays (H, W, bands): \2; the viewer cannot choose among them: save one cube per .mat file "
     "and upload that file"),
    (re.compile(r"no 3-D arrays \(H, W, bands\) to choose from; keys found: ([^\n]*?)\. No variable is a cube: "
                r"save the scene in it as one \(H, W, bands\) array, or open the file that holds it"),
     r"no 3-D array (H, W, bands); keys found: \1. Save the cube as a numeric (H, W, bands) array and upload it"),
    (re.compile(r"pass (.+?) as the scene and this file with --labels"),
     r"upload \1 instead: the viewer takes no separate label file (hsi evaluate scores a map against one)"),
    (re.compile(_KEY_FLAG),
     ". The viewer cannot choose a .mat variable: save the cube alone in a .mat file and upload that file"),
    (re.compile(r"resample the cube \(--resample; resample=True in Python\)"),
     f'tick "{RESAMPLE_LABEL}" (Classify tab) to resample the cube'),
    (re.compile(r"pass --resample \(resample=True in Python\)"), f'tick "{RESAMPLE_LABEL}" (Classify tab)'),
    (re.compile(r"--noise ('[^']*'|\"[^\"]*\")"), r"noise \1 (Denoise tab)"),
    (re.compile(r"--rx-window (-?\d+,-?\d+): use odd sizes INNER < OUTER, e\.g\. 5,21 \(window=\(inner, outer\) in Python\)"),
     f'"{RX_WINDOW_LABEL}" \\1 (Detect tab): use odd sizes INNER < OUTER, e.g. 5,21'),
    (re.compile(r"pass --rx-window INNER,OUTER \(window=\(inner, outer\) in Python\) with"),
     f'set the "{RX_WINDOW_LABEL}" box (Detect tab) to INNER,OUTER with'),
    (re.compile(r"use global rx \(--method rx\)"), "pick the method rx (global RX)"),
    (re.compile(r"; flag them bad first \((?:cube = )?hsi_app\.io\.empty_bands\.flag_empty_bands\(cube\), "
                r"as hsi \w+ does\)(?:, then give target spectra at its good bands)?"),
     "; remove those bands from the file (or give them data) and open it again"),
    (re.compile(r" ?See previous exception for details\."), ""),  # rasterio's; the page shows no other exception
)


def in_viewer_terms(text: str) -> str:
    """``text`` with the CLI's fixes replaced by the viewer's (see the module docstring).

    Example:
        ``"x: 8 bands do not match the model's 200 bands; pass --resample to resample spectrally"``
        becomes ``"...; tick "resample bands to the model's" (Classify tab) to resample spectrally"``.
    """
    out = str(text)
    for pattern, replacement in _RULES:
        out = pattern.sub(replacement, out)
    return out


def for_detect_tab(text: str) -> str:
    """``text`` with the band-mismatch fix pointing at the Detect tab's checkbox (a learned detector's
    mismatch would otherwise name the Classify tab's, which does not apply there)."""
    return str(text).replace(_RESAMPLE_HINT, f'tick "{DETECT_RESAMPLE_LABEL}" (Detect tab) to resample spectrally')
