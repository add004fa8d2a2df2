"""The auditors' toolkit (DESIGN §7): history, state at any instant, verification across the three stores, export.

It reads all three stores (the ``event_log`` table, the Kafka topic, the Temporal workflow history or its archive),
so it may import ``domain``, ``projections`` and ``temporalio``; nothing in ``domain``, ``workflows``,
``projections`` or ``activities`` imports it. Importing it does no work.
"""
