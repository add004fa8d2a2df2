"""The program managers' dashboard: one HTML page polling one JSON endpoint; charts are server-made SVG."""
