"""mentorflow: api layer."""
