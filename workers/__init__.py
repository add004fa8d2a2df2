"""mentorflow: workers layer."""
