"""Domain and data layer: schema, PyDAL tables and business operations (no Flask here)."""

__version__ = "0.1.0"
