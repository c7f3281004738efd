"""The eight Appendix A subnetworks: shapes, learnables, minimum sizes, taps, init, memory.

Big nets are only ever built on the ``meta`` device; real forwards use each topology's minimum
input size, where every net is small.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from dissim import topologies as T
from dissim.errors import ConfigError, ResourceError
from dissim.memory import check_fits, estimate_training_bytes, free_bytes

# Appendix A, "Learnable" column with one input channel: every conv in order, then the FC.
# Topology 7's FC follows the activation sizes (11x11x256 -> 4096); the paper prints 16,781,312.
APPENDIX_A_LEARNABLES = {
    1: [6464, 401536, 262272, 204864, 94638080],
    2: [1664, 102464, 73856, 147584, 262272, 204864, 52430848],
    3: [6400, 819456, 819328, 73792, 2363392],
    4: [6400, 819456, 147520, 73856, 204864, 84938752],
    5: [6464, 401536, 409728, 131136, 9441280],
    6: [3200, 73856, 8256, 73856, 16512, 131136, 31723520],
    7: [3200, 204928, 204864, 147712, 126881792],
    8: [3232, 50240, 204928, 147712, 2218790912],
}
# Appendix A, "Activations" column: the output side of every conv at 224 px.
APPENDIX_A_CONV_SIDES = {
    1: [215, 101, 47, 19], 2: [220, 216, 106, 104, 49, 20], 3: [55, 23, 19, 7],
    4: [218, 50, 48, 22, 18], 5: [215, 26, 9, 6], 6: [218, 107, 53, 51, 25, 22],
    7: [218, 105, 48, 22], 8: [215, 101, 97, 46],
}
# Appendix A, "Layers" column between input and FC: Conv, Grouped conv, ReLU, Leaky, Pool, Dropout.
APPENDIX_A_LAYERS = {
    1: "CRPCRPCRPCR", 2: "CLCLPCLCLPCLPCL", 3: "CPCRCPCRP", 4: "CPRCRCPCRC", 5: "CPRCRCRCR",
    6: "CPRCPRCRCRPCRCPR", 7: "DCPCPCPCP", 8: "CPRGCPRG",
}
# SPEC 5.3's literal-rule DEEPER table at 224 px.
DEEPER_AT_224 = {
    1: ("conv4", (64, 19, 19)), 2: ("conv6", (64, 20, 20)), 3: ("conv4", (64, 7, 7)),
    4: ("conv4", (128, 22, 22)), 5: ("conv4", (64, 6, 6)), 6: ("pool4", (64, 11, 11)),
    7: ("pool4", (256, 11, 11)), 8: ("pool2", (128, 48, 48)),
}
# Computed by hand from the layer lists (SPEC 9); 5 is 95 with MATLAB 'same' padding.
MIN_SIZES = {1: 73, 2: 68, 3: 131, 4: 86, 5: 95, 6: 58, 7: 62, 8: 41}
EMBEDDING = {t: 2048 if t == 2 else 4096 for t in range(1, 9)}
TOPOLOGIES = list(range(1, 9))


def _learnables(net: nn.Module) -> list[int]:
    layers = [m for m in net.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    return [sum(p.numel() for p in m.parameters()) for m in layers]


def test_registry_lists_eight_topologies():
    assert T.available() == TOPOLOGIES


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_output_and_tap_shapes_at_224_on_meta(topology):
    net = T.create(topology, 3, 224, device="meta")
    x = torch.empty(2, 3, 224, 224, device="meta")
    emb, tap = net.forward_with_tap(x)
    name, shape = DEEPER_AT_224[topology]
    assert net.embedding_dim == EMBEDDING[topology]
    assert emb.shape == (2, EMBEDDING[topology])
    assert net.deeper_layer == name
    assert tuple(tap.shape) == (2, *shape)
    assert T.deeper_shape(topology, 224) == shape
    assert all(p.is_meta for p in net.parameters())


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_layer_order_matches_appendix_a(topology):
    letter = {"conv": "C", "gconv": "G", "relu": "R", "lrelu": "L", "pool": "P", "dropout": "D"}
    names = [name.rstrip("0123456789") for name, _ in T.create(topology, device="meta")
             .features.named_children()]
    assert "".join(letter[n] for n in names) == APPENDIX_A_LAYERS[topology]


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_learnables_match_appendix_a_with_one_channel(topology):
    net = T.create(topology, 1, 224, device="meta")
    assert _learnables(net) == APPENDIX_A_LEARNABLES[topology]


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_three_channels_change_only_the_first_layer(topology):
    one = _learnables(T.create(topology, 1, 224, device="meta"))
    three = _learnables(T.create(topology, 3, 224, device="meta"))
    conv1 = T.create(topology, 1, 224, device="meta").features.conv1
    extra = 2 * conv1.kernel_size[0] * conv1.kernel_size[1] * conv1.out_channels
    assert three[1:] == one[1:]
    assert three[0] == one[0] + extra


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_conv_activation_sides_match_appendix_a(topology):
    net = T.create(topology, 1, 224, device="meta")
    x = torch.empty(1, 1, 224, 224, device="meta")
    sides = []
    for layer in net.features:
        x = layer(x)
        if isinstance(layer, nn.Conv2d):
            sides.append(x.shape[-1])
    assert sides == APPENDIX_A_CONV_SIDES[topology]


def test_topology7_follows_activation_sizes_not_printed_fc_count():
    net = T.create(7, 1, 224, device="meta")
    assert net.fc.in_features == 11 * 11 * 256
    printed = 16_781_312
    assert printed == 4096 * 4096 + 4096  # the printed count implies a 4096-d FC input
    assert sum(p.numel() for p in net.fc.parameters()) == 30976 * 4096 + 4096 != printed
    assert isinstance(net.features[0], nn.Dropout) and net.features[0].p == 0.5
    assert not any(isinstance(m, nn.ReLU | nn.LeakyReLU) for m in net.modules())


def test_special_layers_of_topologies_2_3_4_8():
    t2 = T.create(2, 1, 224, device="meta")
    assert all(m.negative_slope == 0.01 for m in t2.modules() if isinstance(m, nn.LeakyReLU))
    assert T.create(3, 1, 224, device="meta").features.conv1.stride == (4, 4)
    pool = T.create(4, 1, 224, device="meta").features.pool1
    assert (pool.kernel_size, pool.stride) == (4, 4)
    t8 = T.create(8, 1, 224, device="meta")
    assert [m.groups for m in t8.modules() if isinstance(m, nn.Conv2d)] == [1, 2, 1, 2]


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_min_input_size(topology):
    m = T.min_input_size(topology)
    assert m == MIN_SIZES[topology]
    net = T.create(topology, 1, m, device="meta")
    assert net(torch.empty(1, 1, m, m, device="meta")).shape == (1, EMBEDDING[topology])
    with pytest.raises(ConfigError, match=f"topology {topology} needs inputs of at least {m} px"):
        T.create(topology, 1, m - 1, device="meta")


def test_small_input_message_is_one_line_naming_the_fix():
    with pytest.raises(ConfigError) as err:
        T.create(3, input_size=64, device="meta")
    assert str(err.value) == (
        "topology 3 needs inputs of at least 131 px; got 64 "
        "(use input_size >= 131; profiles raise their input_size to it)"
    )


def test_forward_rejects_a_tensor_of_the_wrong_size():
    net = T.create(6, 1, 58)
    for bad in (torch.zeros(1, 1, 64, 64), torch.zeros(1, 3, 58, 58), torch.zeros(1, 58, 58)):
        for call in (net, net.deeper, net.forward_with_tap):
            with pytest.raises(ConfigError, match="topology 6 was built for"):
                call(bad)


def test_bad_arguments_raise_config_error():
    with pytest.raises(ConfigError, match="unknown topology 9"):
        T.create(9, device="meta")
    with pytest.raises(ConfigError, match="in_channels"):
        T.create(1, in_channels=0, device="meta")
    with pytest.raises(ConfigError, match="has no layer 'fc7'"):
        T.create(1, device="meta", deeper_layer="fc7")
    for bad in ("1", 1.0, True, [1]):
        with pytest.raises(ConfigError, match="unknown topology"):
            T.create(bad, device="meta")
    net = T.create(np.int64(6), np.int64(1), np.int64(58), device="meta")  # numpy ints are fine
    assert (type(net.topology), type(net.input_size)) == (int, int)


def test_deeper_layer_is_configurable():
    net = T.create(3, 1, 224, device="meta", deeper_layer="pool2")
    assert net.deeper_layer == "pool2"
    assert T.deeper_shape(3, 224, 1, deeper_layer="pool2") == (128, 9, 9)


@pytest.mark.parametrize("topology", [5, 6, 7, 8])
def test_forward_with_tap_equals_separate_calls(topology):
    torch.manual_seed(0)
    m = T.min_input_size(topology)
    net = T.create(topology, 2, m).eval()
    x = torch.rand(3, 2, m, m) * 255
    with torch.no_grad():
        emb, tap = net.forward_with_tap(x)
        torch.testing.assert_close(emb, net(x), rtol=0, atol=0)
        torch.testing.assert_close(tap, net.deeper(x), rtol=0, atol=0)
    assert tap.shape[1:] == T.deeper_shape(topology, m, 2)


def test_topology1_narrow_normal_init():
    torch.manual_seed(0)
    net = T.create(1, 1, T.min_input_size(1))
    for layer in (net.features.conv2, net.features.conv3, net.fc):
        assert layer.weight.std().item() == pytest.approx(0.01, rel=0.05)
        assert abs(layer.weight.mean().item()) < 1e-3
    biases = torch.cat([m.bias for m in net.modules() if isinstance(m, nn.Conv2d | nn.Linear)])
    assert biases.std().item() == pytest.approx(0.01, rel=0.1)  # biases are drawn too


@pytest.mark.parametrize("topology", [2, 8])
def test_glorot_init_with_matlab_fans_and_zero_biases(topology):
    torch.manual_seed(0)
    net = T.create(topology, 1, T.min_input_size(topology))
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            area = m.kernel_size[0] * m.kernel_size[1]
            fans = area * (m.in_channels + m.out_channels) // m.groups
        elif isinstance(m, nn.Linear):
            fans = m.in_features + m.out_features
        else:
            continue
        bound = math.sqrt(6 / fans)
        assert m.weight.abs().max().item() <= bound
        assert m.weight.abs().max().item() > 0.9 * bound
        assert torch.count_nonzero(m.bias) == 0


def test_topology8_at_224_on_meta_allocates_nothing():
    net = T.create(8, 3, 224, device="meta")
    assert net.fc.weight.is_meta and net.fc.weight.numel() == 46 * 46 * 256 * 4096


def test_matlab_same_padding_of_topology5():
    assert T.MatlabSameConv2d.same_padding(26, 5, 3) == (1, 2)
    torch.manual_seed(0)
    conv = T.MatlabSameConv2d(2, 3, 5, stride=3)
    x = torch.randn(1, 2, 26, 26)
    y = conv(x)
    assert y.shape == (1, 3, 9, 9)
    torch.testing.assert_close(
        y, nn.functional.conv2d(nn.functional.pad(x, (1, 2, 1, 2)), conv.weight, conv.bias,
                                stride=3))
    for i, j in [(0, 0), (8, 8), (4, 7)]:  # hand-computed: rows 3i-1 .. 3i+3, zero outside
        total = conv.bias[1].clone()
        for u in range(5):
            for v in range(5):
                r, c = 3 * i - 1 + u, 3 * j - 1 + v
                if 0 <= r < 26 and 0 <= c < 26:
                    total += (conv.weight[1, :, u, v] * x[0, :, r, c]).sum()
        torch.testing.assert_close(y[0, 1, i, j], total)
    t5 = T.create(5, 1, 224, device="meta")
    assert t5(torch.empty(1, 1, 224, 224, device="meta")).shape == (1, 4096)


def test_memory_refuses_topology8_at_224_on_a_small_machine():
    with pytest.raises(ResourceError) as err:
        check_fits(8, 224, 16, "cpu", available_bytes=24 * 2**30)
    msg = str(err.value)
    assert msg.startswith("topology 8 at 224 px needs ~") and "(batch 16)" in msg
    assert "cpu has 24.0 GiB available; use a GPU with more memory" in msg
    assert estimate_training_bytes(8, 224, 16) > 16 * 2_218_790_912  # params, grads, 2 moments


def test_memory_accepts_topology1_at_64_px_and_counts_triplets():
    need = check_fits(1, T.min_input_size(1), 16, "cpu", available_bytes=24 * 2**30)
    assert 0 < need < 2 * 2**30  # includes ~0.9 GiB of fitted CUDA overhead
    assert estimate_training_bytes(1, 73, 16, mode="triplet") > estimate_training_bytes(1, 73, 16)
    assert free_bytes("cpu") is None or free_bytes("cpu") > 0
    with pytest.raises(ConfigError):
        estimate_training_bytes(1, 73, 16, mode="pairs")
