"""Proxies: cost (FLOPs/params) now; warm-up and zero-cost quality proxies later."""
from unirank.proxies.cost import Cost, count_flops, measure_cost, model_cost

__all__ = ["Cost", "count_flops", "measure_cost", "model_cost"]
