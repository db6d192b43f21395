"""Dataset catalog: published facts, internal consistency, lookups, wavelengths, `hsi datasets list`."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hsi_app.cli.datasets_cmd import datasets
from hsi_app.data.catalog import (
    CATALOG_ENV,
    DEFAULT_CATALOG_PATH,
    DatasetEntry,
    default_wavelengths,
    entry_for_mat_key,
    get_dataset,
    load_catalog,
)
from hsi_app.errors import ConfigError, DatasetNotFoundError, HSIError, UnknownKeyError

NAMES = {
    "indian_pines", "salinas", "salinas_full", "pavia_university", "pavia_centre", "whu_hi_longkou",
    "whu_hi_honghu", "whu_hi_hanchuan", "enmap_l2a",
}  # fmt: skip

# Published facts: (height, width, bands, classes, gsd_m, cube key, labels key, range nm)
FACTS = {
    "indian_pines": (145, 145, 200, 16, 20.0, "indian_pines_corrected", "indian_pines_gt", (400, 2500)),
    "salinas": (512, 217, 204, 16, 3.7, "salinas_corrected", "salinas_gt", (400, 2500)),
    "salinas_full": (512, 217, 224, 16, 3.7, "salinas", "salinas_gt", (400, 2500)),
    "pavia_university": (610, 340, 103, 9, 1.3, "paviaU", "paviaU_gt", (430, 860)),
    "pavia_centre": (1096, 715, 102, 9, 1.3, "pavia", "pavia_gt", (430, 860)),
    "whu_hi_longkou": (550, 400, 270, 9, 0.463, "WHU_Hi_LongKou", "WHU_Hi_LongKou_gt", (400, 1000)),
    "whu_hi_honghu": (940, 475, 270, 22, 0.043, "WHU_Hi_HongHu", "WHU_Hi_HongHu_gt", (400, 1000)),
    "whu_hi_hanchuan": (1217, 303, 274, 16, 0.109, "WHU_Hi_HanChuan", "WHU_Hi_HanChuan_gt", (400, 1000)),
    "enmap_l2a": (None, None, 224, 0, 30.0, None, None, (418, 2445)),
}


@pytest.fixture(scope="module")
def catalog() -> dict[str, DatasetEntry]:
    return load_catalog()


def _raw_catalog() -> dict:
    return json.loads(DEFAULT_CATALOG_PATH.read_text(encoding="utf-8"))


def _write(tmp_path: Path, doc: dict | str) -> Path:
    path = tmp_path / "catalog.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return path


def test_catalog_lists_the_expected_datasets(catalog: dict[str, DatasetEntry]) -> None:
    assert set(catalog) == NAMES
    assert all(name == entry.name for name, entry in catalog.items())


@pytest.mark.parametrize("name", sorted(FACTS))
def test_entries_match_published_facts(catalog: dict[str, DatasetEntry], name: str) -> None:
    height, width, bands, classes, gsd, cube_key, gt_key, wl_range = FACTS[name]
    e = catalog[name]
    assert (e.height, e.width, e.bands, e.num_classes) == (height, width, bands, classes)
    assert e.gsd_m == pytest.approx(gsd)
    assert e.wavelength_range_nm == wl_range
    if cube_key is None:
        assert e.mat_keys is None and e.mat_version is None
    else:
        assert dict(e.mat_keys or {}) == {"cube": cube_key, "labels": gt_key}
        assert e.mat_version in ("5", "7.3")


@pytest.mark.parametrize("name", sorted(NAMES))
def test_entries_are_internally_consistent(catalog: dict[str, DatasetEntry], name: str) -> None:
    e = catalog[name]
    lo, hi = e.wavelength_range_nm
    assert 350 <= lo < hi <= 2600, "range must lie within the VNIR-SWIR window"
    assert e.bands > 0
    assert len(set(e.class_names)) == e.num_classes
    assert not {c.lower() for c in e.class_names} & {"unlabelled", "unlabeled", "background", "unknown"}
    roles = [f.role for f in e.files]
    assert len(roles) == len(set(roles)), "one file per role"
    mats = [f for f in e.files if f.filename.endswith(".mat")]
    if mats:  # .mat scenes: a cube and a label file, and keys for both
        assert set(roles) == {"cube", "labels"} and e.num_classes > 0
        assert e.mat_keys is not None and set(e.mat_keys) == {"cube", "labels"}
    for f in e.files:
        assert f.sha256 is None or (len(f.sha256) == 64 and int(f.sha256, 16) >= 0)
        if f.url is None:
            assert e.access or e.homepage, "manual files need instructions"
        else:
            assert f.url.startswith("https://") and f.url.endswith("/" + f.filename)
    if e.dtype is not None:
        assert np.dtype(e.dtype).kind in "uif"
    assert e.citation and e.license_note and e.notes


def test_specific_sources(catalog: dict[str, DatasetEntry]) -> None:
    for name in ("indian_pines", "salinas", "salinas_full", "pavia_university", "pavia_centre"):
        assert all("ehu.eus/ccwintco" in (f.url or "") for f in catalog[name].files)
    for name in ("whu_hi_longkou", "whu_hi_honghu", "whu_hi_hanchuan"):
        e = catalog[name]
        assert all(f.url is None for f in e.files)
        assert "rsidea.whu.edu.cn" in (e.homepage or "") and "sharing" in (e.access or "")
    enmap = catalog["enmap_l2a"]
    assert [f.role for f in enmap.files] == ["product"] and enmap.files[0].url is None
    assert "EOWEB" in (enmap.access or "") and enmap.files[0].is_pattern
    assert catalog["indian_pines"].builtin == "tensorly"
    assert [n for n, e in catalog.items() if e.available_offline] == ["indian_pines"]


# Published digests and sizes of the EHU files; datasets/README.md says where they come from.
EHU_FILES = {
    "Indian_pines_corrected.mat": ("ec2f8808710919d566f70f0d4aa885aae1ddfd42b734aba71c5e12ca65450939", 5_953_527),
    "Indian_pines_gt.mat": ("65c4687a8ab04f6da4789799bc3bc4f6e88bccac3ed6a2e6ae367e5e6b9e429c", 1_125),
    "PaviaU.mat": ("28447fa87f7a5797845e9a189c0da85e23b1d06a4ba7361e5ff44efbf834d2fb", 34_806_917),
    "PaviaU_gt.mat": ("23f6a426928f9b32984adffe659e29f554f9fb6c93b5a107528d308d5087a829", 11_005),
    "Salinas_corrected.mat": ("5ec1c0d22f56d18ecd336f8e35735863c0f160682e04e0c18ef3f89a3334d87d", 26_552_770),
    "Salinas_gt.mat": ("ecfab4d31ef5553f097943235d8ea502038eb4a2067b2ad10b33e37c949955e2", 4_277),
}


def test_ehu_files_carry_published_checksums_and_whu_hi_none(catalog: dict[str, DatasetEntry]) -> None:
    files = {f.filename: f for e in catalog.values() for f in e.files}
    assert {n: (files[n].sha256, files[n].size_bytes) for n in EHU_FILES} == EHU_FILES
    for name in ("whu_hi_longkou", "whu_hi_honghu", "whu_hi_hanchuan"):  # nothing published: never guessed
        assert all(f.sha256 is None and f.size_bytes is None for f in catalog[name].files)


def test_indian_pines_matches_the_tensorly_copy(catalog: dict[str, DatasetEntry]) -> None:
    """The builtin claim is real: tensorly ships the corrected cube with the catalog's shape and classes."""
    from tensorly.datasets import load_indian_pines

    bunch = load_indian_pines()
    e = catalog["indian_pines"]
    assert np.asarray(bunch.tensor).shape == (e.height, e.width, e.bands)
    assert int(np.asarray(bunch.ticks[0]).max()) == e.num_classes
    # Approximate centres keep the water-absorption gaps: much closer to the real ones than a plain linspace.
    real = np.asarray(bunch.ticks[1], dtype=float)
    approx = default_wavelengths(e)
    naive = np.linspace(*e.wavelength_range_nm, e.bands)
    assert np.abs(approx - real).max() < 60.0
    assert np.abs(approx - real).mean() < 0.5 * np.abs(naive - real).mean()


@pytest.mark.parametrize("name", sorted(NAMES))
def test_default_wavelengths_shape_and_range(catalog: dict[str, DatasetEntry], name: str) -> None:
    e = catalog[name]
    wl = default_wavelengths(e)
    assert wl.shape == (e.bands,)
    lo, hi = e.wavelength_range_nm
    if e.wavelengths_nm:  # real centres: spectrometers overlap, so not monotonic everywhere
        assert lo - 5 <= wl.min() and wl.max() <= hi + 5
    else:
        assert np.all(np.diff(wl) > 0)
        assert wl[0] == pytest.approx(lo)
        assert wl[-1] <= hi + 1e-9


def test_default_wavelengths_values() -> None:
    pavia = get_dataset("pavia_university")
    np.testing.assert_allclose(default_wavelengths(pavia)[[0, 51, 102]], [430.0, 645.0, 860.0])
    ip = get_dataset("indian_pines")
    step = 2100.0 / 219  # 220-band grid over 400-2500 nm
    grid = np.delete(np.linspace(400.0, 2500.0, 220), [b - 1 for b in ip.removed_bands])
    # without real centres, bands 104-108 (1-based) are gone: band 103 is followed by band 109
    assert grid[103] - grid[102] == pytest.approx(6 * step)
    # with them (the tensorly copy's AVIRIS centres, two of them corrected), those are what the catalog returns
    from hsi_app.io.indian_pines_bands import CORRECTED_NM

    np.testing.assert_allclose(default_wavelengths(ip), CORRECTED_NM)


@pytest.mark.parametrize(
    ("query", "expected"),
    [("indian_pines", "indian_pines"), ("PaviaU", "pavia_university"), ("WHU-Hi-LongKou", "whu_hi_longkou"),
     ("HongHu", "whu_hi_honghu"), ("enmap", "enmap_l2a"), (" Salinas ", "salinas")],
)  # fmt: skip
def test_get_dataset_accepts_names_and_aliases(query: str, expected: str) -> None:
    assert get_dataset(query).name == expected


def test_unknown_dataset_suggests_close_names() -> None:
    with pytest.raises(UnknownKeyError) as info:
        get_dataset("indian_pine")
    msg = str(info.value)
    assert msg == "unknown dataset 'indian_pine'; did you mean indian_pines? See `hsi datasets list`"
    assert isinstance(info.value, KeyError) and isinstance(info.value, HSIError)


def test_unknown_dataset_without_close_match_lists_names() -> None:
    with pytest.raises(UnknownKeyError, match=r"known: indian_pines, salinas, .*enmap_l2a") as info:
        get_dataset("landsat")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("key", "name", "role"),
    [("indian_pines_corrected", "indian_pines", "cube"), ("indian_pines_gt", "indian_pines", "labels"),
     ("paviaU", "pavia_university", "cube"), ("paviaU_gt", "pavia_university", "labels"),
     ("salinas_corrected", "salinas", "cube"), ("WHU_Hi_HongHu", "whu_hi_honghu", "cube"),
     ("WHU_Hi_HanChuan_gt", "whu_hi_hanchuan", "labels")],
)  # fmt: skip
def test_entry_for_mat_key(key: str, name: str, role: str) -> None:
    hit = entry_for_mat_key(key)
    assert hit is not None
    assert (hit[0].name, hit[1]) == (name, role)


@pytest.mark.parametrize("key", ["paviau", "PAVIAU", "whu_hi_honghu", "indian_pines", "data", ""])
def test_entry_for_mat_key_is_exact_and_case_sensitive(key: str) -> None:
    assert entry_for_mat_key(key) is None


def test_entries_are_frozen_and_hashable(catalog: dict[str, DatasetEntry]) -> None:
    e = catalog["salinas"]
    with pytest.raises(AttributeError):
        e.bands = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        e.mat_keys["cube"] = "x"  # type: ignore[index]
    assert len({hash(x) for x in catalog.values()}) == len(catalog)


def test_load_catalog_from_path_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = _raw_catalog()
    doc["datasets"] = [d for d in doc["datasets"] if d["name"] == "salinas"]
    path = _write(tmp_path, doc)
    assert list(load_catalog(path)) == ["salinas"]
    monkeypatch.setenv(CATALOG_ENV, str(path))
    assert list(load_catalog()) == ["salinas"]
    assert get_dataset("sa").name == "salinas"
    with pytest.raises(UnknownKeyError):
        get_dataset("indian_pines")


def test_missing_catalog_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DatasetNotFoundError) as info:
        load_catalog(tmp_path / "nope.json")
    assert str(info.value) == f"{tmp_path / 'nope.json'}: dataset catalog not found; check the path (--catalog)"
    monkeypatch.setenv(CATALOG_ENV, str(tmp_path / "env.json"))  # the message names what is set, no Python wording
    with pytest.raises(DatasetNotFoundError) as info:
        load_catalog()
    assert str(info.value) == (f"{tmp_path / 'env.json'}: dataset catalog not found; $HSI_CATALOG names it: "
                               "fix or unset $HSI_CATALOG")
    assert "path=" not in str(info.value)


@pytest.mark.parametrize("broken", ["missing", "invalid"])
def test_a_mat_file_reads_without_a_usable_catalog_with_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broken: str
) -> None:
    import warnings

    import scipy.io

    from hsi_app.data import catalog as catalog_module
    from hsi_app.errors import HSIWarning
    from hsi_app.io.open import open_cube

    env = tmp_path / "catalog.json"
    if broken == "invalid":
        env.write_text("{not json", encoding="utf-8")
    monkeypatch.setenv(CATALOG_ENV, str(env))
    monkeypatch.setattr(catalog_module, "_UNUSABLE", set())
    scipy.io.savemat(tmp_path / "plain.mat", {"cube": np.ones((4, 3, 5), np.float32)})
    scipy.io.savemat(tmp_path / "plain_gt.mat", {"gt": np.ones((4, 3), np.uint8)})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cube = open_cube(tmp_path / "plain.mat")
        open_cube(tmp_path / "plain.mat")  # said once per process
    assert cube.sizes["band"] == 5  # read all the same
    msgs = [str(w.message) for w in caught if issubclass(w.category, HSIWarning)]
    assert len(msgs) == 1, msgs
    assert msgs[0].startswith(f"{env}: ") and msgs[0].endswith(
        "; .mat files are read without it (no catalog class names or band centres)")
    assert "\n" not in msgs[0]


def test_invalid_json(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"catalog\.json: invalid JSON at line 1"):
        load_catalog(_write(tmp_path, "{not json"))


def _broken(tmp_path: Path, edit) -> Path:  # noqa: ANN001 - small callable editing one entry
    doc = _raw_catalog()
    entry = copy.deepcopy(next(d for d in doc["datasets"] if d["name"] == "salinas"))
    edit(entry)
    doc["datasets"] = [entry]
    return _write(tmp_path, doc)


@pytest.mark.parametrize(
    ("edit", "pattern"),
    [
        (lambda e: e.pop("bands"), r"entry 'salinas': missing field\(s\) bands"),
        (lambda e: e.update(colour="red"), r"unknown field\(s\) colour"),
        (lambda e: e.update(bands=0), r"'bands' must be a positive integer"),
        (lambda e: e["files"][0].update(role="image"), r"'files\[0\].role' is 'image'"),
        (lambda e: e["files"][0].update(sha256="abc"), r"'files\[0\].sha256' must be 64"),
        (lambda e: e.update(wavelength_range_nm=[900, 400]), r"'wavelength_range_nm' must be \[min, max\]"),
        (lambda e: e.update(removed_bands=[1, 2]), r"minus 'removed_bands' \(2\) must equal 'bands'"),
        (lambda e: e.update(mat_version="7"), r"'mat_version' is '7'"),
        (lambda e: e.update(dtype="uint17"), r"'dtype' 'uint17' is not a numpy dtype"),
        (lambda e: e.update(name="Salinas"), r"'name' must be lower case"),
        (lambda e: e.update(class_names=["a", "a"]), r"'class_names' has duplicates"),
        # names and file names must stay inside ROOT/NAME/ (a shared catalog must not write elsewhere)
        (lambda e: e.update(name=".."), r"'name' must be lower case letters, digits and underscores"),
        (lambda e: e.update(name="a/../../b"), r"not 'a/../../b': it names the folder ROOT/NAME/"),
        (lambda e: e["files"][1].update(filename="../../escaped_gt.mat"), r"'files\[1\].filename' is '\.\./"),
        (lambda e: e["files"][1].update(filename="/tmp/abs_gt.mat"), r"give a plain file name"),
        (lambda e: e["files"][1].update(filename="sub\\x_gt.mat"), r"give a plain file name"),
        (lambda e: e["files"][1].update(filename=".."), r"give a plain file name"),
        (lambda e: e["files"][1].update(filename="C:x_gt.mat"), r"give a plain file name"),
        (lambda e: e["files"][0].update(filename="Salinas*.mat"), r"only allowed for role 'product'"),
        (lambda e: e["files"].append(dict(e["files"][0])), r"'files\[2\].filename' 'Salinas_corrected.mat' is listed twice"),
        (lambda e: e.update(wavelengths_nm=[True] * 204), r"'wavelengths_nm' must list one band centre"),
    ],
)
def test_malformed_entries_are_reported(tmp_path: Path, edit, pattern: str) -> None:  # noqa: ANN001
    path = _broken(tmp_path, edit)
    with pytest.raises(ConfigError, match=pattern) as info:
        load_catalog(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: entry '") and msg.endswith("fix the catalog (see datasets/README.md)")
    assert "\n" not in msg


def test_duplicate_alias_is_rejected(tmp_path: Path) -> None:
    doc = _raw_catalog()
    ip = next(d for d in doc["datasets"] if d["name"] == "indian_pines")
    ip["aliases"] = ["sa"]  # salinas' alias
    with pytest.raises(ConfigError, match=r"alias 'sa' is already used by"):
        load_catalog(_write(tmp_path, doc))


def test_cli_list_shows_every_dataset() -> None:
    result = CliRunner().invoke(datasets, ["list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["name", "sensor", "H×W×bands", "classes", "GSD", "offline", "get", "fetched"]
    rows = {line.split()[0]: line for line in lines[2:]}
    assert set(rows) == NAMES
    assert "145×145×200" in rows["indian_pines"] and "yes (tensorly)" in rows["indian_pines"]
    assert "610×340×103" in rows["pavia_university"] and " no " in rows["pavia_university"]
    assert "0.043 m" in rows["whu_hi_honghu"] and " 22 " in rows["whu_hi_honghu"]
    assert "?×?×224" in rows["enmap_l2a"]


def test_cli_list_with_another_catalog(tmp_path: Path) -> None:
    doc = _raw_catalog()
    doc["datasets"] = [d for d in doc["datasets"] if d["name"] == "pavia_university"]
    result = CliRunner().invoke(datasets, ["list", "--catalog", str(_write(tmp_path, doc))])
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.output.splitlines()[2:]] == ["pavia_university"]


def test_cli_module_does_not_import_heavy_libraries() -> None:
    import subprocess
    import sys

    code = (
        "import sys, hsi_app.cli.datasets_cmd as m\n"
        "heavy = [n for n in ('torch', 'gradio', 'torchgeo', 'xarray', 'requests') if n in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_readme_documents_every_catalog_field_and_the_real_wavelengths() -> None:
    """datasets/README.md lists each field the loader accepts and says which entries carry real centres."""
    import re

    from hsi_app.data import catalog as cat

    readme = (DEFAULT_CATALOG_PATH.parent / "README.md").read_text(encoding="utf-8")
    first_cells = re.findall(r"^\| ([^|]*`[^|]*)\|", readme, flags=re.M)
    documented = {name for cell in first_cells for name in re.findall(r"`([a-z_0-9]+)`", cell)}
    for group in (cat._REQUIRED, cat._OPTIONAL, cat._FILE_FIELDS):
        fields = {f for item in group for f in ((item,) if isinstance(item, str) else item)}
        assert fields <= documented, sorted(fields - documented)
    raw = json.loads(DEFAULT_CATALOG_PATH.read_text(encoding="utf-8"))["datasets"]
    with_real = sorted(e["name"] for e in raw if e.get("wavelengths_nm"))
    section = readme.split("## Wavelengths", 1)[1].split("\n## ", 1)[0]
    for name in with_real:  # e.g. indian_pines: named as having real centres, with its first and last
        e = next(d for d in raw if d["name"] == name)
        assert f"`{name}` entry does" in section
        assert f"{e['wavelengths_nm'][0]:g}" in section and f"{e['wavelengths_nm'][-1]:g}" in section
    assert "within 50 nm of the real centres" not in section, "Indian Pines no longer uses the approximation"
