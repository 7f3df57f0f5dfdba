"""STSNet_SW: the Spatio-Temporal Spotting Network with Sliding Windows (Fu et al., 2023).

The network is split in two parts that share one set of weights:

* :class:`Backbone` maps grayscale face crops ``(N, 1, S, S)`` in ``[0, 1]`` to feature maps
  ``(N, 512, S/32, S/32)`` (ResNet-18 with a 1-channel 5x5 stride-2 stem; 512x4x4 for S=128).
* :class:`WindowHead` maps the feature maps of one window of K frames ``(B, K, 512, h, w)`` to
  key-frame scores ``(B, K)`` and class logits ``(B, Q)`` for the window's middle frame.

``STSNetSW`` is ``head(backbone(frames))``. The split is what lets the live half pass every frame
through the backbone once and reuse its feature map in the K windows that contain it.

Deviations from the paper, all deliberate:

* Eq. 4 uses ``W3 v_i`` (as VASNet, which the authors build on), not the printed ``W3 p_k``:
  with the attention weights summing to one the printed form makes attention a no-op.
  The attention logits are scaled by ``1/sqrt(d)``.
* Hard top-M selection has no gradient. During training the M chosen feature maps (kept in
  temporal order) are multiplied by a straight-through gate ``1 + z - stopgrad(z)``: the forward
  value is the paper's hard selection, and the classification loss's gradient reaches the
  key-frame scorer through ``z``. (Gating by ``z`` itself let training push every score to 0,
  zeroing the features and collapsing the classifier; in eval and in the ONNX graphs the
  selection is plain hard top-M.)
* No ImageNet/AffectNet initialisation: nothing can be downloaded; weights start from torch's
  default initialisation under a fixed seed (the authors' public code also trains from scratch).
* Optional input transform (``input_tau_frames > 0``, off by default): the backbone sees each
  crop minus a running average of the face's previous crops (``realtime.reference``), which
  removes identity; trained from scratch on SynthME, raw crops learn nothing that carries to new
  people (held-out F1 0) and this transform is what makes the shipped model work.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock, ResNet

from realtime.reference import InputTransform

FEATURE_CHANNELS = 512
BACKBONE_STRIDE = 32
DEFAULT_CLASS_NAMES: tuple[str, ...] = ("none", "micro", "macro")
KNOWN_CLASS_NAMES = {"none", "micro", "macro"}
KEY_FRAME_MODES = ("selector", "fixed")


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild an STSNet_SW model (stored in every checkpoint)."""

    window: int = 5  # K: frames per sliding window (odd; the label is the middle frame's)
    key_frames: int = 3  # M: frames kept by the key-frame selector
    class_names: tuple[str, ...] = DEFAULT_CLASS_NAMES  # index order of the logits
    crop_size: int = 128  # S: side of the square grayscale crop, pixels
    gru_hidden: int = 32  # per direction; C' = 2 * gru_hidden
    gru_layers: int = 2
    dropout: float = 0.5  # before the classifier
    selector_dropout: float = 0.5  # inside the key-frame selector (VASNet)
    input_mean: float = 0.5  # the graph computes (x - mean) / std on x in [0, 1]
    input_std: float = 0.5
    # Input transform (realtime/reference.py): 0 feeds raw crops (the paper); > 0 feeds each crop
    # minus a running average of the track's previous crops with this time constant, in frames.
    input_tau_frames: int = 0
    input_gain: float = 4.0  # contrast of the reference- or lag-difference image
    # > 0 feeds each crop minus the same track's crop this many frames earlier (lag difference);
    # at most one of input_tau_frames and input_lag_frames is non-zero.
    input_lag_frames: int = 0
    # "selector" (the paper: the top-M frames by the self-attention scores) or "fixed" (an
    # ablation: always the M frames centred on the window's middle; the scores are still
    # computed and reported, but choose nothing).
    key_frame_mode: str = "selector"
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "class_names", tuple(self.class_names))
        if not isinstance(self.window, int) or self.window < 3 or self.window % 2 == 0:
            raise ValueError(f"window (K) must be an odd integer >= 3, got {self.window!r}")
        if not isinstance(self.key_frames, int) or not 1 <= self.key_frames <= self.window:
            raise ValueError(
                f"key_frames (M) must be an integer in [1, window={self.window}], "
                f"got {self.key_frames!r}"
            )
        names = self.class_names
        if len(names) < 2 or names[0] != "none" or len(set(names)) != len(names):
            raise ValueError(
                "class_names must start with 'none' and list 2 or 3 distinct classes from "
                f"{sorted(KNOWN_CLASS_NAMES)}, got {names!r}"
            )
        if not set(names) <= KNOWN_CLASS_NAMES:
            raise ValueError(f"class_names has unknown names "
                             f"{sorted(set(names) - KNOWN_CLASS_NAMES)}; "
                             f"valid: {sorted(KNOWN_CLASS_NAMES)}")
        if (not isinstance(self.crop_size, int) or self.crop_size < 64
                or self.crop_size % BACKBONE_STRIDE):
            raise ValueError(
                f"crop_size must be a multiple of {BACKBONE_STRIDE} and >= 64, "
                f"got {self.crop_size!r}"
            )
        if self.gru_hidden < 1 or self.gru_layers < 1:
            raise ValueError(f"gru_hidden and gru_layers must be >= 1, got "
                             f"{self.gru_hidden}, {self.gru_layers}")
        for name in ("dropout", "selector_dropout"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value!r}")
        if self.key_frame_mode not in KEY_FRAME_MODES:
            raise ValueError(f"key_frame_mode must be one of {list(KEY_FRAME_MODES)}, "
                             f"got {self.key_frame_mode!r}")
        if self.input_std <= 0:
            raise ValueError(f"input_std must be > 0, got {self.input_std!r}")
        self.input_transform  # noqa: B018 (validates the input_* fields)

    @property
    def input_transform(self) -> InputTransform:
        """What the backbone is fed: raw crops, reference or lag differences (see reference)."""
        return InputTransform(tau_frames=self.input_tau_frames, gain=self.input_gain,
                              lag_frames=self.input_lag_frames)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def feature_size(self) -> int:
        """Side of the backbone's feature map (4 for a 128-pixel crop)."""
        return self.crop_size // BACKBONE_STRIDE

    @property
    def feature_shape(self) -> tuple[int, int, int]:
        return (FEATURE_CHANNELS, self.feature_size, self.feature_size)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["class_names"] = list(self.class_names)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown model config keys {unknown}")
        return cls(**d)


class Backbone(nn.Module):
    """ResNet-18 (BasicBlock, [2, 2, 2, 2]) with a 1-channel 5x5 stride-2 stem, no pooling/fc."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        net = ResNet(BasicBlock, [2, 2, 2, 2])
        net.conv1 = nn.Conv2d(1, 64, kernel_size=5, stride=2, padding=2, bias=False)
        nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            net.layer1, net.layer2, net.layer3, net.layer4)
        self.register_buffer("mean", torch.tensor(config.input_mean), persistent=False)
        self.register_buffer("std", torch.tensor(config.input_std), persistent=False)

    def forward(self, frames: Tensor) -> Tensor:
        """``(N, 1, S, S)`` in [0, 1] -> ``(N, 512, S/32, S/32)``."""
        x = (frames - self.mean) / self.std
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x


class KeyFrameSelector(nn.Module):
    """Self-attention key-frame scorer of Eq. 1-6 on pooled per-frame vectors."""

    def __init__(self, dim: int, dropout: float) -> None:
        super().__init__()
        self.w1 = nn.Linear(dim, dim, bias=False)  # keys   (W1 v_i)
        self.w2 = nn.Linear(dim, dim, bias=False)  # query  (W2 v_k)
        self.w3 = nn.Linear(dim, dim, bias=False)  # values (W3 v_i)
        self.u = nn.Linear(dim, dim, bias=False)
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim)
        self.l1 = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Dropout(dropout),
                                nn.LayerNorm(dim))
        self.l2 = nn.Linear(dim, 1)
        self.scale = 1.0 / math.sqrt(dim)

    def forward(self, v: Tensor) -> Tensor:
        """``(B, K, C)`` pooled features -> score logits ``(B, K)``; the scores of Eq. 6 are
        their sigmoid."""
        alpha = torch.matmul(self.w2(v), self.w1(v).transpose(1, 2)) * self.scale  # Eq. 1-2
        attn = torch.softmax(alpha, dim=-1)  # Eq. 3
        b = torch.matmul(attn, self.w3(v))  # Eq. 4 (VASNet form)
        g = self.norm(self.drop(self.u(b) + v))  # Eq. 5
        return self.l2(self.l1(g)).squeeze(-1)  # Eq. 6 before its sigmoid


class WindowHead(nn.Module):
    """Key-frame selection + bi-GRU shared over the feature map's positions + classifier."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.selector = KeyFrameSelector(FEATURE_CHANNELS, config.selector_dropout)
        self.gru = nn.GRU(FEATURE_CHANNELS, config.gru_hidden, num_layers=config.gru_layers,
                          batch_first=True, bidirectional=True)
        self.drop = nn.Dropout(config.dropout)
        positions = config.feature_size ** 2
        self.fc = nn.Linear(2 * config.gru_hidden * positions, config.num_classes)

    def forward(self, feats: Tensor, return_keys: bool = False) -> tuple[Tensor, ...]:
        """``(B, K, 512, h, w)`` -> (logits ``(B, Q)``, key-frame scores ``(B, K)``), and with
        ``return_keys`` the chosen key-frame indices ``(B, M)`` in temporal order."""
        cfg = self.config
        b, k, c, h, w = feats.shape
        logit = self.selector(feats.mean(dim=(3, 4)))
        z = torch.sigmoid(logit)
        # Ranked by the logits, which order the frames exactly as z does: a trained selector
        # can saturate z near 0 (about 1e-6 on SynthME), where float32 sigmoids of nearby
        # logits tie in ONNX Runtime and the graph would pick other frames than PyTorch.
        if cfg.key_frame_mode == "fixed":
            idx = fixed_key_frames(b, k, cfg.key_frames, feats.device)
        else:
            idx = select_key_frames(logit, cfg.key_frames)  # (B, M), ascending time
        flat_idx = (idx + torch.arange(b, device=feats.device).unsqueeze(1) * k).reshape(-1)
        chosen = feats.reshape(b * k, c, h, w)[flat_idx]  # (B*M, C, h, w)
        if self.training:
            # Straight-through gate: the forward value is exactly the hard top-M selection
            # (multiplied by 1), the backward pass sends the classification loss's gradient to
            # the scores. Multiplying by z itself lets training drive z -> 0, which zeroes every
            # feature and collapses the classifier to a constant (observed on SynthME).
            gate = z.reshape(-1)[flat_idx]
            chosen = chosen * (1.0 + gate - gate.detach()).reshape(-1, 1, 1, 1)
        m = cfg.key_frames
        seq = chosen.reshape(b, m, c, h * w).permute(0, 3, 1, 2).reshape(b * h * w, m, c)
        out, _ = self.gru(seq)  # (B*h*w, M, 2H)
        out = out.mean(dim=1).reshape(b, h * w, -1).permute(0, 2, 1).reshape(b, -1)
        logits = self.fc(self.drop(out))
        return (logits, z, idx) if return_keys else (logits, z)


def select_key_frames(scores: Tensor, m: int) -> Tensor:
    """Indices of the top-``m`` scores per row, in temporal (ascending index) order."""
    top = torch.topk(scores, m, dim=1).indices
    return torch.sort(top, dim=1).values


def fixed_key_frames(batch: int, window: int, m: int, device: torch.device | None = None
                     ) -> Tensor:
    """The ``m`` frames centred on the window's middle, ``(batch, m)`` (the ablation of the
    key-frame selector; for K=5, M=3: frames 1, 2, 3)."""
    start = window // 2 - m // 2
    return torch.arange(start, start + m, device=device).unsqueeze(0).expand(batch, m)


def sliding_windows(feats: Tensor, window: int) -> Tensor:
    """``(B, L, ...)`` per-frame features -> ``(B * (L - window + 1), window, ...)`` windows.

    Window ``j`` of clip ``b`` covers frames ``j .. j + window - 1``; its label is frame
    ``j + window // 2``. Used by training so that one backbone pass per frame serves every
    window that contains it.
    """
    b, length = feats.shape[:2]
    if length < window:
        raise ValueError(f"clip of {length} frames is shorter than the window ({window})")
    idx = torch.arange(length - window + 1, device=feats.device).unsqueeze(1) + torch.arange(
        window, device=feats.device)
    windows = feats[:, idx]  # (B, L-K+1, K, ...)
    return windows.reshape(b * (length - window + 1), window, *feats.shape[2:])


class STSNetSW(nn.Module):
    """The whole model: ``head(backbone(frames))`` on windows ``(B, K, 1, S, S)``."""

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config or ModelConfig()
        self.backbone = Backbone(self.config)
        self.head = WindowHead(self.config)

    def forward(self, windows: Tensor, return_keys: bool = False) -> tuple[Tensor, ...]:
        """``(B, K, 1, S, S)`` -> what :meth:`WindowHead.forward` returns."""
        cfg = self.config
        if windows.dim() != 5 or tuple(windows.shape[1:]) != (
                cfg.window, 1, cfg.crop_size, cfg.crop_size):
            raise ValueError(
                f"expected windows of shape (B, {cfg.window}, 1, {cfg.crop_size}, "
                f"{cfg.crop_size}), got {tuple(windows.shape)}")
        b, k = windows.shape[:2]
        feats = self.backbone(windows.reshape(b * k, *windows.shape[2:]))
        return self.head(feats.reshape(b, k, *feats.shape[1:]), return_keys)

    def forward_clips(self, clips: Tensor, return_features: bool = False) -> tuple[Tensor, ...]:
        """Contiguous clips ``(B, L, 1, S, S)`` -> logits for every full window, in clip order.

        Returns logits ``(B * (L - K + 1), Q)`` and scores ``(B * (L - K + 1), K)``, and with
        ``return_features`` also the clips' feature maps ``(B, L, 512, h, w)`` (for losses on
        the backbone, without a second pass).
        """
        b, length = clips.shape[:2]
        feats = self.backbone(clips.reshape(b * length, *clips.shape[2:]))
        feats = feats.reshape(b, length, *feats.shape[1:])
        logits, scores = self.head(sliding_windows(feats, self.config.window))
        return (logits, scores, feats) if return_features else (logits, scores)


def build_model(config: ModelConfig | None = None, seed: int | None = 0) -> STSNetSW:
    """A freshly initialised model; the same seed gives the same weights."""
    if seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return STSNetSW(config)
    return STSNetSW(config)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
