"""regsync: a versioned local history of ClinicalTrials.gov records."""

__version__ = "0.1.0"

DEFAULT_NCT_ID = "NCT07240987"
