"""The pluggy markers of the ``bihuan`` project (entry-point group ``bihuan``)."""

import pluggy

PROJECT_NAME = "bihuan"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
