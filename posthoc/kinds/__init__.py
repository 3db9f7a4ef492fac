"""Kinds of run besides ordinary training: LR range tests and one-batch overfit tests, recognized and read."""

from posthoc.kinds.context import (
           ExperimentContext,
           LoggedTest,
           Sibling,
           analyze_test,
           build_context,
           test_findings,
           tests_for,
)
from posthoc.kinds.lr_range import RangeTest, analyze_range_test
from posthoc.kinds.one_batch import OneBatchTest, analyze_one_batch
from posthoc.kinds.recognize import KIND_LABELS, KINDS, LR_RANGE_TEST, ONE_BATCH_TEST, TRAINING, KindMatch, recognize

__all__ = ["ExperimentContext", "KIND_LABELS", "KINDS", "KindMatch", "LR_RANGE_TEST", "ONE_BATCH_TEST", "OneBatchTest", "RangeTest",
           "Sibling", "TRAINING", "LoggedTest", "analyze_one_batch", "analyze_range_test", "analyze_test", "build_context",
           "recognize", "test_findings", "tests_for"]
