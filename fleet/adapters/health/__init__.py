"""Lua health checks, as Argo CD writes them, run in process (LuaJIT 2.1 through lupa).

- :mod:`~fleet.adapters.health.sandbox`: one script on one object, in a fresh sandboxed
  state with a time and memory limit.
- :mod:`~fleet.adapters.health.checks`: :class:`LuaHealthChecks`, the callable the engine
  gets as ``custom_health`` (which script covers an object, Argo CD's reading of what it
  returned, and keeping a slow script from stalling the caller).
- :mod:`~fleet.adapters.health.loading`: scripts from the config and from trees in Argo
  CD's ``resource_customizations`` layout.
- :mod:`~fleet.adapters.health.testfiles`: Argo CD's ``health_test.yaml`` files
  (``fleet health test``); :mod:`~fleet.adapters.health.validation`: what ``fleet
  validate`` says about the scripts.
"""
