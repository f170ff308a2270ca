"""flashd.scripts."""
