"""mentorflow: projections layer."""
