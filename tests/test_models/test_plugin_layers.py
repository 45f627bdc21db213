"""mmcv's attention plugins (ResNet ``plugins=``) against naive per-position references of their formulas,
in float64, values and gradients: ContextBlock (GCNet), NonLocal2d, GeneralizedAttention."""
import math

import pytest
import torch
from mmcv.cnn import ContextBlock, GeneralizedAttention, NonLocal2d


def _conv1x1(conv, vector):
    """A 1x1 conv applied to one (C,) vector."""
    out = conv.weight[:, :, 0, 0] @ vector
    return out if conv.bias is None else out + conv.bias


def _softmax(logits):
    exps = [torch.exp(value - max(logits)) for value in logits]
    total = sum(exps)
    return [e / total for e in exps]


def _randomise(module, gen):
    """Every parameter random (the zero-initialised output layers would hide the attention branch)."""
    for param in module.parameters():
        param.data = 0.5 * torch.randn(param.shape, generator=gen, dtype=torch.float64)


def _compare(module, naive, x, gen):
    """Outputs and the gradients of a random projection of them, for the input and every parameter."""
    x = x.clone().requires_grad_()
    params = [p for p in module.parameters() if p.requires_grad]
    out = module(x)
    expected = naive(module, x)
    torch.testing.assert_close(out, expected, rtol=1e-9, atol=1e-10)
    weights = torch.randn(out.shape, generator=gen, dtype=torch.float64)
    grads = torch.autograd.grad((out * weights).sum(), [x] + params)
    expected_grads = torch.autograd.grad((expected * weights).sum(), [x] + params)
    for grad, expected_grad in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected_grad, rtol=1e-9, atol=1e-10)


def naive_context_block(block, x):
    """GCNet: a = softmax_p(w_k . x_p + b); c = sum_p a_p x_p; out_p = x_p * sigmoid(T_mul(c)) + T_add(c),
    T = conv1x1 -> LayerNorm(planes) -> ReLU -> conv1x1."""
    def transform(seq, context):
        hidden = _conv1x1(seq[0], context)
        ln = seq[1]
        mean = hidden.mean()
        var = ((hidden - mean)**2).mean()
        hidden = (hidden - mean) / torch.sqrt(var + ln.eps) * ln.weight.flatten() + ln.bias.flatten()
        return _conv1x1(seq[3], torch.relu(hidden))

    n_img, channels, height, width = x.shape
    outs = []
    for n in range(n_img):
        positions = [(i, j) for i in range(height) for j in range(width)]
        weights = _softmax([_conv1x1(block.conv_mask, x[n, :, i, j])[0] for i, j in positions])
        context = sum(a * x[n, :, i, j] for a, (i, j) in zip(weights, positions))
        out = x[n]
        if block.channel_mul_conv is not None:
            out = out * torch.sigmoid(transform(block.channel_mul_conv, context)).view(channels, 1, 1)
        if block.channel_add_conv is not None:
            out = out + transform(block.channel_add_conv, context).view(channels, 1, 1)
        outs.append(out)
    return torch.stack(outs)


def naive_non_local(block, x):
    """embedded_gaussian: f_ij = softmax_j(theta_i . phi_j / sqrt(C')); dot_product: f_ij = theta_i . phi_j / P
    (P positions); y_i = sum_j f_ij g_j; out_i = x_i + W_out y_i."""
    n_img, channels, height, width = x.shape
    out = torch.zeros_like(x)
    for n in range(n_img):
        positions = [(i, j) for i in range(height) for j in range(width)]
        theta = [_conv1x1(block.theta.conv, x[n, :, i, j]) for i, j in positions]
        phi = [_conv1x1(block.phi.conv, x[n, :, i, j]) for i, j in positions]
        g = [_conv1x1(block.g.conv, x[n, :, i, j]) for i, j in positions]
        for q, (i, j) in enumerate(positions):
            scores = [theta[q] @ phi_k for phi_k in phi]
            if block.mode == 'embedded_gaussian':
                weights = _softmax([s / math.sqrt(block.inter_channels) for s in scores])
            else:
                weights = [s / len(positions) for s in scores]
            y = sum(w * g_k for w, g_k in zip(weights, g))
            out[n, :, i, j] = x[n, :, i, j] + _conv1x1(block.conv_out.conv, y)
    return out


def _sinusoid(delta, feat_dim, wave_length=1000.):
    """[sin(delta / 1000^(4f/D)), cos(...)] for f < D / 4: length D / 2."""
    dims = [wave_length**(4. / feat_dim * f) for f in range(feat_dim // 4)]
    return torch.tensor([math.sin(delta / d) for d in dims] + [math.cos(delta / d) for d in dims], dtype=torch.float64)


def naive_generalized_attention(block, x):
    """Per head h, query position q=(qy, qx), key position k on the kv_stride grid:
    E_qk = [1000] (W_q x_q).(W_k x_k) + [0010] b_appr.(W_k x_k)
         + [0100] (W_q x_q).(P_x + P_y) + [0001] b_geom.(P_x + P_y),
    P_x = fc_x(sinusoid(qx - kx)) / sqrt(2), P_y likewise;
    out_q = x_q + gamma * W_proj concat_h(sum_k softmax_k(E) v_k)."""
    query_term, position_term, key_term, geometry_term = block.attention_type
    n_img, channels, height, width = x.shape
    heads, dim, stride = block.num_heads, block.qk_embed_dim, block.kv_stride
    keys = [(i, j) for i in range(0, height, stride) for j in range(0, width, stride)]
    out = torch.zeros_like(x)
    for n in range(n_img):
        for qy in range(height):
            for qx in range(width):
                head_outs = []
                for h in range(heads):
                    part = slice(h * dim, (h + 1) * dim)
                    query = block.query_conv.weight[part, :, 0, 0] @ x[n, :, qy, qx] \
                        if query_term or position_term else None
                    energies = []
                    for ky, kx in keys:
                        energy = x.new_zeros(())
                        if query_term or key_term:
                            key = block.key_conv.weight[part, :, 0, 0] @ x[n, :, ky, kx]
                        if query_term:
                            energy = energy + query @ key
                        if key_term:
                            energy = energy + block.appr_bias[part] @ key
                        if position_term or geometry_term:
                            embed_x, embed_y = _sinusoid(qx - kx, channels).to(x), _sinusoid(qy - ky, channels).to(x)
                            pos_x = block.appr_geom_fc_x.weight[part] @ embed_x / math.sqrt(2)
                            pos_y = block.appr_geom_fc_y.weight[part] @ embed_y / math.sqrt(2)
                            if position_term:
                                energy = energy + query @ (pos_x + pos_y)
                            if geometry_term:
                                energy = energy + block.geom_bias[part] @ (pos_x + pos_y)
                        energies.append(energy)
                    weights = _softmax(energies)
                    values = [block.value_conv.weight[part, :, 0, 0] @ x[n, :, ky, kx] for ky, kx in keys]
                    head_outs.append(sum(w * v for w, v in zip(weights, values)))
                attended = _conv1x1(block.proj_conv, torch.cat(head_outs))
                out[n, :, qy, qx] = x[n, :, qy, qx] + block.gamma * attended
    return out


@pytest.mark.parametrize('fusion_types', [('channel_add', ), ('channel_add', 'channel_mul')])
def test_context_block_matches_naive_attention_pooling(fusion_types):
    gen = torch.Generator().manual_seed(0)
    block = ContextBlock(6, ratio=1 / 2, fusion_types=fusion_types).double()
    _randomise(block, gen)
    _compare(block, naive_context_block, torch.randn(2, 6, 3, 4, generator=gen, dtype=torch.float64), gen)


@pytest.mark.parametrize('mode', ['embedded_gaussian', 'dot_product'])
def test_non_local_matches_naive_pairwise_attention(mode):
    gen = torch.Generator().manual_seed(1)
    block = NonLocal2d(6, reduction=2, mode=mode).double()
    _randomise(block, gen)
    _compare(block, naive_non_local, torch.randn(2, 6, 3, 4, generator=gen, dtype=torch.float64), gen)


@pytest.mark.parametrize('attention_type', ['1111', '0010'])
def test_generalized_attention_matches_naive_energy_terms(attention_type):
    gen = torch.Generator().manual_seed(2)
    block = GeneralizedAttention(8, num_heads=2, attention_type=attention_type, kv_stride=2).double()
    _randomise(block, gen)
    _compare(block, naive_generalized_attention, torch.randn(1, 8, 3, 4, generator=gen, dtype=torch.float64), gen)


def test_generalized_attention_spatial_range_masks_far_keys():
    """torch 2.x: the window mask is boolean (mmdet_lite.compat.generalized_attention); keys outside
    the window get no weight, so a far-away change leaves a query's output unchanged."""
    gen = torch.Generator().manual_seed(3)
    block = GeneralizedAttention(512, spatial_range=1, num_heads=8, attention_type='1000', kv_stride=1)
    assert block.local_constraint_map.dtype == torch.bool and block.local_constraint_map.shape == (42, 42, 42, 42)
    block.gamma.data.fill_(1.)
    x = torch.randn(1, 512, 6, 6, generator=gen)
    far = x.clone()
    far[:, :, 5, 5] += 10.
    torch.testing.assert_close(block(far)[..., 0, 0], block(x)[..., 0, 0])
    assert not torch.allclose(block(far)[..., 4, 4], block(x)[..., 4, 4])
