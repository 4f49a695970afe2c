"""The imperative shell: subscribers, the batch pipeline, outbox relay, claimer."""
