"""A full disk (or ``ulimit -f``) while writing: one ``hsi: error:`` line naming the output, exit 2,
no GDAL internals on stderr, nothing partial left and an existing output untouched.

The commands run in-process under a small ``RLIMIT_FSIZE`` (Python ignores SIGXFSZ, so writes past
the limit fail with EFBIG, as on a full disk they fail with ENOSPC).
"""

from __future__ import annotations

import errno
import re
import resource
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from cli_runner import assert_one_error_line
from hsi_app.cli.main import main
from hsi_app.io import disk_full
from hsi_app.io.atomic import atomic_path, atomic_paths, staged_run_dir
from hsi_app.io.cog import write_class_map
from hsi_app.io.disk_full import DiskFullError
from tiny_runs import make_run

pytestmark = pytest.mark.skipif(signal.getsignal(signal.SIGXFSZ) != signal.SIG_IGN,
                                reason="needs SIGXFSZ ignored (as Python sets it) to test with RLIMIT_FSIZE")
TRANSFORM = from_origin(440000.0, 3750000.0, 30.0, 30.0)
FULL = "the disk is full (or a file-size limit was hit) while writing; free space or choose another --out"


@contextmanager
def file_size_limit(nbytes: int) -> Iterator[None]:
    """Writes past ``nbytes`` into any file fail with EFBIG while the block runs."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def run_limited(capfd: pytest.CaptureFixture[str], nbytes: int, *args: str) -> tuple[int, str]:
    """``hsi ARGS`` under a file-size limit -> (exit status, everything written to fd 2, C libraries included)."""
    capfd.readouterr()
    with file_size_limit(nbytes):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, capfd.readouterr().err


def hidden(folder: Path) -> list[str]:
    """Temporary / staging names left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 120 x 110, 5-band scene with 3 classes in blocks, its labels, a class map and an untrained run."""
    root = tmp_path_factory.mktemp("full")
    labels = np.zeros((120, 110), np.uint8)
    labels[5:55, 5:50], labels[5:55, 60:105], labels[65:115, 5:105] = 1, 2, 3
    rng = np.random.default_rng(0)
    cube = (rng.random((5, 120, 110)) * 1000 + labels.astype(np.int16) * 500).astype(np.int16)
    paths = {"cube": root / "scene.tif", "labels": root / "labels.tif", "map": root / "map.tif"}
    for path, data in ((paths["cube"], cube), (paths["labels"], labels[None])):
        with rasterio.open(path, "w", driver="GTiff", height=120, width=110, count=data.shape[0], dtype=data.dtype,
                           crs="EPSG:32616", transform=TRANSFORM) as ds:
            ds.write(data)
            if data.shape[0] == 5:
                ds.update_tags(wavelength="450,550,650,750,850", wavelength_units="nm")
    noisy = np.where(rng.random(labels.shape) < 0.3, rng.integers(1, 4, labels.shape), labels).astype(np.uint8)
    write_class_map(paths["map"], noisy, np.full(labels.shape, 0.7, np.float32), crs="EPSG:32616",
                    transform=TRANSFORM, class_names=["unlabelled", "a", "b", "c"])
    paths["run"] = make_run(root / "run", in_chans=5, num_classes=3,
                            wavelengths=np.array([450.0, 550.0, 650.0, 750.0, 850.0]), like=cube)
    return paths


def check_failed_cleanly(code: int, err: str, out: Path, shown: str) -> None:
    """One error line naming ``shown``, no GDAL/libtiff lines, no temporary files beside ``out``."""
    assert_one_error_line(code, err, f"{shown}: {FULL}")
    assert "_tiff" not in err and "TIFF" not in err
    assert hidden(out.parent) == []


def test_predict_cog_on_a_full_disk_keeps_the_existing_map(scene: dict[str, Path], tmp_path: Path,
                                                           capfd: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "pred.tif"
    args = ["predict", "--model", str(scene["run"]), "--input", str(scene["cube"]), "--out", str(out), "--quiet"]
    main(args)  # the previous map (predict replaces a class map only: another file at --out is refused up front)
    previous = out.read_bytes()
    capfd.readouterr()
    code, err = run_limited(capfd, 8_000, *args)
    check_failed_cleanly(code, err, out, str(out))
    assert out.read_bytes() == previous


def test_a_cog_whose_tiff_write_failed_silently_is_not_published(tmp_path: Path) -> None:
    """GDAL's COG copy can report a failed write through libtiff only, then return success with a
    truncated file: the write is refused and nothing is left."""
    out = tmp_path / "m.tif"
    with pytest.raises(DiskFullError, match=re.escape(f"m.tif: {FULL}")):
        with atomic_path(out) as tmp:
            tmp.write_bytes(b"truncated")
            disk_full._on_tiff_error(b"_tiffSeekProc", b"No space left on device", None)
    assert list(tmp_path.iterdir()) == []


def test_train_run_folder_on_a_full_disk(scene: dict[str, Path], tmp_path: Path,
                                         capfd: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code, err = run_limited(capfd, 3_000, "train", "--data", str(scene["cube"]), "--labels", str(scene["labels"]),
                            "--model", "test_ssfcn", "--epochs", "1", "--out", str(out), "--quiet")
    check_failed_cleanly(code, err, out, str(out))
    assert not out.exists()


def test_vectorize_geopackage_on_a_full_disk(scene: dict[str, Path], tmp_path: Path,
                                             capfd: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "v.gpkg"
    code, err = run_limited(capfd, 16_000, "vectorize", "--map", str(scene["map"]), "--out", str(out))
    check_failed_cleanly(code, err, out, str(out))
    assert not out.exists()


@pytest.mark.parametrize("option, name", [("--json", "e.json"), ("--confusion", "c.png")])
def test_evaluate_json_and_png_on_a_full_disk(scene: dict[str, Path], tmp_path: Path, option: str, name: str,
                                              capfd: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / name
    code, err = run_limited(capfd, 500, "evaluate", "--map", str(scene["map"]), "--reference", str(scene["labels"]),
                            option, str(out))
    check_failed_cleanly(code, err.splitlines(keepends=True)[-1], out, str(out))
    assert "hsi: error:" not in "".join(err.splitlines(keepends=True)[:-1])
    assert not out.exists()


def test_enospc_in_any_writer_names_the_output_and_leaves_nothing(tmp_path: Path) -> None:
    def full_write(path: Path) -> None:
        path.write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    with pytest.raises(DiskFullError, match=re.escape(f"a.json: {FULL}")):
        with atomic_path(tmp_path / "a.json") as tmp:
            full_write(tmp)
    with pytest.raises(DiskFullError, match=re.escape(f"two.png: {FULL}")):  # the output that was being written
        with atomic_paths({"one": tmp_path / "one.tif", "two": tmp_path / "two.png"}) as tmps:
            tmps["one"].write_bytes(b"done")
            full_write(tmps["two"])
    with pytest.raises(DiskFullError, match=re.escape(f"{tmp_path / 'run'}: {FULL}")):  # the run folder, not the staged file
        with staged_run_dir(tmp_path / "run") as stage:
            with atomic_path(stage / "config.json") as tmp:
                full_write(tmp)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("error", [KeyboardInterrupt(), OSError(errno.EACCES, "Permission denied"), ValueError("x")])
def test_other_failures_are_not_called_a_full_disk(tmp_path: Path, error: BaseException) -> None:
    with pytest.raises(type(error)) as caught:
        with atomic_path(tmp_path / "a.json") as tmp:
            tmp.write_bytes(b"x")
            raise error
    assert caught.value is error
    assert list(tmp_path.iterdir()) == []


def test_libtiff_messages_outside_a_write_are_printed_as_before(capfd: pytest.CaptureFixture[str]) -> None:
    capfd.readouterr()
    disk_full._on_tiff_error(b"_tiffReadProc", b"Input/output error", None)
    assert capfd.readouterr().err == "_tiffReadProc: Input/output error.\n"  # libtiff's own format, on fd 2
