"""Training: CTC fine-tuning and wav2vec 2.0 pre-training, on one process or many (torchrun).

    from wav2vec2_conformer.train import FinetuneConfig, finetune
    finetune(FinetuneConfig(train="train.tsv", dev="dev.tsv", out="runs/ft", max_updates=2000))

The same from the shell: `w2vc finetune --train train.tsv --dev dev.tsv --out runs/ft`.
"""

from .config import FinetuneConfig, PretrainConfig, TrainConfig, load_config
from .data import DataError

# Imported eagerly on purpose: a lazy `from .finetune import ...` inside a wrapper would make
# Python bind the *submodule* to `train.finetune` on first use, shadowing the function.
from .finetune import finetune
from .pretrain import pretrain

__all__ = [
    "DataError",
    "FinetuneConfig",
    "PretrainConfig",
    "TrainConfig",
    "finetune",
    "load_config",
    "pretrain",
]
