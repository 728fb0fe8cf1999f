"""The method's experiments on top of `msbiqa.smoothing` and `msbiqa.models`: the comparison of defences,
white-box attacks and the certificate check, the defended metric as a training loss, and the speed benchmark;
each writes rows that `msbiqa.report` turns into tables."""
