"""Evaluation configuration: one dataclass, the parameters of the ``evaluate`` flow.

>>> c = EvalConfig(models=["file:///m/run1/model"], baselines=True, base_model="smollm2-135m")
>>> [s.label for s in c.specs()]
['run1', 'base-smollm2-135m', 'minilm', 'e5-small']
>>> EvalConfig(models=["minilm"], passkey_lengths=[0]).validate()
Traceback (most recent call last):
...
ValueError: passkey_lengths must be positive token counts, got [0]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from tasks.evaluate.devices import DEFAULT_BATCH_TOKENS, check_device_form
from tasks.evaluate.models import ModelSpec, model_specs
from tasks.storage.store import absolute_url


@dataclass
class EvalConfig:
    """Which models, on which tasks and sizes, and where results go.

    ``base_model`` is the untrained model ``baselines`` compares against; left empty it is read
    from the first exported model's training configuration.
    """

    models: list[str] = field(default_factory=list)  # see tasks.evaluate.models for the forms
    baselines: bool = False  # add the untrained base, all-MiniLM-L6-v2 and multilingual-e5-small
    base_model: str | None = None
    benchmark: str | None = None  # an mteb benchmark by name, or "synthembed-offline" (None: the offline suite)
    tasks: list[str] | None = None  # None: the whole benchmark
    store: str = "file://./data"  # results under {store}/evals/
    bible_samples: int = 2000  # verse pairs per Bible task
    bbc_per_label: int | None = None  # articles per BBC section (None: all 2,127)
    max_length: int = 512  # tokens per text for the decoder models
    batch_size: int = 16  # texts per forward pass, at most
    batch_tokens: int = DEFAULT_BATCH_TOKENS  # padded tokens per forward pass, at most
    device: str = "auto"  # auto | cpu | cuda | cuda:N (auto: the GPU when there is one)
    num_workers: int = 0  # Ray workers that take the (model x task) units; 0: this process, in turn
    use_gpu: bool = False  # one GPU per Ray worker
    ray_address: str | None = None  # join this Ray cluster (default: RAY_ADDRESS, else a local Ray on 127.0.0.1)
    seed: int = 42
    passkey: bool = False  # the long-context test, for the decoder models
    passkey_lengths: list[int] = field(default_factory=lambda: [256, 512, 1024, 2048, 4096])
    passkey_docs: int = 100  # candidates per query (paper: 100)
    passkey_queries: int = 50  # queries per length (paper: 50)
    rope_theta: float | None = None  # override the RoPE base for the passkey test (paper: 1e5)

    def __post_init__(self) -> None:
        self.store = absolute_url(self.store)

    def specs(self) -> list[ModelSpec]:
        return model_specs(self.models, self.baselines, self.base_model)

    def validate(self) -> EvalConfig:
        """One clear ValueError for the first bad value, before any model loads."""
        if self.bible_samples < 10:
            raise ValueError(f"bible_samples must be at least 10, got {self.bible_samples}")
        if self.bbc_per_label is not None and self.bbc_per_label < 5:
            raise ValueError(f"bbc_per_label must be at least 5 (the classifier needs examples), got {self.bbc_per_label}")
        if self.max_length < 8 or self.batch_size < 1:
            raise ValueError("max_length must be at least 8 and batch_size at least 1")
        if self.batch_tokens < self.max_length:
            raise ValueError(f"--batch-tokens {self.batch_tokens}: must be at least --max-length ({self.max_length}), "
                             "so that the longest text fits in a batch")
        check_device_form(self.device)
        if self.num_workers < 0:
            raise ValueError(f"--num-workers {self.num_workers}: must be 0 (no Ray) or more")
        if self.use_gpu and not self.num_workers:
            raise ValueError("--use-gpu puts each Ray worker on a GPU: give --num-workers too (or --device cuda "
                             "to run in this process)")
        if not self.passkey_lengths or min(self.passkey_lengths) < 1:
            raise ValueError(f"passkey_lengths must be positive token counts, got {self.passkey_lengths}")
        if not 2 <= self.passkey_docs or not 1 <= self.passkey_queries <= self.passkey_docs:
            raise ValueError("passkey_docs must be at least 2 and passkey_queries between 1 and passkey_docs")
        if self.rope_theta is not None and self.rope_theta <= 0:
            raise ValueError(f"rope_theta must be positive, got {self.rope_theta}")
        return self

    def to_dict(self) -> dict:
        return asdict(self)
