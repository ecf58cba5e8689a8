"""Domain services: one module per concept, plain functions over the models.

Every function validates its input first and raises app.errors exceptions with a
message fit for users; on error nothing is changed.
"""
