"""The building blocks: ResNet-18 layout and weight loading, ResPEL symmetry, decoder ranges."""

from __future__ import annotations

import pytest
import torch

from handvae.errors import UserError
from handvae.models import build_model
from handvae.models.decoders import DepthDecoder, FoldingDecoder, HeatmapDecoder
from handvae.models.encoders import Encoder, RGBTrunk
from handvae.models.resnet import ResNet18, load_torchvision_weights
from handvae.models.respel import PEL, ResPELTrunk
from handvae.schema import Config


def torchvision_resnet18_layout() -> dict[str, tuple[int, ...]]:
    """torchvision's resnet18 state-dict names and shapes, written out from its architecture."""
    out: dict[str, tuple[int, ...]] = {"conv1.weight": (64, 3, 7, 7)}

    def bn(prefix: str, ch: int) -> None:
        for k in ("weight", "bias", "running_mean", "running_var"):
            out[f"{prefix}.{k}"] = (ch,)
        out[f"{prefix}.num_batches_tracked"] = ()

    bn("bn1", 64)
    in_ch = 64
    for i, ch in enumerate((64, 128, 256, 512), start=1):
        for b in (0, 1):
            cin = in_ch if b == 0 else ch
            p = f"layer{i}.{b}"
            out[f"{p}.conv1.weight"] = (ch, cin, 3, 3)
            bn(f"{p}.bn1", ch)
            out[f"{p}.conv2.weight"] = (ch, ch, 3, 3)
            bn(f"{p}.bn2", ch)
            if b == 0 and i > 1:
                out[f"{p}.downsample.0.weight"] = (ch, cin, 1, 1)
                bn(f"{p}.downsample.1", ch)
        in_ch = ch
    out["fc.weight"] = (1000, 512)
    out["fc.bias"] = (1000,)
    return out


def test_resnet18_matches_the_torchvision_layout_and_parameter_count():
    net = ResNet18(width=64, num_classes=1000)
    got = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert got == torchvision_resnet18_layout()
    assert sum(p.numel() for p in net.parameters()) == 11_689_512  # torchvision's published figure


@pytest.mark.parametrize("size", [32, 50])
def test_narrow_resnet_accepts_any_size_from_32(size):
    net = ResNet18(width=8).eval()
    assert net(torch.rand(2, 3, size, size)).shape == (2, 64)


def test_resnet_rejects_inputs_below_32px():
    with pytest.raises(ValueError, match="at least 32x32"):
        ResNet18(width=8)(torch.rand(1, 3, 16, 16))


@pytest.fixture(scope="module")
def torchvision_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    net = ResNet18(width=64, num_classes=1000)
    for m in net.modules():  # non-trivial running statistics, to see them copied
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
    return net.state_dict()


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_weights_file_round_trip_into_the_model(tmp_path, torchvision_state, suffix):
    path = tmp_path / f"resnet18{suffix}"
    if suffix == ".pth":
        torch.save(torchvision_state, path)
    else:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in torchvision_state.items()}, str(path))
    state = load_torchvision_weights(path)
    cfg = Config()
    cfg.model.strategy = "S1"
    cfg.model.pretrained = str(path)
    model = build_model(cfg)
    trunk = model.encoders["R"].trunk.resnet
    for name, value in trunk.state_dict().items():
        torch.testing.assert_close(value, torchvision_state[name], msg=name)
    assert "fc.weight" in state  # present in the file, not needed by the trunk


def test_weights_of_another_width_or_a_pickled_object_are_user_errors(tmp_path, torchvision_state):
    path = tmp_path / "w.pth"
    torch.save(torchvision_state, path)
    narrow = RGBTrunk(width=32).resnet
    with pytest.raises(UserError, match="rgb_width=32"):
        narrow.load_torchvision_state(load_torchvision_weights(path), source=str(path))
    bad = tmp_path / "evil.pth"
    torch.save({"conv1.weight": torch.zeros(1), "obj": Config()}, bad)  # needs unpickling a class
    with pytest.raises(UserError, match="cannot read weights"):
        load_torchvision_weights(bad)
    with pytest.raises(UserError, match="not found"):
        load_torchvision_weights(tmp_path / "missing.pth")


def test_pel_is_permutation_equivariant_and_the_cloud_encoder_invariant():
    torch.manual_seed(0)
    x = torch.randn(3, 20, 5)
    perm = torch.randperm(20)
    pel = PEL(5, 7).eval()
    torch.testing.assert_close(pel(x)[:, perm], pel(x[:, perm]))
    enc = Encoder(ResPELTrunk(width_mult=0.125), 64, tanh_mu=True).eval()
    pts = torch.randn(2, 64, 3)
    a, b = enc(pts), enc(pts[:, torch.randperm(64)])
    torch.testing.assert_close(a.mu, b.mu, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a.logvar, b.logvar, atol=1e-5, rtol=1e-5)
    assert a.mu.abs().max() <= 1.0  # Tanh mean head (Table 2)


def test_respel_blocks_have_seven_pels_each():
    trunk = ResPELTrunk(width_mult=0.125)
    for block in trunk.blocks:
        assert sum(isinstance(m, PEL) for m in block.modules()) == 7


def test_decoder_output_ranges_and_sizes():
    torch.manual_seed(0)
    z = torch.randn(3, 64) * 5
    cloud = FoldingDecoder(64, n_points=256, width_mult=0.125)(z)
    assert cloud.shape == (3, 256, 3) and cloud.abs().max() <= 3.0
    heat = HeatmapDecoder(64, size=64)(z)
    assert heat.shape == (3, 21, 64, 64) and heat.min() >= 0 and heat.max() <= 1
    assert DepthDecoder(64, size=48, width=4)(z).shape == (3, 1, 48, 48)
    assert DepthDecoder(64, size=64, width=4)(z).shape == (3, 1, 64, 64)


@pytest.mark.parametrize("kernel", [2, 3, 4, 5, 6, 7])
def test_heatmap_decoder_kernels_double_the_size_and_cost_in_proportion(kernel):
    torch.manual_seed(0)
    dec = HeatmapDecoder(64, size=32, base_ch=16, kernel=kernel)
    assert dec(torch.randn(2, 64)).shape == (2, 21, 32, 32)
    convs = [m for m in dec.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [c.kernel_size for c in convs] == [(kernel, kernel)] * 2
    # a stride-2 transposed convolution does in_ch * out_ch * kernel^2 multiply-adds per INPUT pixel:
    # 16 -> 8 channels at 8x8, then 8 -> 21 at 16x16 (by hand)
    assert sum(c.weight.numel() for c in convs) == (16 * 8 + 8 * 21) * kernel**2


def test_decoder_sizes_that_cannot_be_built_are_user_errors():
    with pytest.raises(UserError, match=r"model\.heat_kernel"):
        HeatmapDecoder(64, size=32, kernel=1)
    with pytest.raises(UserError, match=r"data\.heatmap_size"):
        HeatmapDecoder(64, size=48)
    with pytest.raises(UserError, match=r"data\.n_points"):
        FoldingDecoder(64, n_points=200)
