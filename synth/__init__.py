"""flashd.synth."""
