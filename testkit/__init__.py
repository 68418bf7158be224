"""Test, bench, demo and chaos support: local Kafka, local services, fixtures, one Kafka
helper. Installed with the project so that every harness imports it without path tricks;
nothing in the connector's own packages imports it but the local endpoints' commands."""
