"""Code shared by the tests (and a few benchmarks): one module per subject.

Test modules import from here, never from ``tests.conftest`` (fixtures only, used by name) nor
from each other (``tests/test_test_hygiene.py`` checks).
"""
