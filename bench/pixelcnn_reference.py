#!/usr/bin/python3
"""The conditional gated PixelCNN prior of itk::PixelCNNPriorModel, written
independently in PyTorch, with the paper's naive sampling loop (one full
forward pass per position, torch.multinomial), for bench/run_pixelcnn_bench.sh.

    /usr/bin/python3 bench/pixelcnn_reference.py WORK_DIR [--naive-count 2]
        [--count 1000] [--threads 2]

Reads what bench/pixelcnn_bench wrote into WORK_DIR: prior.smprior (the model
file: key = value header, then the weights as a LibTorch archive, loaded with
torch.jit.load), condition.f32 (the encoded condition vector), maps.i32 (the
maps the C++ naive sampler drew) and loglik.f64 (their C++ log-likelihoods).

1. Cross-check: the log-likelihood of the C++ maps under this implementation
   must equal the C++ LogLikelihood (|difference| < 1e-3 nats on ~-1600).
2. Timing: the paper's naive loop draws --naive-count maps of 16 x 16 in one
   batch; the time for --count maps is estimated as t * count / naive_count.
Prints KEY=VALUE lines; exits 1 when the cross-check fails.
"""
import argparse
import io
import math
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_model(path):
    data = open(path, "rb").read()
    if not data.startswith(b"ITKSMPRIOR 1\n"):
        sys.exit(f"{path} is not a prior model file of format version 1")
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = {}
    for line in data[:end].decode().splitlines()[1:-1]:
        key, value = line.split(" = ", 1)
        header[key] = value
    archive = torch.jit.load(io.BytesIO(data[end:]), map_location="cpu")
    state = dict(archive.named_parameters())
    state.update(dict(archive.named_buffers()))
    return header, state


class GatedLayer(nn.Module):
    """van den Oord et al. 2016, vertical + horizontal stacks, vertical features shifted down one row."""

    def __init__(self, cin, c, k, first, cond_dim):
        super().__init__()
        self.c, self.p, self.first = c, k // 2, first
        self.vertical = nn.Conv2d(cin, 2 * c, (self.p + 1, k))
        self.horizontal = nn.Conv2d(cin, 2 * c, (1, self.p + 1))
        self.vertical_to_horizontal = nn.Conv2d(2 * c, 2 * c, 1)
        self.horizontal_out = nn.Conv2d(c, c, 1)
        self.condition = nn.Linear(cond_dim, 2 * c) if cond_dim > 0 else None
        mask = torch.ones(1, 1, 1, self.p + 1)
        if first:
            mask[..., self.p] = 0  # mask A: not the current position
        self.register_buffer("horizontal_mask", mask)

    def gate(self, x):
        return torch.tanh(x[:, : self.c]) * torch.sigmoid(x[:, self.c:])

    def forward(self, v, h, cond):
        p, height = self.p, v.shape[2]
        b = self.condition(cond)[:, :, None, None] if self.condition is not None else 0
        V = self.vertical(F.pad(v, (p, p, p, 0)))
        v_out = self.gate(V + b)
        down = F.pad(V, (0, 0, 1, 0))[:, :, :height]
        H = F.conv2d(F.pad(h, (p, 0, 0, 0)), self.horizontal.weight * self.horizontal_mask, self.horizontal.bias)
        h_out = self.horizontal_out(self.gate(H + self.vertical_to_horizontal(down) + b))
        return v_out, (h_out if self.first else h_out + h)


class Prior(nn.Module):
    def __init__(self, K, E, C, L, k1, k, head, cond_dim):
        super().__init__()
        self.embedding = nn.Embedding(K, E)
        self.layers = nn.ModuleList(
            [GatedLayer(E if l == 0 else C, C, k1 if l == 0 else k, l == 0, cond_dim) for l in range(L)])
        self.head1 = nn.Conv2d(C, head, 1)
        self.head2 = nn.Conv2d(head, K, 1)

    def forward(self, x, cond):
        v = h = self.embedding(x).permute(0, 3, 1, 2)
        for layer in self.layers:
            v, h = layer(v, h, cond)
        return self.head2(F.relu(self.head1(F.relu(h))))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("work")
    ap.add_argument("--naive-count", type=int, default=2)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=2021)
    ap.add_argument("--device", default="cpu", help="cpu or cuda:N")
    a = ap.parse_args()
    dev = torch.device(a.device)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    header, state = read_model(f"{a.work}/prior.smprior")
    n = lambda key: int(header[key])
    cond = torch.from_numpy(np.fromfile(f"{a.work}/condition.f32", dtype=np.float32))
    K, h, w = n("codebook_size"), 16, 16
    model = Prior(K, n("embedding_dimension"), n("hidden_channels"), n("layers"), n("first_kernel_size"),
                  n("kernel_size"), n("output_hidden_channels"), cond.numel())
    model.load_state_dict(state)
    model.eval()
    model.to(dev)
    cond = cond.to(dev)

    ok = True
    maps = torch.from_numpy(np.fromfile(f"{a.work}/maps.i32", dtype=np.int32).astype(np.int64)).view(-1, h, w)
    cxx = np.fromfile(f"{a.work}/loglik.f64", dtype=np.float64)
    with torch.no_grad():
        maps = maps.to(dev)
        logits = model(maps, cond.expand(maps.shape[0], -1))
        logp = torch.log_softmax(logits.double(), 1).gather(1, maps[:, None]).sum((1, 2, 3)).cpu().numpy()
    diff = float(np.max(np.abs(logp - cxx)))
    print(f"LOGLIK_PYTHON={' '.join(f'{v:.6f}' for v in logp)}")
    print(f"LOGLIK_CXX={' '.join(f'{v:.6f}' for v in cxx)}")
    print(f"LOGLIK_MAX_ABS_DIFF={diff:.3g}")
    if not diff < 1e-3:
        print("FAIL: the C++ and Python log-likelihoods differ", file=sys.stderr)
        ok = False

    # The paper's sampler: the whole network for every position.
    N = a.naive_count
    x = torch.zeros(N, h, w, dtype=torch.long, device=dev)
    c = cond.expand(N, -1)
    t0, c0 = time.perf_counter(), time.process_time()
    with torch.no_grad():
        for i in range(h):
            for j in range(w):
                probs = F.softmax(model(x, c)[:, :, i, j], -1)
                x[:, i, j] = torch.multinomial(probs, 1).squeeze(-1)
    x.cpu()  # wait for the device
    t, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"PYTHON_THREADS={a.threads}")
    print(f"PYTHON_NAIVE_MAPS={N}")
    print(f"PYTHON_NAIVE_SECONDS={t:.3f}")
    print(f"PYTHON_NAIVE_SECONDS_PER_MAP={t / N:.3f}")
    print(f"PYTHON_NAIVE_SECONDS_ESTIMATED_FOR_{a.count}={t * a.count / N:.1f}")
    print(f"PYTHON_NAIVE_CPU_SECONDS={cpu:.3f}")
    print(f"PYTHON_NAIVE_CPU_SECONDS_ESTIMATED_FOR_{a.count}={cpu * a.count / N:.1f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
