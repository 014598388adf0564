"""The fused attention kernel and its explicit form (what the cost counter runs) compute the same."""
import torch

from unirank.models.attend import attend, explicit_attention


def _inputs():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(3, 2, 5, 4, generator=g, requires_grad=True) for _ in range(3))
    mask = torch.rand(3, 5, generator=g) > 0.4
    mask[0] = False          # a query with every key masked (an empty history)
    mask[1] = True
    return q, k, v, mask


def test_fused_and_explicit_attention_agree_in_values_and_gradients():
    """Gradients compared as the modules use attention: a fully masked query's output is zeroed
    before it is read (the fused kernel would pass a gradient to its q and k, the explicit form none)."""
    for key_mask in (None, _inputs()[3]):
        read = torch.ones(3, 1, 1, 1) if key_mask is None else key_mask.any(dim=1).float().view(3, 1, 1, 1)
        results = []
        for explicit in (False, True):
            q, k, v, _ = _inputs()
            if explicit:
                with explicit_attention():
                    out = attend(q, k, v, key_mask)
            else:
                out = attend(q, k, v, key_mask)
            (out * read * torch.arange(out.numel()).view_as(out)).sum().backward()
            results.append((out.detach(), q.grad, k.grad, v.grad))
        for fused, plain in zip(*results):
            torch.testing.assert_close(fused, plain, rtol=1e-4, atol=1e-4)


def test_a_fully_masked_query_averages_its_values_and_masked_keys_get_no_weight():
    q, k, v, mask = _inputs()
    out = attend(q, k, v, mask).detach()
    torch.testing.assert_close(out[0], v[0].detach().mean(dim=1, keepdim=True).expand_as(out[0]))
    moved = v.detach().clone()
    moved[2][:, ~mask[2]] += 100.0   # changing a masked key's value changes nothing
    torch.testing.assert_close(attend(q, k, moved, mask)[2].detach(), out[2])


def test_the_cost_counter_counts_the_explicit_form_only_inside_its_block():
    from torch.utils.flop_counter import FlopCounterMode

    q, k, v, mask = _inputs()   # B 3, H 2, Q = K = 5, d_h 4
    with torch.no_grad():
        with explicit_attention(), FlopCounterMode(display=False) as explicit:
            attend(q, k, v, mask)
        with FlopCounterMode(display=False) as after:
            attend(q, k, v, mask)
    assert explicit.get_total_flops() == 2 * (2 * 3 * 2 * 5 * 5 * 4)   # q kᵀ and the mix
    with torch.no_grad(), FlopCounterMode(display=False) as fused:
        torch.nn.functional.scaled_dot_product_attention(q, k, v)
    assert after.get_total_flops() == fused.get_total_flops()   # the block has ended: fused again
