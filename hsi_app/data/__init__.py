"""Data handling: dataset catalog and downloads, labels, splits, tiling and normalisation."""
