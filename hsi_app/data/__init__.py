"""Data handling: dataset catalog and downloads, labels, splits, tiling, normalisation, noise and resampling.

Submodules are imported on demand. What a notebook calls::

    from hsi_app.data.splits import Split, make_split, leaks   # (H, W) labels -> train/test pixel masks
    from hsi_app.data.resample import resampling_matrix, resample_cube   # band centres in nm -> (C_dst, C_src)
    from hsi_app.data.noise import add_noise                   # (C, H, W) on [0, 1] -> seeded noisy copy
    from hsi_app.data.catalog import load_catalog              # the catalog of downloadable scenes (name -> entry)
"""
