"""Export: a synthesis run as a Hugging Face dataset folder, with a dataset card and plots.

    synthembed export --run-id RUN_ID --out ./exports/RUN_ID [--push-to-hub OWNER/NAME]

One module per concept:

* ``dataset``  the folder layout: which rows and columns, one config per task type, written
  into a staging folder and swapped into place (a reader never sees half an export);
* ``profile``  what the rows hold, in small aggregate tables (counts, lengths, task definitions)
  that the card and the plots are drawn from, so neither keeps the texts in memory;
* ``plots``    the card's three charts as PNG bytes;
* ``card``     the dataset card ``README.md``: YAML metadata that ``datasets`` and the hub read,
  then how the data was made, what it holds, and its limits;
* ``hub``      the optional upload with ``huggingface_hub``, and its one-line errors.
"""
