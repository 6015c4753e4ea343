#!/usr/bin/env python3
"""Driver of the libckpt integration tests.

    ckpt_test.py --build BUILD_DIR --source SOURCE_DIR TESTNAME
    ckpt_test.py --list

Runs one test; exit status 0 = pass, 1 = fail, 77 = skipped (a missing
optional prerequisite, named in the output). Tests live in the tests_*.py
modules next to this file and register themselves with @harness.test; each
one must also be listed in meson.build. See README.md.
"""

import glob
import importlib
import os
import sys

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402

for module in sorted(glob.glob(os.path.join(HERE, 'tests_*.py'))):
    importlib.import_module(os.path.splitext(os.path.basename(module))[0])

if __name__ == '__main__':
    sys.exit(harness.main())
