"""Domain and data layer: schema, PyDAL tables and business operations (no Flask here)."""
