"""Reading Aff-Wild2 as the organisers ship it (and making a synthetic copy of it)."""
