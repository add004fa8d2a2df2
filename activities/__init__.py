"""mentorflow: activities layer."""
