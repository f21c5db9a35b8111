"""The benchmark runner: raw aiokafka against the product's pipeline (HTTP write -> outbox ->
broker -> consumer effect), on one broker that the runner starts itself. `python -m bench`."""
