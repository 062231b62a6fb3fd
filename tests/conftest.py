"""Shared test settings: deterministic hypothesis profiles and a seeded rng."""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# CI (and by default everyone) runs a derandomized profile so the suite is
# reproducible; HYPOTHESIS_PROFILE=explore searches more widely.
settings.register_profile("ci", derandomize=True, deadline=None, max_examples=25,
                          suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile("explore", deadline=None, max_examples=300,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
