"""bihuan engine: domain types, pipeline, analysis, config and errors."""
