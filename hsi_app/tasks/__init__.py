"""Tasks: training, whole-scene application and scoring, one module per job.

Submodules are imported on demand (most pull in torch and lightning); ``import hsi_app.tasks``
itself imports nothing. What a notebook calls (a Cube is ``hsi_app.io.open_cube``'s or ``make_cube``'s
``(band, y, x)`` DataArray; a numpy array where a Cube is expected is one ``ConfigError`` line)::

    from hsi_app.tasks.train_classifier import TrainOptions, train_classifier   # cube -> run folder + metrics
    from hsi_app.tasks.band_subset import predict_cube_subset, predict_band_subset
    from hsi_app.tasks.denoising import DenoiseOptions, Denoiser, train_denoiser
    from hsi_app.tasks.denoise_scene import denoise_cube                       # cube -> denoised COG (+ PSNR/SSIM/SAM)
    from hsi_app.tasks.denoise_baselines import pca_denoise, mnf_denoise      # (C, H, W) or Cube -> (C, H, W)
    from hsi_app.tasks.denoise_metrics import restoration_metrics
    from hsi_app.tasks.detection import detect_scene, write_detections        # cube -> (K, H, W) scores + points
    from hsi_app.tasks.detect_metrics import pixel_auroc, pd_at_pfa           # (H, W) scores + truth -> AUROC, Pd@Pfa
    from hsi_app.tasks.map_accuracy import evaluate_map, format_report        # a map file vs reference labels
    from hsi_app.tasks.map_polygons import vectorize_map                       # a map file -> GeoPackage polygons
    from hsi_app.tasks import cross_sensor                                     # notebook 04's steps

Maps over a whole scene go through :func:`hsi_app.infer.predict_scene` with a run's
``Predictor.bind(cube)`` (:mod:`hsi_app.predictor`, :mod:`hsi_app.ensemble`). The lower-level
dense fit/predict loop is ``hsi_app.tasks.classification`` (``fit_dense``, ``predict_dense``).
"""
