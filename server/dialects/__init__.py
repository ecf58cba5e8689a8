"""Client and provider dialects: the internal model (model.py), what a codec offers
(codec.py) and one codec module per dialect."""
