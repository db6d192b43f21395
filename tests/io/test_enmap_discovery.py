"""Finding the EnMAP L2A product in order folders and zips laid out one level deeper, and refusing
folders/zips that hold several products (or zipped products) with one line that says how to pick one."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from fixture_loader import fixture_module
from hsi_app.errors import CubeReadError
from hsi_app.io import open_cube
from hsi_app.io.enmap import is_enmap_product, read_enmap

fx = fixture_module("enmap_l2a")
P = fx.PRODUCT
OTHER = P.replace("DT0000004950", "DT0000004951")
ORDER = "ENMAP01-____L2A-DT0000004950"  # the order's own folder, named after the datatake


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fx.make(tmp_path_factory.mktemp("enmap"), height=20, width=16)


def _zip(zpath: Path, members: dict[str, Path]) -> Path:
    """``zpath`` holding every file of each folder under the member folder name given as key."""
    with zipfile.ZipFile(zpath, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for prefix, folder in members.items():
            for f in sorted(folder.iterdir()):
                zf.write(f, f"{prefix}/{f.name.replace(P, Path(prefix).name)}" if prefix else f.name)
    return zpath


def _one_line_error(path: Path) -> str:
    with pytest.raises(CubeReadError) as info:
        read_enmap(path)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg, msg
    return msg


def test_order_folder_with_the_product_one_level_deeper_is_found(tmp_path: Path, product: Path) -> None:
    """order/ENMAP01-..._DT.../<product>/ (a zip order extracted as it is) opens like the product folder."""
    order = tmp_path / "order"
    shutil.copytree(product, order / ORDER / P)
    want = read_enmap(product)
    for path in (order, order / ORDER):
        got = open_cube(path)
        np.testing.assert_array_equal(got.values, want.values)
        assert got.attrs["product"] == P and is_enmap_product(path)


def test_order_zip_with_the_product_one_level_deeper_is_read(tmp_path: Path, product: Path) -> None:
    zpath = _zip(tmp_path / "order.zip", {f"{ORDER}/{P}": product})
    np.testing.assert_array_equal(read_enmap(zpath).values, read_enmap(product).values)


def test_two_products_in_one_zip_are_listed_with_how_to_pick_one(tmp_path: Path, product: Path) -> None:
    zpath = _zip(tmp_path / "two.zip", {f"{ORDER}/{P}": product, f"{ORDER}/{OTHER}": product})
    msg = _one_line_error(zpath)
    assert f"{ORDER}/{P}" in msg and f"{ORDER}/{OTHER}" in msg and "2 EnMAP products" in msg
    assert f"unzip two.zip '{ORDER}/{P}/*'" in msg


def test_two_products_in_one_folder_are_listed(tmp_path: Path, product: Path) -> None:
    order = tmp_path / "order"
    shutil.copytree(product, order / P)
    shutil.copytree(product, order / OTHER)
    for f in (order / OTHER).iterdir():
        f.rename(f.with_name(f.name.replace(P, OTHER)))
    msg = _one_line_error(order)
    assert P in msg and OTHER in msg and "point at one product folder" in msg


def test_two_products_one_level_deeper_are_listed(tmp_path: Path, product: Path) -> None:
    order = tmp_path / "order"
    shutil.copytree(product, order / "a" / P)
    shutil.copytree(product, order / "b" / P)
    msg = _one_line_error(order)
    assert f"a/{P}" in msg and f"b/{P}" in msg


def test_a_zip_of_product_zips_names_the_inner_zip_to_extract(tmp_path: Path) -> None:
    inner = fx.make(tmp_path / "in", height=20, width=16, zip_it=True)
    outer = tmp_path / "dims_op_oc_oc-en_700000000_1.zip"
    with zipfile.ZipFile(outer, "w") as zf:
        zf.write(inner, f"ENMAP.HSI.L2A/{inner.name}")
    msg = _one_line_error(outer)
    assert f"unzip {outer.name} ENMAP.HSI.L2A/{inner.name}" in msg


def _backslashed(src: Path, dst: Path) -> Path:
    """``src`` zipped again as Windows tools write it: folders joined by backslashes in the member names."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            zout.writestr(zipfile.ZipInfo(info.filename.replace("/", "\\"), info.date_time), zin.read(info))
    return dst


def test_a_windows_zip_of_two_products_says_to_extract_it_whole(tmp_path: Path, product: Path) -> None:
    """unzip reads a backslash in a member name it is given as an escape: the line named
    'unzip two.zip ORDER/P/*', which extracts nothing from such a zip (review s56 #1)."""
    plain = _zip(tmp_path / "plain.zip", {f"{ORDER}/{P}": product, f"{ORDER}/{OTHER}": product})
    msg = _one_line_error(_backslashed(plain, tmp_path / "two.zip"))
    assert f"{ORDER}/{P}" in msg and "2 EnMAP products" in msg
    assert "(unzip two.zip) and open its folder" in msg


def test_a_windows_zip_of_product_zips_says_to_extract_it_whole(tmp_path: Path) -> None:
    inner = fx.make(tmp_path / "in", height=20, width=16, zip_it=True)
    outer = tmp_path / "dims_op_oc_oc-en_700000000_1.zip"
    with zipfile.ZipFile(outer, "w") as zf:
        zf.write(inner, f"ENMAP.HSI.L2A\\{inner.name}")
    msg = _one_line_error(outer)
    assert f"(unzip {outer.name}) and open it" in msg and f"ENMAP.HSI.L2A/{inner.name}" in msg


@pytest.mark.parametrize(("zip_name", "order"), [("my order (1).zip", ORDER), ("order [1].zip", "order [A]")])
def test_the_unzip_advice_runs_as_given_for_a_zip_name_with_spaces(tmp_path: Path, product: Path, zip_name: str,
                                                                  order: str) -> None:
    """The line's ``unzip`` command, pasted into a shell, extracts the product although the zip's name holds spaces
    and brackets (it named ``unzip my order (1).zip ...`` unquoted, which a shell splits), and although the order
    folder's name holds square brackets (unzip reads ``[A]`` in a member as a set of characters)."""
    import re
    import shlex
    import subprocess

    zpath = _zip(tmp_path / zip_name, {f"{order}/{P}": product, f"{order}/{OTHER}": product})
    msg = _one_line_error(zpath)
    command = re.search(r"extract the one you want \((unzip .*)\) and open its folder", msg)
    assert command is not None, msg
    subprocess.run(shlex.split(command.group(1)), cwd=tmp_path, check=True, capture_output=True)
    np.testing.assert_array_equal(read_enmap(tmp_path / order / P).values, read_enmap(product).values)


def test_the_tar_advice_quotes_a_name_with_spaces(tmp_path: Path) -> None:
    """``tar -xf dims_op my order (1).tar.gz`` split at the spaces; the quoted name is one argument."""
    import re
    import shlex

    from hsi_app.io.enmap_product import tar_refusal

    for name in ("dims_op my order (1).tar.gz", "my scenes.tar"):
        command = re.search(r"\((tar -xf .*?)\) and open", tar_refusal(tmp_path / name))
        assert command is not None and shlex.split(command.group(1)) == ["tar", "-xf", name]
