"""The checkout's pytest setup: load the compat suite's plugin for every test here.

The plugin ships inside the package (``minipool/conformance/plugin.py``), so
that the conformance kit runs from an installed minipool; the project's own
run (``tests/`` and ``minipool/conformance/``, setup.cfg's ``testpaths``)
uses the very same code. Being at the checkout's root, this file also puts
the checkout first on ``sys.path``: the tests import its ``minipool``.
"""

pytest_plugins = ["minipool.conformance.plugin"]
