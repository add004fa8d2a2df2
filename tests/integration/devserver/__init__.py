"""Integration tier: RelationshipWorkflow on the real Temporal dev server with the real KafkaPublisher on the real
broker (commands, continue-as-new, Kafka outage, worker process, CLI). The time-skipping tier is tests/workflow/."""
