"""Wav2Vec2-Conformer speech models in pure PyTorch.

The public names follow the HuggingFace reference (`Wav2Vec2ConformerForCTC`, ...), so code can
switch by changing an import.
"""

from .checkpoint import CheckpointError
from .config import Wav2Vec2ConformerConfig
from .heads import (
    Wav2Vec2ConformerForAudioFrameClassification,
    Wav2Vec2ConformerForCTC,
    Wav2Vec2ConformerForSequenceClassification,
    Wav2Vec2ConformerForXVector,
)
from .masking import compute_mask_indices, sample_negative_indices
from .model import Wav2Vec2ConformerModel, Wav2Vec2ConformerPreTrainedModel
from .pretraining import Wav2Vec2ConformerForPreTraining

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "Wav2Vec2ConformerConfig",
    "Wav2Vec2ConformerForAudioFrameClassification",
    "Wav2Vec2ConformerForCTC",
    "Wav2Vec2ConformerForPreTraining",
    "Wav2Vec2ConformerForSequenceClassification",
    "Wav2Vec2ConformerForXVector",
    "Wav2Vec2ConformerModel",
    "Wav2Vec2ConformerPreTrainedModel",
    "compute_mask_indices",
    "sample_negative_indices",
]
