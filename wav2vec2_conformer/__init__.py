"""Wav2Vec2-Conformer speech models in pure PyTorch.

The public names follow the HuggingFace reference (`Wav2Vec2ConformerForCTC`, ...), so code can
switch by changing an import.
"""

from .audio import AudioError, load_audio
from .beam_search import beam_search_decode
from .checkpoint import CheckpointError
from .config import Wav2Vec2ConformerConfig
from .decoding import CTCVocab, DecodeResult, WordTiming, greedy_decode
from .feature_extraction import Wav2Vec2FeatureExtractor
from .heads import (
    Wav2Vec2ConformerForAudioFrameClassification,
    Wav2Vec2ConformerForCTC,
    Wav2Vec2ConformerForSequenceClassification,
    Wav2Vec2ConformerForXVector,
)
from .lm import NGramLM
from .masking import compute_mask_indices, sample_negative_indices
from .model import Wav2Vec2ConformerModel, Wav2Vec2ConformerPreTrainedModel
from .pretraining import Wav2Vec2ConformerForPreTraining
from .processor import Wav2Vec2Processor
from .tokenizer import Wav2Vec2CTCTokenizer
from .transcribe import Transcription, transcribe

__version__ = "0.1.0"

__all__ = [
    "AudioError",
    "CTCVocab",
    "DecodeResult",
    "NGramLM",
    "WordTiming",
    "beam_search_decode",
    "greedy_decode",
    "CheckpointError",
    "Wav2Vec2CTCTokenizer",
    "Wav2Vec2FeatureExtractor",
    "Wav2Vec2Processor",
    "Wav2Vec2ConformerConfig",
    "Wav2Vec2ConformerForAudioFrameClassification",
    "Wav2Vec2ConformerForCTC",
    "Wav2Vec2ConformerForPreTraining",
    "Wav2Vec2ConformerForSequenceClassification",
    "Wav2Vec2ConformerForXVector",
    "Wav2Vec2ConformerModel",
    "Wav2Vec2ConformerPreTrainedModel",
    "compute_mask_indices",
    "load_audio",
    "transcribe",
    "Transcription",
    "sample_negative_indices",
]
