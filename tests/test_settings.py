"""settings.from_dict: a run's recorded settings give back the configuration that was run."""

import dataclasses

from msbiqa.experiments.claim import Claim
from msbiqa.settings import from_dict


def test_recorded_settings_rebuild_the_configuration():
    config = Claim()
    config.run.sigmas, config.replicates = [0.25], ["a", "b"]
    assert from_dict(Claim, dataclasses.asdict(config)) == config


def test_a_field_the_record_lacks_keeps_its_default():
    recorded = dataclasses.asdict(Claim())
    del recorded["reuse"], recorded["bootstrap"]["resamples"]
    rebuilt = from_dict(Claim, recorded)
    assert rebuilt.reuse is None and rebuilt.bootstrap.resamples == Claim().bootstrap.resamples
