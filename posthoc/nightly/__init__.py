"""The nightly batch job: select new or changed runs, analyze them in parallel, write reports, a digest and a
summary, keep a resumable state journal."""

from posthoc.nightly.job import NightlyOptions, run_nightly
from posthoc.nightly.selection import parse_since

__all__ = ["NightlyOptions", "parse_since", "run_nightly"]
