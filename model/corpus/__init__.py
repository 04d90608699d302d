"""Tagging a corpus: files in, one output record per input record, bad ones set aside.

One record travels: :mod:`model.corpus.records` reads a file (text lines, JSONL or Parquet)
into :class:`~model.corpus.records.Record` and :class:`~model.corpus.records.Reject` items,
:mod:`model.corpus.rows` tags a batch of records into output rows and writes them, and each
engine only decides where that runs: :mod:`model.corpus.local` (processes on this machine, with
resumable shards from :mod:`model.corpus.shards`), :mod:`model.corpus.on_ray` (Ray Data) and
:mod:`model.corpus.spark` (a ``mapInPandas`` function). The model is used through
:class:`model.tagger.Tagger` alone; nothing here knows of the service.
"""
