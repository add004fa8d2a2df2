"""mentorflow: workflows layer."""
