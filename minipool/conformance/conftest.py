"""Loads the compat suite's plugin for ``pytest --pyargs minipool.conformance``.

(``python -m minipool conformance`` names the plugin itself, with ``-p``;
the checkout's own ``conftest.py`` loads it for the project's run.)
"""

pytest_plugins = ["minipool.conformance.plugin"]
