"""Statistics of per-image results: correlations with MOS (SROCC, PLCC, KROCC), bootstrap intervals over images
and reference photos, paired differences, and the interval tables built from certificate rows. Below the
networks and the experiments: numpy, scipy and pandas only."""
