"""Training configuration: one dataclass, saved with every checkpoint.

Defaults are the paper's (REFERENCE.md §3) except sizes, which fit the machine you name.

>>> c = TrainConfig(data=["file://./data/runs/r1"], base_model="smollm2-135m", out="file://./models/m1")
>>> c.learning_rate, c.temperature, c.lora_rank
(0.0001, 0.02, 16)
>>> TrainConfig(data=["x"], base_model="m", out="o", batch_size=1).validate()
Traceback (most recent call last):
...
ValueError: batch_size must be at least 2 (in-batch negatives need a second example), got 1
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from tasks.storage.store import absolute_url

ATTENTION_IMPLEMENTATIONS = ("sdpa", "eager", "flash_attention_2", "flash_attention_3")
# The instruction labelled rows' queries get (they come without a task definition): a generic retrieval one.
LABELLED_INSTRUCTION = "Given a query, retrieve relevant passages that answer the query"


@dataclass
class TrainConfig:
    """What to train on, from what, into where, and how.

    Sizes: ``batch_size`` is the contrastive batch over all workers (every query is scored
    against all of its documents); ``mini_batch_size`` is rows per forward pass on one worker
    (GradCache: memory follows it, the result does not).
    """

    # Synthesis run URLs ({store}/runs/{run_id}) and labelled sets (Parquet, a datasets folder, hf://OWNER/NAME):
    # tasks/train/sources.py.
    data: list[str]
    base_model: str  # HF folder, hub id, .gguf file, or alias (embedded-qwen, smollm2-135m)
    out: str  # store URL for checkpoints and the exported model
    data_weights: list[float] | None = None  # mixing weight per --data source (default: by size)
    negatives_per_query: int = 1  # hard negatives per query: the row's own, then mined ones (0: in-batch only)
    labelled_instruction: str = LABELLED_INSTRUCTION  # the instruction of labelled rows' queries
    excluded_rows: list[str] = field(default_factory=list)  # labelled row keys left out (evaluation overlap)
    # Rows never trained on, for the held-out loss; None: 0.1 from 20 rows on, else 0 (tasks/train/data.py).
    holdout_fraction: float | None = None
    eval_every: int | None = None  # steps between held-out evaluations; None: ~20 per run (steps // 20)
    # Stop when the held-out loss has not improved for this many evaluations, and export the best
    # weights; None: train every step and export the last.
    early_stop_patience: int | None = None
    epochs: float | None = None  # instead of steps: steps = ceil(epochs x training rows / batch_size)
    batch_size: int = 32  # contrastive batch over all workers (paper: 2048)
    mini_batch_size: int = 8  # rows per forward pass (GradCache)
    mini_batch_tokens: int | None = None  # and at most this many padded tokens (rows x longest row) per pass
    no_grad_scale: int = 2  # GradCache's first, gradient-free pass runs mini-batches this many times larger
    steps: int = 100  # optimizer steps (paper: < 1k)
    learning_rate: float = 1e-4
    warmup_steps: int = 10  # then linear decay to 0 (paper: 100 warmup)
    weight_decay: float = 0.1
    temperature: float = 0.02  # InfoNCE τ
    # Mask a negative n of query q when cos(q, n) > cos(q, positive) - margin, by the model's own
    # scores (GISTEmbedLoss's sign: 0.05 also masks negatives within 0.05 below the positive); None: off.
    false_negative_margin: float | None = None
    same_task_type_batches: bool = False  # every batch from one synthesis task type (NV-Embed, FlagEmbedding)
    max_length: int = 512  # tokens per text, EOS included
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    gradient_checkpointing: bool = False
    bf16: bool = True  # autocast on GPU only; CPU runs in float32
    max_grad_norm: float = 1.0
    seed: int = 0
    num_workers: int = 1
    use_gpu: bool = False
    cpus_per_worker: float | None = None  # default: the cluster's CPUs shared evenly by the workers
    attn_implementation: str | None = None  # default: flash_attention_2 where installed on GPU, else sdpa
    checkpoint_every: int = 50  # steps between checkpoints (the last step always checkpoints)
    keep_checkpoints: int = 2
    max_failures: int = 2  # worker losses survived by resuming from the last checkpoint
    query_instruction: str = "Given a web search query, retrieve relevant passages that answer the query"
    extend_steps: bool = False  # a resume may raise `steps`; the decay is re-planned (tasks/train/schedule.py)
    data_digest: str | None = None  # sha256 of the training pairs, set by the preflight: a resume compares it
    extra: dict = field(default_factory=dict)  # free-form notes stored with checkpoints

    def __post_init__(self) -> None:
        # Absolute store URLs: Ray workers do not share the driver's working directory.
        self.data = [absolute_url(u) for u in self.data]
        self.out = absolute_url(self.out)

    @property
    def per_worker_batch(self) -> int:
        return self.batch_size // self.num_workers

    def validate(self) -> TrainConfig:
        """One clear ValueError for the first bad value, before anything expensive starts."""
        if not self.data:
            raise ValueError("no training data given (--data URL of a synthesis run or a labelled set)")
        if not self.out:
            raise ValueError("no output given (--out URL for checkpoints and the model)")
        if self.data_weights is not None and (len(self.data_weights) != len(self.data) or min(self.data_weights) <= 0):
            raise ValueError(f"data_weights needs one positive weight per --data source ({len(self.data)}), "
                             f"got {self.data_weights}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be at least 2 (in-batch negatives need a second example), got {self.batch_size}")
        if self.num_workers < 1:
            raise ValueError(f"num_workers must be at least 1, got {self.num_workers}")
        if self.batch_size % self.num_workers:
            raise ValueError(f"batch_size {self.batch_size} must divide evenly over {self.num_workers} workers")
        if not 1 <= self.mini_batch_size:
            raise ValueError(f"mini_batch_size must be at least 1, got {self.mini_batch_size}")
        if self.mini_batch_tokens is not None and self.mini_batch_tokens < self.max_length:
            raise ValueError(f"mini_batch_tokens must be at least max_length ({self.max_length}, one longest "
                             f"row), got {self.mini_batch_tokens}")
        if self.no_grad_scale < 1:
            raise ValueError(f"no_grad_scale must be at least 1, got {self.no_grad_scale}")
        if self.cpus_per_worker is not None and self.cpus_per_worker <= 0:
            raise ValueError(f"cpus_per_worker must be > 0, got {self.cpus_per_worker}")
        if self.attn_implementation not in (None, *ATTENTION_IMPLEMENTATIONS):
            raise ValueError(f"attn_implementation must be one of {', '.join(ATTENTION_IMPLEMENTATIONS)}, "
                             f"got {self.attn_implementation!r}")
        for name in ("steps", "max_length", "lora_rank", "checkpoint_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.warmup_steps < 0 or self.temperature <= 0 or self.learning_rate <= 0:
            raise ValueError("warmup_steps must be >= 0, temperature and learning_rate > 0")
        if self.false_negative_margin is not None and not -1 <= self.false_negative_margin <= 1:  # NaN fails too
            raise ValueError("false_negative_margin must be between -1 and 1 (cosine units), "
                             f"got {self.false_negative_margin}")
        if self.negatives_per_query < 0:
            raise ValueError(f"negatives_per_query must be at least 0, got {self.negatives_per_query}")
        if self.holdout_fraction is not None and not 0 <= self.holdout_fraction < 1:
            raise ValueError(f"holdout_fraction must be at least 0 and below 1, got {self.holdout_fraction}")
        for name in ("eval_every", "early_stop_patience"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.epochs is not None and not self.epochs > 0:
            raise ValueError(f"epochs must be > 0, got {self.epochs}")
        if not self.labelled_instruction.strip():
            raise ValueError("labelled_instruction must not be empty")
        return self

    def evaluation_interval(self) -> int:
        """Steps between held-out evaluations: ``eval_every``, or about 20 evaluations per run.

        >>> TrainConfig(data=["x"], base_model="m", out="o", steps=100).evaluation_interval()
        5
        """
        return self.eval_every or max(1, self.steps // 20)

    def to_dict(self) -> dict:
        return asdict(self)
