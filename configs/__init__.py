"""Data nbctl ships (the GPU catalog): no code lives here."""
