"""The int8 reference the encoder tests compare with: transformers' BERT with each transformer
linear layer replaced by a per-channel dynamic-quantisation module written here."""
import numpy as np
import torch


def cpu_has_vnni():
    with open("/proc/cpuinfo") as f:
        return any(line.startswith("flags") and "avx512_vnni" in line.split() for line in f)


class PerChannelDynamicLinear(torch.nn.Module):
    """The int8 reference: weights quantised per output channel, symmetric, with torch.ao's
    MinMax scale for 8 bits (max |w| / 127.5) on CPUs with AVX512-VNNI and for 7 bits
    (max |w| / 63.5) elsewhere; activations quantised per call to uint8 over their full range
    (no reduce_range), except the input features holding a value beyond +-6, which are
    multiplied in float32 (LLM.int8's decomposition, Dettmers et al. 2022)."""

    def __init__(self, linear, split=True):
        super().__init__()
        w = linear.weight.detach()
        self.split = split
        self.weight = w
        half_range = 127.5 if cpu_has_vnni() else 63.5
        scale = (w.abs().amax(1) / half_range).double()
        qw = torch.quantize_per_channel(w, scale, torch.zeros(w.shape[0], dtype=torch.long), 0, torch.qint8)
        self.packed = torch.ops.quantized.linear_prepack(qw, linear.bias.detach())

    def forward(self, x):
        rows = x.reshape(-1, x.shape[-1])
        outlier = rows.abs().amax(0) > (6.0 if self.split else np.inf)
        rest = rows.clone()
        rest[:, outlier] = 0
        y = torch.ops.quantized.linear_dynamic(rest, self.packed, False)
        y = y + rows[:, outlier] @ self.weight[:, outlier].T
        return y.reshape(*x.shape[:-1], -1)


def quantize_bert(bert, split=True):
    """Replaces the six linear layers of every layer of a transformers BertModel (in place)."""
    for layer in bert.encoder.layer:
        attention = layer.attention
        for owner, name in ((attention.self, "query"), (attention.self, "key"), (attention.self, "value"),
                            (attention.output, "dense"), (layer.intermediate, "dense"), (layer.output, "dense")):
            setattr(owner, name, PerChannelDynamicLinear(getattr(owner, name), split))
    return bert
