"""STSNet_SW model: configuration checks, shapes, key-frame selection, gradients, seeding."""

from __future__ import annotations

import pytest
import torch

from export.model import (
    ModelConfig,
    STSNetSW,
    build_model,
    select_key_frames,
    sliding_windows,
)

# A small crop keeps the CPU cost low where the crop size does not matter to what is tested.
SMALL = ModelConfig(crop_size=64)


def _rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


# --- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [
        ({"window": 4}, "window"),
        ({"window": 1}, "window"),
        ({"window": 5.0}, "window"),
        ({"window": 5, "key_frames": 6}, "key_frames"),
        ({"key_frames": 0}, "key_frames"),
        ({"class_names": ("micro", "none")}, "class_names"),
        ({"class_names": ("none",)}, "class_names"),
        ({"class_names": ("none", "micro", "micro")}, "class_names"),
        ({"class_names": ("none", "smile")}, "class_names"),
        ({"crop_size": 100}, "crop_size"),
        ({"crop_size": 32}, "crop_size"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"selector_dropout": 1.5}, "selector_dropout"),
        ({"gru_hidden": 0}, "gru_hidden"),
        ({"gru_layers": 0}, "gru_layers"),
        ({"input_std": 0.0}, "input_std"),
        ({"input_tau_frames": -5}, "tau_frames"),
        ({"input_tau_frames": 30, "input_gain": 0.0}, "gain"),
    ],
)
def test_config_rejects_bad_settings_naming_them(kwargs: dict, setting: str) -> None:
    with pytest.raises(ValueError, match=setting):
        ModelConfig(**kwargs)


def test_config_dict_round_trip_and_unknown_keys() -> None:
    cfg = ModelConfig(window=7, key_frames=4, class_names=("none", "macro"), gru_hidden=16)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown model config keys.*'stride'"):
        ModelConfig.from_dict({**cfg.to_dict(), "stride": 2})


def test_config_derived_sizes() -> None:
    cfg = ModelConfig(crop_size=160, class_names=["none", "micro"])
    assert cfg.class_names == ("none", "micro")  # lists become tuples
    assert cfg.num_classes == 2
    assert cfg.feature_shape == (512, 5, 5)


# --- shapes --------------------------------------------------------------------------------


def test_backbone_and_head_shapes() -> None:
    model = build_model().eval()
    with torch.no_grad():
        feats = model.backbone(_rand(3, 1, 128, 128))
        assert feats.shape == (3, 512, 4, 4)
        logits, scores = model.head(_rand(2, 5, 512, 4, 4))
    assert logits.shape == (2, 3)
    assert scores.shape == (2, 5)
    assert bool(((scores > 0) & (scores < 1)).all())


def test_binary_non_default_config_end_to_end() -> None:
    cfg = ModelConfig(window=7, key_frames=4, class_names=("none", "micro"), crop_size=64)
    model = build_model(cfg).eval()
    with torch.no_grad():
        logits, scores = model(_rand(2, 7, 1, 64, 64))
        assert model.backbone(_rand(1, 1, 64, 64)).shape == (1, 512, 2, 2)
    assert logits.shape == (2, 2)
    assert scores.shape == (2, 7)


@pytest.mark.parametrize(
    "shape", [(2, 4, 1, 64, 64), (2, 5, 64, 64), (2, 5, 3, 64, 64), (2, 5, 1, 128, 128)])
def test_model_rejects_wrong_input_shape(shape: tuple[int, ...]) -> None:
    model = build_model(SMALL)
    with pytest.raises(ValueError, match=r"expected windows of shape \(B, 5, 1, 64, 64\), got "
                       + r"\(" + ", ".join(map(str, shape)) + r"\)"):
        model(torch.zeros(shape))


def test_forward_clips_equals_each_sliding_window_alone() -> None:
    """Training runs the backbone once per clip frame; it must give the per-window answer."""
    model = build_model(SMALL).eval()
    clips = _rand(2, 8, 1, 64, 64)  # 2 clips of 8 frames -> 4 windows each
    with torch.no_grad():
        logits, scores = model.forward_clips(clips)
        assert logits.shape == (8, 3) and scores.shape == (8, 5)
        for b in range(2):
            for j in range(4):
                one_logits, one_scores = model(clips[b:b + 1, j:j + 5])
                row = b * 4 + j
                torch.testing.assert_close(logits[row:row + 1], one_logits, atol=1e-5, rtol=1e-4)
                torch.testing.assert_close(scores[row:row + 1], one_scores, atol=1e-5, rtol=1e-4)


def test_sliding_windows_order_and_short_clip() -> None:
    frames = torch.arange(2 * 6).reshape(2, 6).float()  # frame value = clip * 6 + index
    windows = sliding_windows(frames, 5)
    assert windows.tolist() == [[0, 1, 2, 3, 4], [1, 2, 3, 4, 5],
                                [6, 7, 8, 9, 10], [7, 8, 9, 10, 11]]
    with pytest.raises(ValueError, match="4 frames is shorter than the window"):
        sliding_windows(frames[:, :4], 5)


# --- key-frame selection -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scores", "m", "expected"),
    [
        ([0.1, 0.9, 0.2, 0.8, 0.7], 3, [1, 3, 4]),
        ([0.9, 0.1, 0.8, 0.2, 0.7], 3, [0, 2, 4]),
        ([0.5, 0.4, 0.3, 0.2, 0.1], 3, [0, 1, 2]),
        ([0.1, 0.2, 0.3, 0.4, 0.5], 2, [3, 4]),
        ([0.3, 0.9, 0.1, 0.2, 0.4], 1, [1]),
        ([0.3, 0.9, 0.1, 0.2, 0.4], 5, [0, 1, 2, 3, 4]),
    ],
)
def test_select_key_frames_top_m_in_time_order(scores: list[float], m: int,
                                               expected: list[int]) -> None:
    got = select_key_frames(torch.tensor([scores, scores[::-1]]), m)
    assert got[0].tolist() == expected
    assert got[1].tolist() == sorted(len(scores) - 1 - i for i in expected)


def _force_scores(model: STSNetSW, z: torch.Tensor, monkeypatch: pytest.MonkeyPatch) -> None:
    logit = torch.logit(z)  # the selector returns logits; the head's sigmoid gives back z
    monkeypatch.setattr(model.head.selector, "forward", lambda v: logit.expand(v.shape[0], -1))


def test_head_equals_hand_computation_with_forced_scores(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the top-M frames (unscaled: hard selection) feed a GRU run at every position."""
    model = build_model().eval()
    head = model.head
    z = torch.tensor([[0.1, 0.9, 0.2, 0.8, 0.7]])  # keeps frames 1, 3, 4
    _force_scores(model, z, monkeypatch)
    feats = _rand(1, 5, 512, 4, 4, seed=1)
    with torch.no_grad():
        logits, scores = head(feats)
        per_position = []
        for i in range(4):
            for j in range(4):
                seq = torch.stack([feats[0, t, :, i, j] for t in (1, 3, 4)])
                out, _ = head.gru(seq.unsqueeze(0))  # (1, M, 2H)
                per_position.append(out[0].mean(dim=0))  # (2H,)
        # fc input is channel-major: feature c of position p sits at c * positions + p
        fc_in = torch.stack(per_position, dim=1).reshape(1, -1)
        expected = head.fc(fc_in)
    torch.testing.assert_close(scores, z)
    torch.testing.assert_close(logits, expected, atol=1e-5, rtol=1e-5)


def test_only_selected_frames_influence_logits(monkeypatch: pytest.MonkeyPatch) -> None:
    model = build_model(SMALL).eval()
    _force_scores(model, torch.tensor([[0.1, 0.9, 0.2, 0.8, 0.7]]), monkeypatch)
    feats = _rand(1, 5, 512, 2, 2, seed=2)
    changed_unselected = feats.clone()
    changed_unselected[:, [0, 2]] = _rand(1, 2, 512, 2, 2, seed=3)
    changed_selected = feats.clone()
    changed_selected[:, 3] = _rand(1, 512, 2, 2, seed=4)
    with torch.no_grad():
        base = model.head(feats)[0]
        assert torch.equal(model.head(changed_unselected)[0], base)
        assert not torch.allclose(model.head(changed_selected)[0], base)


# --- gradients and seeding -----------------------------------------------------------------


def test_gradients_reach_key_frame_scorer_and_backbone() -> None:
    model = build_model(seed=3).train()
    windows = _rand(2, 5, 1, 128, 128, seed=5)
    logits, _ = model(windows)
    torch.nn.functional.cross_entropy(logits, torch.tensor([1, 2])).backward()
    sel = model.head.selector
    for name, param in [("selector.w1", sel.w1.weight), ("selector.w2", sel.w2.weight),
                        ("selector.w3", sel.w3.weight), ("selector.u", sel.u.weight),
                        ("selector.l2", sel.l2.weight), ("gru", model.head.gru.weight_ih_l0),
                        ("fc", model.head.fc.weight),
                        ("backbone stem conv", model.backbone.stem[0].weight),
                        ("backbone layer4", model.backbone.layer4[1].conv2.weight)]:
        assert param.grad is not None, f"{name} got no gradient"
        assert float(param.grad.abs().sum()) > 0, f"{name} gradient is all zero"


def test_same_seed_same_weights_different_seed_different() -> None:
    a, b, c = build_model(SMALL, seed=7), build_model(SMALL, seed=7), build_model(SMALL, seed=8)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    differing = [k for k in sa if sa[k].is_floating_point() and not torch.equal(sa[k], sc[k])]
    assert "backbone.stem.0.weight" in differing and "head.selector.l2.weight" in differing


def test_build_model_leaves_global_random_state_alone() -> None:
    torch.manual_seed(11)
    expected = torch.rand(3)
    torch.manual_seed(11)
    build_model(SMALL, seed=0)
    assert torch.equal(torch.rand(3), expected)
