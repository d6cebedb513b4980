"""minipool's compat suite, installed: the conformance kit for any executor.

``python -m minipool conformance MODULE:FACTORY [--properties]`` runs these
modules with pytest against ``FACTORY()``'s executor, from any directory, and
prints a table (``minipool/_conformance.py``; docs/conformance.md). The
project's own test run collects them too (setup.cfg's ``testpaths``), against
the stdlib and minipool: one suite, not two.

* ``plugin.py``         -- the pytest plugin: the ``impl`` fixture, the
  applicability tables (which test applies to which executor, and why), the
  leak checks, the markers
* ``test_executor.py``, ``test_map.py``, ``test_thread_pool.py``,
  ``test_process_pool.py``, ``test_interop.py`` -- the executor compat tests
* ``test_prop_executor.py`` -- the executor state machines (hypothesis): the
  stdlib's pool and minipool's side by side, or the kit's executor alone
* ``strategies.py``     -- every hypothesis strategy and profile of the suite
* ``executor_tasks.py``, ``process_tasks.py``, ``process_prop_tasks.py``,
  ``socket_prop_tasks.py`` -- the tasks: importable by name, so worker
  processes (fork, spawn, forkserver, a dask worker) find them

Importing this package imports nothing else: pytest and hypothesis are
needed only to run the modules (``pip install 'minipool[test]'``).
"""
