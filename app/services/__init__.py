"""Domain services: one module per concept, plain functions over the models.

Every function validates its input first and raises app.errors exceptions with a
message fit for users; on error nothing is changed. The context a function works in
(actor, secret box, id) is positional-only, so any field name an API body may carry
lands in `**fields` and is judged there.
"""
