"""Training and evaluation: ``bigru-ner train`` and ``bigru-ner evaluate``; serving needs none
of it."""
