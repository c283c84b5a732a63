"""Client generators: OpenAPI documents made into code for the programs that call the service."""
