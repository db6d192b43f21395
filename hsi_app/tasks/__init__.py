"""Training tasks: one LightningModule and its fit/predict API per task.

Submodules are imported on demand (they pull in torch and lightning)::

    from hsi_app.tasks.classification import fit_dense, predict_dense
"""
