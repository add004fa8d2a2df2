"""``mentorflow demo``: a realistic mentoring program, driven live against the real stack."""
