"""Task heads on the bare model: CTC, utterance classification, frame classification, x-vector."""

from __future__ import annotations

import torch
from torch import nn

from .config import Wav2Vec2ConformerConfig
from .losses import am_softmax_loss, ctc_loss
from .model import Wav2Vec2ConformerModel, Wav2Vec2ConformerPreTrainedModel
from .outputs import (
    CausalLMOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
    Wav2Vec2ConformerBaseModelOutput,
    XVectorOutput,
)


class _LayerSumHead(Wav2Vec2ConformerPreTrainedModel):
    """Base of the heads that may read a learned softmax-weighted sum of all hidden states."""

    def __init__(self, config: Wav2Vec2ConformerConfig, allow_adapter: bool = False):
        super().__init__(config)
        if config.add_adapter and not allow_adapter:
            raise ValueError(f"{type(self).__name__} does not support add_adapter=True")
        self.wav2vec2_conformer = Wav2Vec2ConformerModel(config)
        if config.use_weighted_layer_sum:
            n = config.num_hidden_layers + 1  # the blocks' input plus each block's output
            self.layer_weights = nn.Parameter(torch.ones(n) / n)

    def init_weights(self) -> None:
        if self.config.use_weighted_layer_sum:
            nn.init.constant_(self.layer_weights, 1.0 / self.layer_weights.numel())

    def encode(self, input_values, attention_mask, output_hidden_states, output_attentions):
        """Run the bare model; return its output and the features the head reads (B, T, C)."""
        weighted = self.config.use_weighted_layer_sum
        out: Wav2Vec2ConformerBaseModelOutput = self.wav2vec2_conformer(
            input_values,
            attention_mask=attention_mask,
            output_hidden_states=output_hidden_states or weighted,
            output_attentions=output_attentions,
        )
        if not weighted:
            return out, out.last_hidden_state
        stacked = torch.stack(out.hidden_states, dim=1)  # (B, L+1, T, C)
        w = nn.functional.softmax(self.layer_weights, dim=-1)
        return out, (stacked * w.view(-1, 1, 1)).sum(dim=1)


def _check_ids(name: str, labels: torch.Tensor, high: int) -> None:
    bad = (labels != -100) & ((labels < 0) | (labels >= high))
    if bad.any():
        raise ValueError(
            f"{name} must be in [0, {high - 1}] or -100 (ignored); "
            f"got {labels[bad].unique().tolist()}"
        )


class Wav2Vec2ConformerForCTC(Wav2Vec2ConformerPreTrainedModel):
    """Bare model + dropout + linear layer over the vocabulary, trained with CTC (blank = pad)."""

    def __init__(self, config: Wav2Vec2ConformerConfig):
        super().__init__(config)
        if config.vocab_size is None:
            raise ValueError(
                "Wav2Vec2ConformerForCTC needs config.vocab_size (pass vocab_size=...)"
            )
        self.wav2vec2_conformer = Wav2Vec2ConformerModel(config)
        self.dropout = nn.Dropout(config.final_dropout)
        width = config.output_hidden_size if config.add_adapter else config.hidden_size
        self.lm_head = nn.Linear(width, config.vocab_size)
        self.post_init()

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
    ) -> CausalLMOutput:
        """labels: (B, U) token ids, -100 where padded. Returns logits (B, T, vocab_size)."""
        if labels is not None:
            _check_ids("labels", labels, self.config.vocab_size)
        out = self.wav2vec2_conformer(
            input_values,
            attention_mask=attention_mask,
            output_hidden_states=output_hidden_states,
            output_attentions=output_attentions,
        )
        logits = self.lm_head(self.dropout(out.last_hidden_state))  # (B, T, V)
        loss = None
        if labels is not None:
            if attention_mask is None:
                attention_mask = torch.ones_like(input_values, dtype=torch.long)
            lengths = self.feat_extract_output_lengths(attention_mask.sum(-1)).to(torch.long)
            loss = ctc_loss(
                logits,
                labels,
                lengths,
                self.config.pad_token_id,
                self.config.ctc_loss_reduction,
                self.config.ctc_zero_infinity,
            )
        return CausalLMOutput(loss, logits, out.hidden_states, out.attentions)


class Wav2Vec2ConformerForSequenceClassification(_LayerSumHead):
    """Projection, mean-pool over valid frames, linear classifier (keyword spotting, intent...)."""

    def __init__(self, config: Wav2Vec2ConformerConfig):
        super().__init__(config)
        self.projector = nn.Linear(config.hidden_size, config.classifier_proj_size)
        self.classifier = nn.Linear(config.classifier_proj_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
    ) -> SequenceClassifierOutput:
        """labels: (B,) class ids (single-label), (B, num_labels) floats (multi-label), or (B,)
        floats with num_labels == 1 (regression); config.problem_type overrides the guess."""
        out, x = self.encode(input_values, attention_mask, output_hidden_states, output_attentions)
        x = self.projector(x)  # (B, T, P)
        if attention_mask is None:
            pooled = x.mean(dim=1)
        else:
            valid = self.feature_vector_mask(x.shape[1], attention_mask)  # (B, T)
            x = x.masked_fill(~valid[..., None], 0.0)
            pooled = x.sum(dim=1) / valid.sum(dim=1).view(-1, 1)  # (B, P)
        logits = self.classifier(pooled)  # (B, num_labels)
        loss = None if labels is None else self.classification_loss(logits, labels)
        return SequenceClassifierOutput(loss, logits, out.hidden_states, out.attentions)

    def classification_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        n = self.config.num_labels
        kind = self.config.problem_type
        if kind is None:
            if n == 1:
                kind = "regression"
            elif labels.dtype in (torch.long, torch.int):
                kind = "single_label_classification"
            else:
                kind = "multi_label_classification"
        if kind == "regression":
            return nn.functional.mse_loss(logits.squeeze(-1), labels.to(logits.dtype).view(-1))
        if kind == "single_label_classification":
            _check_ids("labels", labels, n)
            # the reference's only loss: cross-entropy over class ids
            return nn.functional.cross_entropy(logits.view(-1, n), labels.view(-1))
        if kind == "multi_label_classification":
            if labels.shape != logits.shape:
                raise ValueError(
                    f"multi-label targets must have shape {tuple(logits.shape)}, "
                    f"got {tuple(labels.shape)}"
                )
            return nn.functional.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
        raise ValueError(f"unknown problem_type {kind!r}")


class Wav2Vec2ConformerForAudioFrameClassification(_LayerSumHead):
    """A linear classifier on every frame (diarization, voice activity...)."""

    def __init__(self, config: Wav2Vec2ConformerConfig):
        super().__init__(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.num_labels = config.num_labels
        self.post_init()

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
    ) -> TokenClassifierOutput:
        """labels: (B, T, num_labels) one-hot (or multi-hot) per frame; the loss is the
        cross-entropy against each frame's argmax class, as in the reference."""
        out, x = self.encode(input_values, attention_mask, output_hidden_states, output_attentions)
        logits = self.classifier(x)  # (B, T, num_labels)
        loss = None
        if labels is not None:
            if labels.shape[-1] != self.num_labels or labels.numel() != logits.numel():
                raise ValueError(
                    f"frame labels must have shape {tuple(logits.shape)}, got {tuple(labels.shape)}"
                )
            target = torch.argmax(labels.reshape(-1, self.num_labels), dim=1)
            loss = nn.functional.cross_entropy(logits.reshape(-1, self.num_labels), target)
        return TokenClassifierOutput(loss, logits, out.hidden_states, out.attentions)


class TDNNLayer(nn.Module):
    """Dilated 1-D conv + ReLU over frames; the weight is stored as a Linear (reference layout)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, dilation: int):
        super().__init__()
        self.c_in, self.c_out, self.kernel_size, self.dilation = c_in, c_out, kernel, dilation
        self.kernel = nn.Linear(c_in * kernel, c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, T, C_in) -> (B, T - dilation*(kernel-1), C_out); conv runs channels-first
        w = self.kernel.weight.view(self.c_out, self.kernel_size, self.c_in).transpose(1, 2)
        y = nn.functional.conv1d(x.transpose(1, 2), w, self.kernel.bias, dilation=self.dilation)
        return torch.relu(y.transpose(1, 2))


class AMSoftmaxLoss(nn.Module):
    """Holds the class vectors of the additive-margin softmax (key `objective.weight`)."""

    def __init__(self, dim: int, num_labels: int, scale: float = 30.0, margin: float = 0.4):
        super().__init__()
        self.scale, self.margin, self.num_labels = scale, margin, num_labels
        self.weight = nn.Parameter(torch.randn(dim, num_labels))

    def init_weights(self) -> None:
        nn.init.normal_(self.weight)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return am_softmax_loss(x, self.weight, labels, self.scale, self.margin)


class Wav2Vec2ConformerForXVector(_LayerSumHead):
    """Speaker embeddings: projection -> TDNN stack -> mean+std pooling -> embedding."""

    def __init__(self, config: Wav2Vec2ConformerConfig):
        super().__init__(config, allow_adapter=True)
        c = config
        self.projector = nn.Linear(c.hidden_size, c.tdnn_dim[0])
        self.tdnn = nn.ModuleList(
            TDNNLayer(
                c.tdnn_dim[i - 1] if i > 0 else c.tdnn_dim[0],
                c.tdnn_dim[i],
                c.tdnn_kernel[i],
                c.tdnn_dilation[i],
            )
            for i in range(len(c.tdnn_dim))
        )
        self.feature_extractor = nn.Linear(c.tdnn_dim[-1] * 2, c.xvector_output_dim)
        self.classifier = nn.Linear(c.xvector_output_dim, c.xvector_output_dim)
        self.objective = AMSoftmaxLoss(c.xvector_output_dim, c.num_labels)
        self.post_init()

    def tdnn_output_lengths(self, lengths: torch.Tensor | int) -> torch.Tensor | int:
        """TRAP (reference parity): this formula ignores dilation (kernel - 1 frames lost per
        layer, not dilation * (kernel - 1)), so pooling may include a few frames past a padded
        item's end. The same formula is used here to give the reference's embeddings."""
        for k in self.config.tdnn_kernel:
            lengths = lengths - k + 1
        return lengths

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
    ) -> XVectorOutput:
        """labels: (B,) speaker ids for the AM-softmax loss. Returns embeddings (B, D)."""
        out, x = self.encode(input_values, attention_mask, output_hidden_states, output_attentions)
        x = self.projector(x)
        for layer in self.tdnn:
            x = layer(x)  # (B, T', C)
        if attention_mask is None:
            mean, std = x.mean(dim=1), x.std(dim=1)
        else:
            lengths = self.tdnn_output_lengths(
                self.feat_extract_output_lengths(attention_mask.sum(1))
            )
            mean = torch.stack([x[i, :n].mean(dim=0) for i, n in enumerate(lengths.tolist())])
            std = torch.stack([x[i, :n].std(dim=0) for i, n in enumerate(lengths.tolist())])
        embeddings = self.feature_extractor(torch.cat([mean, std], dim=-1))  # (B, D)
        logits = self.classifier(embeddings)
        loss = None
        if labels is not None:
            _check_ids("labels", labels, self.config.num_labels)
            loss = self.objective(logits, labels)
        return XVectorOutput(loss, logits, embeddings, out.hidden_states, out.attentions)
