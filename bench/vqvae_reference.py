#!/usr/bin/python3
"""PyTorch reference of the VQ-VAE of Noguchi & Inoue, Phys. Rev. E 104, 025302 (2021),
the same network as src/torch/itkVQVAENetwork.cxx, for bench/run_vqvae_bench.sh.

Measures, on random-but-fixed 128 x 128 images in [-1, 1]:
  - training throughput (images/s of wall time, and per second of process CPU time, which
    other people's jobs on a shared machine disturb less; also the fastest single step): Adam (lr 2e-4), loss = MSE(x, x') + ||sg[z] - e||^2
    + beta ||z - sg[e]||^2 (beta = 1), the straight-through estimator, codebook statistics
    (perplexity, codes in use) read back every step as the C++ TrainStep does;
  - encoding throughput (images/s): eval mode, no_grad, encoder + nearest code, best of 2;
  - optionally (--peak) the machine's peak: a large 3x3 convolution through torch (oneDNN)
    and a large sgemm (torch.mm on the BLAS torch uses), in GFLOP/s (2 FLOP per multiply-add);
  - optionally (--profile) where training time goes (torch.autograd.profiler, per operator).

Prints KEY=VALUE lines. Run with Debian's python3 (/usr/bin/python3), which has torch.
"""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class ResidualBlock(nn.Module):
    """x + BN(conv1x1(ReLU(BN(conv3x3(ReLU(x))))))."""

    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(F.relu(x))))
        return x + self.bn2(self.conv2(h))


class VQVAE(nn.Module):
    def __init__(self, in_ch=1, ch=(32, 64, 128), res=2, K=512, D=128, beta=1.0):
        super().__init__()
        self.K, self.D, self.beta = K, D, beta
        enc, c_in = [], in_ch
        for c in ch:
            enc += [nn.Conv2d(c_in, c, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
            c_in = c
        enc += [ResidualBlock(ch[-1]) for _ in range(res)]
        enc += [nn.ReLU(), nn.Conv2d(ch[-1], D, 1)]
        self.encoder = nn.Sequential(*enc)
        self.codebook = nn.Parameter(torch.empty(K, D).uniform_(-1.0 / K, 1.0 / K))
        dec = [nn.Conv2d(D, ch[-1], 3, padding=1)]
        dec += [ResidualBlock(ch[-1]) for _ in range(res)]
        dec += [nn.ReLU()]
        for i in range(len(ch) - 1, 0, -1):
            dec += [nn.ConvTranspose2d(ch[i], ch[i - 1], 4, stride=2, padding=1, bias=False),
                    nn.BatchNorm2d(ch[i - 1]), nn.ReLU()]
        dec += [nn.ConvTranspose2d(ch[0], in_ch, 4, stride=2, padding=1), nn.Tanh()]
        self.decoder = nn.Sequential(*dec)

    def nearest_codes(self, z):
        flat = z.permute(0, 2, 3, 1).reshape(-1, self.D)
        e = self.codebook
        d = flat.pow(2).sum(1, keepdim=True) - 2.0 * flat @ e.t() + e.pow(2).sum(1).unsqueeze(0)
        return d.argmin(1).reshape(z.size(0), z.size(2), z.size(3))

    def quantize(self, z):
        with torch.no_grad():
            idx = self.nearest_codes(z.detach())
        e = F.embedding(idx, self.codebook).permute(0, 3, 1, 2).contiguous()
        commitment = self.beta * F.mse_loss(z, e.detach())
        codebook = F.mse_loss(e, z.detach())
        q = z + (e - z).detach()
        with torch.no_grad():
            counts = torch.bincount(idx.reshape(-1), minlength=self.K).double()
            p = counts / idx.numel()
            perplexity = torch.exp(-(p * torch.log(p + 1e-10)).sum()).item()
            in_use = int((counts > 0).sum().item())
        return q, idx, codebook, commitment, perplexity, in_use


def forward_flops_per_image(net, size, in_ch):
    """2 x multiply-adds of one image's forward pass: every convolution (counted by hooks)
    plus the quantizer's distance product (h w x K x D)."""
    macs = [0]

    def hook(m, inp, out):
        if isinstance(m, nn.ConvTranspose2d):
            x = inp[0]  # each input pixel scatters Cin x Cout x k x k products
            macs[0] += x.numel() // x.size(0) * m.out_channels * m.kernel_size[0] * m.kernel_size[1]
        else:
            macs[0] += out.numel() // out.size(0) * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    hs = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    with torch.no_grad():
        z = net.encoder(torch.zeros(1, in_ch, size, size))
        net.decoder(z)
    for h in hs:
        h.remove()
    macs[0] += z.size(2) * z.size(3) * net.K * net.D
    return 2.0 * macs[0]


def make_data(n, size, in_ch, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, in_ch, size, size, generator=g) * 2.0 - 1.0


def train_step(net, opt, x, autocast=False):
    # autocast: mixed precision as the C++ side's --precision bfloat16 (encoder and decoder under
    # torch.autocast(device, bfloat16), quantizer and losses in float32)
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=autocast):
        z = net.encoder(x)
    q, idx, cb, cm, perp, in_use = net.quantize(z.float())
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=autocast):
        rec = net.decoder(q)
    mse = F.mse_loss(rec.float(), x)
    total = mse + cb + cm
    opt.zero_grad()
    total.backward()
    opt.step()
    return total.item(), mse.item(), cb.item(), cm.item()


def encode(net, x, batch):
    out = []
    with torch.no_grad():
        for i in range(0, x.size(0), batch):
            out.append(net.nearest_codes(net.encoder(x[i:i + batch])).int())
    return torch.cat(out).cpu()  # the codes back on the host, as the C++ Encode returns them


def peak(threads):
    """GFLOP/s of a large 3x3 convolution (oneDNN) and of a large sgemm, best of 5."""
    res = {}
    x = torch.randn(32, 128, 64, 64)
    w = torch.randn(128, 128, 3, 3)
    flops = 2.0 * 32 * 128 * 64 * 64 * 128 * 9
    F.conv2d(x, w, padding=1)
    best = 1e9
    for _ in range(5):
        t = time.perf_counter()
        F.conv2d(x, w, padding=1)
        best = min(best, time.perf_counter() - t)
    res["PEAK_CONV3X3_GFLOPS"] = flops / best / 1e9
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = 1e9
    for _ in range(5):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    res["PEAK_SGEMM_GFLOPS"] = 2.0 * n ** 3 / best / 1e9
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5, help="timed training steps")
    ap.add_argument("--warmup", type=int, default=1, help="untimed training steps first")
    ap.add_argument("--encode-images", type=int, default=256)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=2021)
    ap.add_argument("--peak", action="store_true", help="also measure the machine's peak GFLOP/s")
    ap.add_argument("--peak-only", action="store_true", help="only measure the machine's peak GFLOP/s")
    ap.add_argument("--autocast", action="store_true", help="bfloat16 mixed precision (torch.autocast)")
    ap.add_argument("--profile", action="store_true", help="print a per-operator profile of training steps")
    ap.add_argument("--device", default="cpu", help="cpu or cuda:N")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    if a.peak_only:
        for k, v in peak(a.threads).items():
            print(f"{k}={v:.2f}")
        return
    torch.manual_seed(a.seed)
    net = VQVAE()
    opt = torch.optim.Adam(net.parameters(), lr=2e-4)
    x = make_data(a.batch, a.size, 1, a.seed)
    print(f"REF_FORWARD_GFLOP_PER_IMAGE={forward_flops_per_image(net, a.size, 1) / 1e9:.6f}")
    dev = torch.device(a.device)
    net.to(dev)  # in place: the optimizer keeps the same parameters
    x = x.to(dev)
    print(f"REF_DEVICE={dev}")

    net.train()
    for _ in range(a.warmup):
        train_step(net, opt, x, a.autocast)
    if a.profile:
        with torch.autograd.profiler.profile() as prof:
            for _ in range(a.steps):
                train_step(net, opt, x, a.autocast)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=30))
        return
    best = 1e300
    c, t = time.process_time(), time.perf_counter()
    for _ in range(a.steps):
        ts = time.perf_counter()
        loss = train_step(net, opt, x, a.autocast)
        best = min(best, time.perf_counter() - ts)
    dt, dc = time.perf_counter() - t, time.process_time() - c
    print(f"REF_TRAIN_IMG_S={a.steps * a.batch / dt:.3f}")
    print(f"REF_TRAIN_IMG_S_BEST_STEP={a.batch / best:.3f}")
    print(f"REF_TRAIN_IMG_PER_CPU_S={a.steps * a.batch / dc:.3f}")
    print(f"REF_TRAIN_LOSS={loss[0]:.6f}")

    net.eval()
    xe = make_data(a.encode_images, a.size, 1, a.seed + 1).to(dev)
    encode(net, xe[: a.batch], a.batch)
    dt = 1e300
    for _ in range(2):  # best of 2
        t = time.perf_counter()
        encode(net, xe, a.batch)
        dt = min(dt, time.perf_counter() - t)
    print(f"REF_ENCODE_IMG_S={a.encode_images / dt:.3f}")

    if a.peak:
        for k, v in peak(a.threads).items():
            print(f"{k}={v:.2f}")


if __name__ == "__main__":
    main()
