"""flashd.verif."""
