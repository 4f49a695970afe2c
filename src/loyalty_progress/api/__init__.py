"""Read side: HTTP routes and the views that shape state into the seeds' JSON."""
