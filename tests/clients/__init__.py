"""Generated clients: TypeScript and Rust, checked against the service."""
