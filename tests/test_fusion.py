"""Attention fusions (joint cross-attention, multimodal transformer): attention stays within a sample, any
sequence lengths work, and both modalities shape the fused embedding."""

import pytest
import torch

from abaw.models import ModelConfig, build_model
from abaw.models.fusion import JointCrossAttentionFusion, TransformerFusion

IN_DIMS = {"visual": 12, "audio": 10}


def sequences(batch, visual_steps=3, audio_steps=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"visual": torch.randn(batch, visual_steps, 12, generator=g),
            "audio": torch.randn(batch, audio_steps, 10, generator=g)}


@pytest.mark.parametrize("make", [
    lambda dims: TransformerFusion(IN_DIMS, dims, dropout=0.0, width=16, heads=4, layers=2),
    lambda dims: JointCrossAttentionFusion(IN_DIMS, dims, dropout=0.0, width=16),
], ids=["transformer", "jca"])
def test_a_sample_is_fused_alone_whatever_else_is_in_the_batch(make):
    torch.manual_seed(0)
    fusion = make(())  # no dense layers: nothing but attention, even in training mode
    batch = sequences(4)
    other = sequences(4, seed=1)
    other = {m: torch.cat([batch[m][:1], other[m][1:]]) for m in batch}  # same first sample, others changed
    for mode in (fusion.train, fusion.eval):
        mode()
        torch.testing.assert_close(fusion(batch)[0], fusion(other)[0], rtol=1e-5, atol=1e-6)
        assert not torch.allclose(fusion(batch)[1], fusion(other)[1])
    with_mlp = make((8,)).eval()  # the dense layers' batch norm uses running statistics in eval mode
    torch.testing.assert_close(with_mlp(batch)[0], with_mlp(other)[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fusion_class", [TransformerFusion, JointCrossAttentionFusion])
@pytest.mark.parametrize("audio_steps", [1, 2, 3, 9])
def test_any_sequence_lengths_and_both_modalities_matter(fusion_class, audio_steps):
    torch.manual_seed(0)
    fusion = fusion_class(IN_DIMS, (8,), dropout=0.0, width=16).eval()
    batch = {m: x.requires_grad_() for m, x in sequences(3, audio_steps=audio_steps).items()}
    out = fusion(batch)
    assert out.shape == (3, 8) and fusion.out_dim == 8
    out.sum().backward()
    assert all(batch[m].grad.abs().sum() > 0 for m in batch)


def test_joint_cross_attention_needs_two_modalities():
    with pytest.raises(ValueError, match="two modalities"):
        JointCrossAttentionFusion({"visual": 12}, (8,))


@pytest.mark.parametrize("fusion", ["jca", "transformer"])
def test_teachers_with_attention_fusions_predict_and_expose_their_modalities(fusion):
    torch.manual_seed(0)
    config = ModelConfig(backbone="test_byobnet", image_size=32, temporal_dim=16, audio_dim=16, sample_rate=8000,
                         soundnet_width=2, fusion=fusion, fusion_dims=(16,), attention_width=16,
                         attention_heads=2, attention_layers=1)
    model = build_model(config).eval()
    batch = {"faces": torch.randint(0, 256, (2, 3, 3, 32, 32), dtype=torch.uint8), "audio": torch.randn(2, 8000)}
    out = model(batch)
    assert out["va"].shape == (2, 2) and out["embedding"].shape == (2, 16)
    # The per-modality embeddings are what the encoders give on their own (the pooled sequence).
    torch.testing.assert_close(out["visual"], model.encoders["visual"](batch["faces"]))
    torch.testing.assert_close(out["audio"], model.encoders["audio"](batch["audio"]), rtol=1e-5, atol=1e-6)
