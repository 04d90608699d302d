"""The tagger: what serving needs sits here (tokenizer, vocabulary, features, network, CRF,
artifact, :class:`model.tagger.Tagger`); :mod:`model.training` trains and evaluates,
:mod:`model.analysis` reports what backward context buys. Nothing here imports the service."""
