"""What backward context buys (``bigru-ner analyze``): the measurements, the minimal pairs, and
the report with its plots; serving needs none of it."""
