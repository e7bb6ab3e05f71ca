"""Q-networks, dueling heads and noisy layers, checked against numbers computed by hand."""

import copy

import pytest
import torch
from torch.nn import functional as F

from dqnlab.agent.heads import DuelingHead
from dqnlab.agent.networks import MLPQNetwork, NatureCNN
from dqnlab.agent.noisy import NoisyLinear, resample_noise, scale_noise
from dqnlab.errors import ConfigError


def hand_noisy_layer() -> NoisyLinear:
    """A 2 -> 2 NoisyLinear with mu = 0, sigma = 1 and noise eps_in = [4, -1], eps_out = [9, -1/4].

    f(eps_in) = [2, -1] and f(eps_out) = [3, -1/2], so the weight noise is
    [[6, -3], [-1, 1/2]] and the bias noise [3, -1/2].
    """
    layer = NoisyLinear(2, 2)
    with torch.no_grad():
        for p in (layer.weight_mu, layer.bias_mu):
            p.zero_()
        for p in (layer.weight_sigma, layer.bias_sigma):
            p.fill_(1.0)
        layer.eps_in.copy_(torch.tensor([4.0, -1.0]))
        layer.eps_out.copy_(torch.tensor([9.0, -0.25]))
    return layer


@pytest.mark.parametrize("dueling", [False, True])
@pytest.mark.parametrize("noisy", [False, True])
def test_mlp_outputs_one_float32_value_per_action(dueling: bool, noisy: bool) -> None:
    net = MLPQNetwork((8,), 4, hidden_sizes=(64, 32), dueling=dueling, noisy=noisy)
    assert net(torch.zeros(5, 8)).shape == (5, 4)
    assert net(torch.zeros(1, 8, dtype=torch.float64)).dtype == torch.float32
    assert net.eval()(torch.zeros(5, 8)).shape == (5, 4)


def test_mlp_rejects_image_observations() -> None:
    with pytest.raises(ConfigError, match="network=mlp"):
        MLPQNetwork((84, 84, 4), 6)


def test_plain_mlp_keeps_its_state_dict_keys() -> None:
    # Checkpoints of the plain MLP saved before dueling/noisy existed must still load.
    net = MLPQNetwork((3,), 2, hidden_sizes=(16,))
    keys = ["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"]
    assert list(net.state_dict()) == keys


def test_dueling_q_is_value_plus_centred_advantage() -> None:
    net = MLPQNetwork((2,), 3, hidden_sizes=(), dueling=True)
    head = net.layers[0]
    assert isinstance(head, DuelingHead)
    with torch.no_grad():
        head.value.weight.copy_(torch.tensor([[1.0, 0.0]]))  # V = x0
        head.value.bias.zero_()
        head.advantage.weight.copy_(torch.tensor([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0]]))
        head.advantage.bias.zero_()
    obs = torch.tensor([[2.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    # Row 1: V = 2, A = [1, 3, 5], mean 3 -> Q = 2 + [-2, 0, 2] = [0, 2, 4].
    # Row 2: V = 1, A = [0, 1, 2], mean 1 -> Q = 1 + [-1, 0, 1] = [0, 1, 2].
    expected = torch.tensor([[0.0, 2.0, 4.0], [0.0, 1.0, 2.0]])
    torch.testing.assert_close(net(obs), expected)


@pytest.mark.parametrize("network", ["mlp", "nature_cnn"])
def test_layer_norm_normalises_each_hidden_layer_before_its_activation(network: str) -> None:
    if network == "mlp":
        net, obs = MLPQNetwork((8,), 3, hidden_sizes=(64, 32), layer_norm=True), torch.randn(5, 8)
        fc = net.layers
    else:
        net = NatureCNN((4, 84, 84), 3, hidden_sizes=(64, 32), layer_norm=True)
        obs, fc = torch.randint(0, 256, (5, 4, 84, 84), dtype=torch.uint8), net.head
    norms = [m for m in fc if isinstance(m, torch.nn.LayerNorm)]
    assert [n.normalized_shape for n in norms] == [(64,), (32,)]
    linear_out: list[torch.Tensor] = []
    activation_in: list[torch.Tensor] = []
    for module in fc:
        if isinstance(module, torch.nn.Linear):
            module.register_forward_hook(lambda _, __, out: linear_out.append(out))
        if isinstance(module, torch.nn.ReLU):
            module.register_forward_pre_hook(lambda _, args: activation_in.append(args[0]))
    assert net(obs).shape == (5, 3)
    # At initialisation (scale 1, shift 0) the activation sees each row of the linear
    # layer's output shifted to mean 0 and scaled to variance 1.
    assert len(activation_in) == 2
    for features, normalised in zip(linear_out[:2], activation_in, strict=True):
        mean, var = (
            features.mean(dim=1, keepdim=True),
            features.var(dim=1, keepdim=True, unbiased=False),
        )
        torch.testing.assert_close(normalised, (features - mean) / torch.sqrt(var + 1e-5))


def test_noisy_linear_initialisation() -> None:
    layer = NoisyLinear(4, 3, sigma0=0.5)
    # mu ~ U(-1/sqrt(4), 1/sqrt(4)); sigma = 0.5 / sqrt(4).
    assert layer.weight_mu.abs().max() <= 0.5 and layer.bias_mu.abs().max() <= 0.5
    assert torch.all(layer.weight_sigma == 0.25) and torch.all(layer.bias_sigma == 0.25)
    assert layer.eps_in.shape == (4,) and layer.eps_out.shape == (3,)


def test_scale_noise_is_signed_square_root() -> None:
    x = torch.tensor([-4.0, -0.25, 0.0, 9.0])
    torch.testing.assert_close(scale_noise(x), torch.tensor([-2.0, -0.5, 0.0, 3.0]))


def test_factorised_noise_is_an_outer_product() -> None:
    layer = hand_noisy_layer()
    weight_noise, bias_noise = layer.noise()
    torch.testing.assert_close(weight_noise, torch.tensor([[6.0, -3.0], [-1.0, 0.5]]))
    torch.testing.assert_close(bias_noise, torch.tensor([3.0, -0.5]))
    # x = [1, 1]: W x + b = [6 - 3 + 3, -1 + 1/2 - 1/2] = [6, -1].
    torch.testing.assert_close(layer(torch.ones(1, 2)), torch.tensor([[6.0, -1.0]]))


def test_gradients_reach_mu_and_sigma() -> None:
    layer = hand_noisy_layer()
    layer(torch.ones(1, 2)).sum().backward()
    # d out_j / d sigma_ji = noise_ji * x_i with x = [1, 1]; d out_j / d mu_ji = x_i.
    torch.testing.assert_close(layer.weight_sigma.grad, torch.tensor([[6.0, -3.0], [-1.0, 0.5]]))
    torch.testing.assert_close(layer.bias_sigma.grad, torch.tensor([3.0, -0.5]))
    torch.testing.assert_close(layer.weight_mu.grad, torch.ones(2, 2))
    torch.testing.assert_close(layer.bias_mu.grad, torch.ones(2))


def test_noise_is_held_until_resampled() -> None:
    torch.manual_seed(0)
    layer = NoisyLinear(5, 3)
    x = torch.randn(4, 5)
    first = layer(x)
    torch.testing.assert_close(layer(x), first)
    resample_noise(layer)
    assert not torch.allclose(layer(x), first)


def test_resampling_follows_the_global_seed() -> None:
    layer = NoisyLinear(5, 3)
    torch.manual_seed(1)
    resample_noise(layer)
    drawn = layer.eps_in.clone(), layer.eps_out.clone()
    torch.manual_seed(1)
    resample_noise(layer)
    torch.testing.assert_close((layer.eps_in, layer.eps_out), drawn)


def test_eval_mode_uses_mu_only() -> None:
    layer = NoisyLinear(5, 3).eval()
    x = torch.randn(4, 5)
    expected = F.linear(x, layer.weight_mu, layer.bias_mu)
    torch.testing.assert_close(layer(x), expected)
    resample_noise(layer)
    torch.testing.assert_close(layer(x), expected)


def test_zero_sigma_is_a_plain_linear_layer() -> None:
    layer = NoisyLinear(5, 3)
    with torch.no_grad():
        layer.weight_sigma.zero_()
        layer.bias_sigma.zero_()
    x = torch.randn(4, 5)
    torch.testing.assert_close(layer(x), F.linear(x, layer.weight_mu, layer.bias_mu))


def test_every_linear_of_a_noisy_mlp_is_noisy() -> None:
    net = MLPQNetwork((4,), 2, hidden_sizes=(8, 8), dueling=True, noisy=True, noisy_sigma0=0.1)
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear | NoisyLinear)]
    assert len(linears) == 4  # two hidden, value and advantage
    assert all(isinstance(m, NoisyLinear) for m in linears)
    first = linears[0]
    assert torch.allclose(first.weight_sigma, torch.tensor(0.1 / 4**0.5))


def test_target_copy_resamples_independently() -> None:
    torch.manual_seed(0)
    online = MLPQNetwork((4,), 2, hidden_sizes=(8,), noisy=True)
    target = copy.deepcopy(online)
    x = torch.randn(3, 4)
    torch.testing.assert_close(target(x), online(x))
    before = online(x)
    resample_noise(target)
    torch.testing.assert_close(online(x), before)
    assert not torch.allclose(target(x), before)
    assert "layers.0.eps_in" in target.state_dict()  # noise travels with checkpoints/copies


def test_resample_noise_leaves_a_plain_network_alone() -> None:
    net = MLPQNetwork((4,), 2, hidden_sizes=(8,))
    x = torch.randn(3, 4)
    before = net(x)
    resample_noise(net)
    torch.testing.assert_close(net(x), before)


def test_dueling_noisy_network_exports_in_eval_mode() -> None:
    torch.manual_seed(0)
    net = MLPQNetwork((4,), 3, hidden_sizes=(8,), dueling=True, noisy=True).eval()
    exported = torch.export.export(net, (torch.zeros(2, 4),))
    x = torch.randn(2, 4)
    torch.testing.assert_close(exported.module()(x), net(x))


@pytest.mark.parametrize("dueling", [False, True])
@pytest.mark.parametrize("noisy", [False, True])
def test_nature_cnn_maps_uint8_frame_stacks_to_one_value_per_action(
    dueling: bool, noisy: bool
) -> None:
    net = NatureCNN((4, 84, 84), 6, dueling=dueling, noisy=noisy)
    frames = torch.randint(0, 256, (5, 4, 84, 84), dtype=torch.uint8)
    q = net(frames)
    assert q.shape == (5, 6) and q.dtype == torch.float32
    assert net.eval()(frames).shape == (5, 6)
    assert isinstance(net.head[-1], DuelingHead) == dueling
    assert any(isinstance(m, NoisyLinear) for m in net.head.modules()) == noisy


def test_nature_cnn_has_the_nature_layers() -> None:
    net = NatureCNN((4, 84, 84), 18)
    convs = [
        (c.in_channels, c.out_channels, c.kernel_size, c.stride)
        for c in net.conv
        if isinstance(c, torch.nn.Conv2d)
    ]
    assert convs == [(4, 32, (8, 8), (4, 4)), (32, 64, (4, 4), (2, 2)), (64, 64, (3, 3), (1, 1))]
    hidden, out = net.head[0], net.head[-1]
    assert (hidden.in_features, hidden.out_features) == (64 * 7 * 7, 512)
    assert (out.in_features, out.out_features) == (512, 18)


def test_nature_cnn_scales_pixels_to_unit_range_itself() -> None:
    net = NatureCNN((4, 84, 84), 6)
    seen: list[torch.Tensor] = []
    net.conv[0].register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    frames = torch.full((2, 4, 84, 84), 255, dtype=torch.uint8)
    frames[:, :, :42] = 51
    q = net(frames)
    assert seen[0].dtype == torch.float32
    assert torch.equal(seen[0].unique(), torch.tensor([0.2, 1.0]))
    torch.testing.assert_close(net(frames.float()), q)  # raw pixels in any dtype


@pytest.mark.parametrize("shape", [(4,), (210, 160, 3), (4, 32, 32)])
def test_nature_cnn_rejects_observations_it_cannot_read(shape: tuple[int, ...]) -> None:
    with pytest.raises(ConfigError, match=r"network=nature_cnn needs stacked frames"):
        NatureCNN(shape, 6)


def test_nature_cnn_exports_with_uint8_frames() -> None:
    # MLflow logs the best model with torch.export and a uint8 input example.
    torch.manual_seed(0)
    net = NatureCNN((4, 84, 84), 6, dueling=True, noisy=True).eval()
    exported = torch.export.export(net, (torch.zeros(2, 4, 84, 84, dtype=torch.uint8),))
    frames = torch.randint(0, 256, (2, 4, 84, 84), dtype=torch.uint8)
    torch.testing.assert_close(exported.module()(frames), net(frames))
