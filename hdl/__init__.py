"""flashd.hdl."""
