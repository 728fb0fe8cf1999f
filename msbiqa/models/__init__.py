"""The networks of the method: base metrics (`models.metrics`), denoisers, their training losses, and the
training of each (`models.metrics.training` for TinyIQA, `models.denoiser_training` for DMS / DMS-IQA)."""
