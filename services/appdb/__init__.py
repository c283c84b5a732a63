"""App databases: designers' own data models, each in its own sandbox database."""
