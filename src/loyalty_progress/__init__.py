"""loyalty-progress: incremental loyalty challenge progress from Redis Streams."""

__version__ = "0.1.0"
