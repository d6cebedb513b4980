"""The benchmark lives in the package: ``python -m minipool bench``.

This wrapper is kept for old habits: ``python benchmarks/bench.py [ARGS]``
runs ``minipool/_bench.py`` with the same arguments.
"""

from __future__ import annotations

import sys

from minipool import _bench

if __name__ == "__main__":
    sys.exit(_bench.main(sys.argv[1:]))
