"""Downloads: atomic writes, checksums, SHA256SUMS records, dataset fetch and `hsi datasets fetch`.

Sources are seeded random files served through ``file://`` URLs, plus a local HTTP server
on 127.0.0.1 for the ``requests`` path (no internet needed).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hsi_app.cli.datasets_cmd import datasets
from hsi_app.data import download
from hsi_app.data.catalog import DEFAULT_CATALOG_PATH, load_catalog
from hsi_app.data.download import (
    SUMS_FILENAME,
    DownloadError,
    fetch,
    fetch_dataset,
    read_sums,
    record_sum,
    sha256_file,
)
from hsi_app.errors import ChecksumError, ConfigError, DatasetNotFoundError, HSIError, UnknownKeyError

SIZE = 300_001  # not a multiple of the chunk sizes used below


def _blob(path: Path, seed: int, size: int = SIZE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes())
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def source(tmp_path: Path) -> Path:
    return _blob(tmp_path / "remote" / "scene.mat", seed=0)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.part"))


def test_fetch_file_url_copies_and_records(source: Path, tmp_path: Path) -> None:
    dst = tmp_path / "out" / "deep" / "scene.mat"
    got = fetch(source.as_uri(), dst, progress=False, chunk_size=4096)
    assert got == dst
    assert dst.read_bytes() == source.read_bytes()
    assert read_sums(dst.parent) == {"scene.mat": _digest(source)}
    line = (dst.parent / SUMS_FILENAME).read_text().strip()
    assert line == f"{_digest(source)}  scene.mat"  # sha256sum format
    assert _leftovers(dst.parent) == []


def test_fetch_with_matching_sha256(source: Path, tmp_path: Path) -> None:
    dst = fetch(source.as_uri(), tmp_path / "scene.mat", sha256=_digest(source).upper(), progress=False)
    assert dst.read_bytes() == source.read_bytes()


def test_checksum_mismatch_leaves_nothing(source: Path, tmp_path: Path) -> None:
    wrong = "0" * 64
    dst = tmp_path / "out" / "scene.mat"
    with pytest.raises(ChecksumError) as info:
        fetch(source.as_uri(), dst, sha256=wrong, progress=False)
    msg = str(info.value)
    assert "scene.mat" in msg and wrong in msg and _digest(source) in msg and "check the URL" in msg
    assert "SHA256SUMS" not in msg  # a published digest: no record to remove
    assert "\n" not in msg and isinstance(info.value, OSError)
    assert not dst.exists() and _leftovers(dst.parent) == []
    assert read_sums(dst.parent) == {}


def test_a_download_of_another_size_than_the_catalogs_is_refused(source: Path, tmp_path: Path) -> None:
    dst = tmp_path / "out" / "scene.mat"
    with pytest.raises(DownloadError, match=f"received {SIZE} bytes, the catalog gives 123; the file is truncated"):
        fetch(source.as_uri(), dst, size=123, progress=False)
    assert not dst.exists() and _leftovers(dst.parent) == []
    assert fetch(source.as_uri(), dst, size=SIZE, progress=False).read_bytes() == source.read_bytes()


def test_existing_verified_file_is_not_downloaded_again(source: Path, tmp_path: Path) -> None:
    dst = fetch(source.as_uri(), tmp_path / "scene.mat", progress=False)
    source.unlink()  # a second download would now fail
    assert fetch(source.as_uri(), dst, progress=False) == dst
    assert fetch(source.as_uri(), dst, sha256=_digest(dst), progress=False) == dst


def test_corrupted_local_copy_is_detected_via_record(source: Path, tmp_path: Path) -> None:
    dst = fetch(source.as_uri(), tmp_path / "scene.mat", progress=False)
    data = bytearray(dst.read_bytes())
    data[1234] ^= 0xFF
    dst.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match=r"scene\.mat: local copy does not match the digest recorded in .*SUMS.*"
                                            r"fetch again \(--force in the CLI, overwrite=True in Python\)"):
        fetch(source.as_uri(), dst, progress=False)
    assert dst.read_bytes() == bytes(data), "a corrupted copy is reported, not silently replaced"
    # overwrite=True repairs it from the source
    fetch(source.as_uri(), dst, progress=False, overwrite=True)
    assert dst.read_bytes() == source.read_bytes()


def test_existing_file_with_wrong_published_sha256(source: Path, tmp_path: Path) -> None:
    dst = _blob(tmp_path / "scene.mat", seed=1)
    with pytest.raises(ChecksumError, match="does not match the published sha256"):
        fetch(source.as_uri(), dst, sha256=_digest(source), progress=False)


def test_deleted_file_is_refetched_and_checked_against_record(source: Path, tmp_path: Path) -> None:
    dst = fetch(source.as_uri(), tmp_path / "scene.mat", progress=False)
    dst.unlink()
    _blob(source, seed=7)  # upstream content changed since the first download
    with pytest.raises(ChecksumError, match=r"recorded in .*SHA256SUMS.*remove its line from SHA256SUMS"):
        fetch(source.as_uri(), dst, progress=False)
    assert not dst.exists() and _leftovers(tmp_path) == []


def test_unrecorded_existing_file_gets_recorded(tmp_path: Path) -> None:
    dst = _blob(tmp_path / "manual.mat", seed=2)
    assert fetch((tmp_path / "absent").as_uri(), dst, progress=False) == dst
    assert read_sums(tmp_path) == {"manual.mat": _digest(dst)}


def test_stale_part_file_is_replaced(source: Path, tmp_path: Path) -> None:
    dst = tmp_path / "scene.mat"
    (tmp_path / "scene.mat.part").write_bytes(b"left over from an interrupted run")
    fetch(source.as_uri(), dst, progress=False)
    assert dst.read_bytes() == source.read_bytes() and _leftovers(tmp_path) == []


def _failing_after(n_chunks: int, exc: BaseException):  # noqa: ANN202 - test double for download._iter_file
    def fake(path: Path, chunk_size: int) -> tuple[int, Iterator[bytes]]:
        def chunks() -> Iterator[bytes]:
            for _ in range(n_chunks):
                yield b"x" * chunk_size
            raise exc

        return 10 * chunk_size, chunks()

    return fake


def test_part_file_removed_when_stream_fails(source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(download, "_iter_file", _failing_after(3, ConnectionResetError("peer reset")))
    dst = tmp_path / "scene.mat"
    with pytest.raises(DownloadError, match=r"download interrupted after 3072 bytes .*run again") as info:
        fetch(source.as_uri(), dst, progress=False, chunk_size=1024)
    assert source.as_uri() in str(info.value)
    assert not dst.exists() and _leftovers(tmp_path) == []


def test_part_file_removed_on_ctrl_c(source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(download, "_iter_file", _failing_after(2, KeyboardInterrupt()))
    dst = tmp_path / "scene.mat"
    with pytest.raises(KeyboardInterrupt):
        fetch(source.as_uri(), dst, progress=False, chunk_size=1024)
    assert not dst.exists() and _leftovers(tmp_path) == []


def test_truncated_stream_is_an_error(source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def short(path: Path, chunk_size: int) -> tuple[int, Iterator[bytes]]:
        return SIZE, iter([b"y" * 100])

    monkeypatch.setattr(download, "_iter_file", short)
    with pytest.raises(DownloadError, match=f"received 100 of {SIZE} bytes"):
        fetch(source.as_uri(), tmp_path / "scene.mat", progress=False)
    assert not (tmp_path / "scene.mat").exists() and _leftovers(tmp_path) == []


def test_missing_source_is_a_download_error(tmp_path: Path) -> None:
    url = (tmp_path / "nowhere.mat").as_uri()
    with pytest.raises(DownloadError) as info:
        fetch(url, tmp_path / "out" / "x.mat", progress=False)
    assert str(info.value).startswith(f"{url}: cannot read source file") and "check the URL" in str(info.value)
    assert isinstance(info.value, OSError) and isinstance(info.value, HSIError)
    assert not (tmp_path / "out").exists()  # the folders this call created are removed again
    (tmp_path / "kept").mkdir()  # ... but never a folder that was there before
    with pytest.raises(DownloadError):
        fetch(url, tmp_path / "kept" / "a" / "b" / "x.mat", progress=False)
    assert (tmp_path / "kept").is_dir() and list((tmp_path / "kept").iterdir()) == []


@pytest.mark.parametrize(
    ("url", "sha", "pattern"),
    [("ftp://example.org/x.mat", None, "unsupported URL scheme 'ftp'"),
     ("file://server/share/x.mat", None, "must be local"),
     ("file:///tmp/x.mat", "xyz", "is not a 64-digit hex digest")],
)  # fmt: skip
def test_bad_arguments(tmp_path: Path, url: str, sha: str | None, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        fetch(url, tmp_path / "x.mat", sha256=sha, progress=False)


def test_progress_bar_reports_total(source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    fetch(source.as_uri(), tmp_path / "scene.mat", progress=True, chunk_size=50_000)
    err = capsys.readouterr().err  # not a terminal: one plain line
    assert err.startswith("scene.mat: 293.0 KiB/293.0 KiB in ") and err.count("\n") == 1  # 300,001 B = 293 KiB
    terminal = io.StringIO()
    terminal.isatty = lambda: True  # type: ignore[method-assign]
    monkeypatch.setattr("sys.stderr", terminal)
    fetch(source.as_uri(), tmp_path / "again.mat", progress=True, chunk_size=50_000)
    live = terminal.getvalue()
    assert "again.mat" in live and "100%" in live and "293k" in live  # tqdm's bar


def test_record_sum_keeps_other_entries(tmp_path: Path) -> None:
    record_sum(tmp_path, "b.mat", "b" * 64)
    record_sum(tmp_path, "a.mat", "A" * 64)
    record_sum(tmp_path, "b.mat", "c" * 64)
    assert read_sums(tmp_path) == {"a.mat": "a" * 64, "b.mat": "c" * 64}
    assert sha256_file(tmp_path / SUMS_FILENAME) == _digest(tmp_path / SUMS_FILENAME)


# ---------------------------------------------------------------------------- HTTP via requests


def test_http_download(http_root: tuple[str, Path], tmp_path: Path) -> None:
    base, root = http_root
    src = _blob(root / "cube.mat", seed=3)
    dst = fetch(f"{base}/cube.mat", tmp_path / "dl" / "cube.mat", sha256=_digest(src), progress=False, chunk_size=8192)
    assert dst.read_bytes() == src.read_bytes()


def test_http_404_is_a_download_error(http_root: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = http_root
    with pytest.raises(DownloadError, match=r"/missing\.mat: the server has no file there \(HTTP 404"):
        fetch(f"{base}/missing.mat", tmp_path / "missing.mat", progress=False)
    assert list(tmp_path.glob("missing.mat*")) == []


def test_connection_refused_is_a_download_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match=rf"127\.0\.0\.1:{port}/x\.mat: download failed \(NewConnectionError: Failed to establish a new "
                       r"connection: \[Errno 111\] Connection refused\); check your network"):
        fetch(f"http://127.0.0.1:{port}/x.mat", tmp_path / "x.mat", progress=False)


# ---------------------------------------------------------------------------- datasets


def _tiny_catalog(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A catalog with one downloadable (file://) and one manual dataset; returns (catalog, cube, labels)."""
    remote = tmp_path / "remote"
    cube = _blob(remote / "Tiny.mat", seed=4)
    labels = _blob(remote / "Tiny_gt.mat", seed=5, size=1000)
    base = json.loads(DEFAULT_CATALOG_PATH.read_text(encoding="utf-8"))["datasets"]
    # random bytes, not .mat content: mat_keys null, so no variable is checked after download
    tiny = dict(next(d for d in base if d["name"] == "salinas"), name="tiny", aliases=["tn"], mat_keys=None)
    tiny["files"] = [
        {"role": "cube", "filename": "Tiny.mat", "url": cube.as_uri(), "sha256": _digest(cube), "size_bytes": None},
        {"role": "labels", "filename": "Tiny_gt.mat", "url": labels.as_uri(), "sha256": None, "size_bytes": None},
    ]
    # random bytes again: mat_keys null (test_download_hand_placed checks the content of hand-placed .mat files)
    manual = dict(next(d for d in base if d["name"] == "whu_hi_longkou"), name="manual", aliases=[], mat_keys=None)
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"format_version": 1, "datasets": [tiny, manual]}), encoding="utf-8")
    return catalog, cube, labels


def test_fetch_dataset_downloads_every_file(tmp_path: Path) -> None:
    catalog, cube, labels = _tiny_catalog(tmp_path)
    root = tmp_path / "data"
    dest = fetch_dataset("TN", root, progress=False, catalog=catalog)
    assert dest == root / "tiny"
    assert (dest / "Tiny.mat").read_bytes() == cube.read_bytes()
    assert (dest / "Tiny_gt.mat").read_bytes() == labels.read_bytes()
    assert read_sums(dest) == {"Tiny.mat": _digest(cube), "Tiny_gt.mat": _digest(labels)}
    # second run: nothing to download (sources gone), everything verified
    cube.unlink()
    labels.unlink()
    assert fetch_dataset("tiny", root, progress=False, catalog=load_catalog(catalog)) == dest


def test_fetch_dataset_manual_files(tmp_path: Path) -> None:
    catalog, _, _ = _tiny_catalog(tmp_path)
    root = tmp_path / "data"
    with pytest.raises(DatasetNotFoundError) as info:
        fetch_dataset("manual", root, progress=False, catalog=catalog)
    msg = str(info.value)
    assert msg.startswith("manual: WHU_Hi_LongKou.mat has no direct download URL; download the .mat files by hand")
    assert "rsidea.whu.edu.cn" in msg and str(root / "manual" / "WHU_Hi_LongKou.mat") in msg
    assert not (root / "manual").exists(), "nothing is created when a manual file is missing"
    for name, seed in (("WHU_Hi_LongKou.mat", 8), ("WHU_Hi_LongKou_gt.mat", 9)):
        _blob(root / "manual" / name, seed=seed, size=500)
    assert fetch_dataset("manual", root, progress=False, catalog=catalog) == root / "manual"
    assert set(read_sums(root / "manual")) == {"WHU_Hi_LongKou.mat", "WHU_Hi_LongKou_gt.mat"}


@pytest.mark.parametrize(("name", "hint"), [("whu_hi_honghu", "rsidea.whu.edu.cn"), ("enmap", "EOWEB GeoPortal")])
def test_real_catalog_manual_entries_explain_where_to_get_data(tmp_path: Path, name: str, hint: str) -> None:
    with pytest.raises(DatasetNotFoundError, match=hint) as info:
        fetch_dataset(name, tmp_path, progress=False)
    assert "\n" not in str(info.value)


def test_fetch_dataset_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(UnknownKeyError, match="did you mean salinas"):
        fetch_dataset("salinass", tmp_path, progress=False)


def test_cli_fetch(tmp_path: Path) -> None:
    catalog, cube, _ = _tiny_catalog(tmp_path)
    root = tmp_path / "data"
    args = ["fetch", "tiny", "--root", str(root), "--no-progress", "--catalog", str(catalog)]
    result = CliRunner().invoke(datasets, args)
    assert result.exit_code == 0, result.output
    cube_path = root / "tiny" / "Tiny.mat"
    assert result.output.splitlines() == [
        f"tiny: Tiny.mat, Tiny_gt.mat in {root / 'tiny'} (sha256 recorded in SHA256SUMS)",
        f"tiny: pass --data {cube_path} (or --input, or hsi info {cube_path})",  # the path to use, not the folder
    ]
    assert (root / "tiny" / "Tiny.mat").read_bytes() == cube.read_bytes()
    # --force downloads again and repairs a corrupted copy
    (root / "tiny" / "Tiny.mat").write_bytes(b"broken")
    assert CliRunner().invoke(datasets, args).exit_code != 0
    assert CliRunner().invoke(datasets, [*args, "--force"]).exit_code == 0
    assert (root / "tiny" / "Tiny.mat").read_bytes() == cube.read_bytes()


def test_cli_fetch_quiet_and_progress_in_a_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--quiet`` (as in every other command) hides the progress; in a log the progress is plain lines."""
    from cli_runner import run_main

    catalog, _, _ = _tiny_catalog(tmp_path)
    done = "tiny: Tiny.mat, Tiny_gt.mat in"
    code, out, err = run_main(capsys, "datasets", "fetch", "tiny", "--root", str(tmp_path / "q"), "--quiet",
                              "--catalog", str(catalog))
    assert code == 0 and out.startswith(done) and err == ""
    code, out, err = run_main(capsys, "datasets", "fetch", "tiny", "--root", str(tmp_path / "p"), "--catalog",
                              str(catalog))
    assert code == 0 and out.startswith(done)
    assert [line.split(":")[0] for line in err.splitlines()] == ["Tiny.mat", "Tiny_gt.mat"], err
    assert "\r" not in err and "\x1b[" not in err and all(" in " in line for line in err.splitlines())


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hsi_app.cli.main import main

    with pytest.raises(SystemExit) as info:
        main(["datasets", "fetch", "indian_pine", "--root", str(tmp_path)])
    assert info.value.code != 0
    err = capsys.readouterr().err.strip()
    assert err.endswith("unknown dataset 'indian_pine'; did you mean indian_pines? See `hsi datasets list`")
    assert "\n" not in err and "Traceback" not in err
