"""Every detector, in one literal tuple: adding a pattern means one module and one line here."""

from posthoc.detectors import nan_inf

DETECTORS = (nan_inf,)
