"""Reports from run records: collect → stats → tables / plots. Pure pandas and matplotlib; never imports torch."""
