"""What ``bigru-ner train --help`` says of each setting of
:class:`~model.training.config.TrainConfig`: one line per flag, the long story being in the
comments of the field itself. A field without an entry here fails the command's parser."""

from __future__ import annotations

HELP: dict[str, str] = {
    "train": "training data: a CoNLL file (a token per line, its IOB tag last), or texts with "
    "character spans (.jsonl/.json, as Doccano, Label Studio and Prodigy export them); the "
    "entity types are the data's own",
    "dev": "dev data, in the same format as --train: scored after each epoch to pick the model",
    "data_format": "how --train and --dev are read: auto (.jsonl and .json hold spans, anything "
    "else CoNLL), conll, or spans",
    "out": "directory the artifact is written to (and its checkpoint/ for resuming)",
    "embeddings": "pretrained word vectors: 'glove-6b-50d' (packaged), a GloVe text file, a "
    "vector directory, or 'none' for random ones",
    "embeddings_limit": "keep this many of the most frequent pretrained words beside the "
    "training words",
    "embeddings_fill": "vectors whose words --embeddings lacks are mapped in from these "
    "(same sources as --embeddings; 'none': no fill)",
    "seed": "random seed: the same seed and data give the same model",
    "epochs": "most passes over the training data",
    "patience": "stop after this many epochs without a better dev F1",
    "batch_size": "sentences per training step",
    "optimizer": "adam, or sgd (with --momentum)",
    "lr": "learning rate",
    "momentum": "SGD momentum (--optimizer sgd only)",
    "lr_decay": "learning rate of epoch e is lr / (1 + lr_decay * (e - 1))",
    "clip": "clip the gradient norm to this (0: no clipping)",
    "unk_replace": "probability that a training singleton without a pretrained vector is "
    "seen as <unk>",
    "lm_weight": "weight of a language-model loss beside the tag loss (Rei 2017; 0: none)",
    "lm_vocab": "words the language-model loss predicts, the most frequent first",
    "hidden": "GRU units per direction",
    "layers": "stacked GRU layers",
    "bidirectional": "read each sentence backwards too (--no-bidirectional: forward only)",
    "crf": "decode with a CRF over the tags (--no-crf: each tag on its own)",
    "char_filters": "filters of the character CNN",
    "casing_dim": "size of the capitalisation feature's embedding",
    "dropout": "dropout probability",
    "locked_dropout": "one dropout mask per sentence (variational dropout)",
    "ema": "decay of an exponential moving average of the weights, which is evaluated and "
    "saved (0: the weights themselves)",
    "case_lower": "probability that a training sentence is seen lower-cased in an epoch",
    "case_upper": "probability that a training sentence is seen upper-cased in an epoch",
    "dev_cases": "cases the dev set is scored in, comma-separated (as-is, lower, upper); "
    "the model is picked on their mean F1",
    "select": "which epoch is saved: best on dev, or last of --epochs",
    "tag_scheme": "tags the network learns: iob2, or iobes; predictions are IOB2 either way",
    "lexicon": "a lexicon JSON file (scripts/build_lexicons.py) whose matches become features",
    "lexicon_dropout": "probability that a token's lexicon features are zeroed in a step",
    "device": "auto, cpu, cuda or cuda:N",
    "threads": "CPU threads torch may use (default: its own choice)",
}
