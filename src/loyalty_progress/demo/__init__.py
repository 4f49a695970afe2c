"""`loyalty-progress demo`: a realistic story published into a running worker's input
streams, with the notifications and rewards that come out printed as they happen."""

from loyalty_progress.demo.command import register

__all__ = ["register"]
