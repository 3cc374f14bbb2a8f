"""bihuan's plugin system: ``hookimpl`` is what a plugin decorates its hooks with.

A third-party package exposes a module through the ``bihuan`` entry-point group::

    [project.entry-points.bihuan]
    my_plugin = "my_package.plugin"

and implements hooks from :mod:`bihuan.plugins.hookspecs` in it::

    from bihuan.plugins import hookimpl

    @hookimpl
    def register_collectors(register):
        register(MyCollector)
"""

from bihuan.plugins.markers import PROJECT_NAME, hookimpl, hookspec

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]
