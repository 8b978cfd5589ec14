"""The initial weights of a narrow copy before training."""

import math

import torch

# Output projections into the residual stream get their standard deviation
# divided by sqrt(2·layers) (GPT-2's rule), so the residual stream's
# variance does not grow with depth at initialisation.
_RESIDUAL_OUT = ("shortconv.out_proj.weight", "attn_output.weight", "linattn.out.weight", "ssm_out.weight",
                 "ffn_down.weight")


@torch.no_grad()
def init_for_training(model, generator, n_layers):
    """A conventional initialisation for training from scratch: matrices
    N(0, 1/in), embedding (and untied head) N(0, 0.02²), RMSNorm weights 1,
    convolution kernels U(±1/sqrt(k)), and Mamba2's SSM parameters (dt from
    log-uniform [0.001, 0.1], A in [1, 16], D = 1, conv bias 0)."""
    for name, p in model.tensors().items():
        if name in ("token_embd.weight", "output.weight"):
            p.normal_(0, 0.02, generator=generator)
        elif name.endswith("norm.weight"):
            p.fill_(1)
        elif name.endswith("shortconv.conv.weight") or name.endswith("ssm_conv1d.weight"):
            b = 1 / math.sqrt(p.shape[1])
            p.uniform_(-b, b, generator=generator)
        elif name.endswith("ssm_conv1d.bias"):
            p.zero_()
        elif name.endswith("ssm_dt.bias"):
            u = torch.rand(p.shape, generator=generator)
            dt = torch.exp(u * (math.log(0.1) - math.log(0.001)) + math.log(0.001))
            p.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus⁻¹
        elif name.endswith("ssm_a"):
            p.copy_(torch.log(1 + 15 * torch.rand(p.shape, generator=generator)))
        elif name.endswith("ssm_d"):
            p.fill_(1)
        else:
            std = 1 / math.sqrt(p.shape[1])
            if name.endswith(_RESIDUAL_OUT):
                std /= math.sqrt(2 * n_layers)
            p.normal_(0, std, generator=generator)
