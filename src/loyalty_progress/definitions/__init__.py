"""Challenge and edition definitions: loading, validating and versioning YAML/JSON files."""
