"""Side-by-side micro and training benchmarks: mxnet-rs, numpy and (when installed) PyTorch.

Every figure is measured in one process, one after another, so the ratios are comparable on a
shared machine. Run it on an otherwise idle machine:

    python benches/bench_python.py            # prints a table and writes JSON with --json FILE
    python benches/bench_python.py --reference-python /path/to/mxnet-1.9.1-venv/bin/python

With --reference-python the same measurements run, right after ours, under Apache MXNet 1.9.1
installed in another environment (the script only uses MXNet's public API), and its figures
appear in the same table as "mxnet-1.9.1".
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

import mxnet as mx
from mxnet import autograd, gluon
from mxnet.gluon import nn

try:
    import torch
except ImportError:  # PyTorch is optional
    torch = None


def best_of(fn, repeats=5, min_seconds=0.3):
    """Return the median wall time of ``fn()`` in seconds.

    A pause comes first: OpenBLAS (numpy) and OpenMP (PyTorch) worker threads keep spinning
    for a while after a call, and would take cores from the next library's measurement. Then
    three warm-up calls, because PyTorch and MKL need several to reach steady speed, and at
    least ``repeats`` timed calls, more until ``min_seconds`` have passed.
    """
    time.sleep(0.5)
    for _ in range(3):
        fn()
    times = []
    start_all = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - start_all < min_seconds:
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def dispatch_latency(results, n=20000):
    a, b = mx.nd.ones((2, 2)), mx.nd.ones((2, 2))

    def run_mx():
        for _ in range(n):
            a + b
        mx.nd.waitall()
    results["dispatch_2x2_add_us"] = {"mxnet-rs": best_of(run_mx, 3) / n * 1e6}
    na, nb = np.ones((2, 2), np.float32), np.ones((2, 2), np.float32)
    results["dispatch_2x2_add_us"]["numpy"] = best_of(lambda: [na + nb for _ in range(n)], 3) / n * 1e6
    if torch is not None:
        ta, tb = torch.ones(2, 2), torch.ones(2, 2)
        results["dispatch_2x2_add_us"]["torch"] = best_of(lambda: [ta + tb for _ in range(n)], 3) / n * 1e6


def eager_autograd(results, n=2000):
    """record() + backward() of c = a * b + a on (2, 2), and a forward pass of three Dense(8)
    layers on a (1, 8) batch: the per-step overheads of small eager models."""
    a, b = mx.nd.ones((2, 2)), mx.nd.ones((2, 2))
    a.attach_grad()

    def run_mx():
        for _ in range(n):
            with autograd.record():
                c = a * b + a
            c.backward()
        mx.nd.waitall()
    results["record_backward_2op_us"] = {"mxnet-rs": best_of(run_mx, 3) / n * 1e6}
    net = nn.Sequential()
    net.add(nn.Dense(8), nn.Dense(8), nn.Dense(8))
    net.initialize()
    x = mx.nd.ones((1, 8))

    def run_dense():
        for _ in range(n):
            net(x)
        mx.nd.waitall()
    results["dense8x3_forward_us"] = {"mxnet-rs": best_of(run_dense, 3) / n * 1e6}
    if torch is not None:
        ta, tb = torch.ones(2, 2, requires_grad=True), torch.ones(2, 2)

        def run_torch():
            for _ in range(n):
                c = ta * tb + ta
                c.backward(torch.ones_like(c))
        results["record_backward_2op_us"]["torch"] = best_of(run_torch, 3) / n * 1e6
        tnet = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Linear(8, 8), torch.nn.Linear(8, 8))
        tx = torch.ones(1, 8)

        def run_torch_dense():
            with torch.no_grad():
                for _ in range(n):
                    tnet(tx)
        results["dense8x3_forward_us"]["torch"] = best_of(run_torch_dense, 3) / n * 1e6


def bandwidth(results, n=16 * 1024 * 1024):
    x, y = mx.nd.ones((n,)), mx.nd.ones((n,))
    xn, yn = np.ones(n, np.float32), np.ones(n, np.float32)
    gb = 3 * n * 4 / 1e9  # two reads and one write
    r = {"mxnet-rs": gb / best_of(lambda: (x + y).wait_to_read()),
         "numpy": gb / best_of(lambda: xn + yn)}
    if torch is not None:
        xt, yt = torch.ones(n), torch.ones(n)
        r["torch"] = gb / best_of(lambda: xt + yt)
    results["add_16M_GBps"] = r
    gb = n * 4 / 1e9
    r = {"mxnet-rs": gb / best_of(lambda: x.sum().wait_to_read()),
         "numpy": gb / best_of(lambda: xn.sum())}
    if torch is not None:
        r["torch"] = gb / best_of(lambda: xt.sum())
    results["sum_16M_GBps"] = r
    gb = 2 * n * 4 / 1e9  # one read and one write
    r = {"mxnet-rs": gb / best_of(lambda: mx.nd.exp(x).wait_to_read()),
         "numpy": gb / best_of(lambda: np.exp(xn))}
    if torch is not None:
        r["torch"] = gb / best_of(lambda: torch.exp(xt))
    results["exp_16M_GBps"] = r
    s = mx.nd.random.uniform(-5, 5, shape=(4096, 1024))
    r = {"mxnet-rs": best_of(lambda: mx.nd.softmax(s, axis=-1).wait_to_read()) * 1e3}
    if torch is not None:
        st = torch.from_numpy(s.asnumpy())
        r["torch"] = best_of(lambda: torch.softmax(st, dim=-1)) * 1e3
    results["softmax_4096x1024_ms"] = r


def matmul(results):
    for n in (256, 1024, 2048):
        a, b = mx.nd.ones((n, n)), mx.nd.ones((n, n))
        an, bn = np.ones((n, n), np.float32), np.ones((n, n), np.float32)
        flops = 2 * n ** 3 / 1e9
        r = {"mxnet-rs": flops / best_of(lambda: mx.nd.dot(a, b).wait_to_read()),
             "numpy": flops / best_of(lambda: an @ bn)}
        if torch is not None:
            at, bt = torch.ones(n, n), torch.ones(n, n)
            r["torch"] = flops / best_of(lambda: at @ bt)
        results[f"matmul_{n}_GFLOPs"] = r


def lenet():
    net = nn.HybridSequential()
    net.add(nn.Conv2D(20, 5, activation="relu"), nn.MaxPool2D(2, 2),
            nn.Conv2D(50, 5, activation="relu"), nn.MaxPool2D(2, 2),
            nn.Flatten(), nn.Dense(500, activation="relu"), nn.Dense(10))
    return net


def mlp():
    net = nn.HybridSequential()
    net.add(nn.Flatten(), nn.Dense(256, activation="relu"), nn.Dense(128, activation="relu"), nn.Dense(10))
    return net


def torch_model(name):
    tnn = torch.nn
    if name == "lenet":
        return tnn.Sequential(tnn.Conv2d(1, 20, 5), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Conv2d(20, 50, 5),
                              tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(), tnn.Linear(800, 500), tnn.ReLU(),
                              tnn.Linear(500, 10))
    return tnn.Sequential(tnn.Flatten(), tnn.Linear(784, 256), tnn.ReLU(), tnn.Linear(256, 128), tnn.ReLU(),
                          tnn.Linear(128, 10))


def mx_training_loop(net, x_np, y_np, steps):
    """Return a function that runs ``steps`` SGD steps of ``net`` on one fixed batch."""
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.01, "momentum": 0.9})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    x, y = mx.nd.array(x_np), mx.nd.array(y_np)

    def run():
        for _ in range(steps):
            with autograd.record():
                loss = loss_fn(net(x), y)
            loss.backward()
            trainer.step(x.shape[0])
        mx.nd.waitall()
    return run


def training(results, steps=30, batch=128):
    x_np = np.random.rand(batch, 1, 28, 28).astype(np.float32)
    y_np = np.random.randint(0, 10, batch).astype(np.float32)
    for name, build in (("lenet", lenet), ("mlp", mlp)):
        net = build()
        net.initialize(mx.init.Xavier())
        r = {"mxnet-rs": steps * batch / best_of(mx_training_loop(net, x_np, y_np, steps), 3)}
        if torch is not None:
            tm = torch_model(name)
            opt = torch.optim.SGD(tm.parameters(), lr=0.01, momentum=0.9)
            xt, yt = torch.from_numpy(x_np), torch.from_numpy(y_np).long()

            def run_torch():
                for _ in range(steps):
                    opt.zero_grad()
                    torch.nn.functional.cross_entropy(tm(xt), yt).backward()
                    opt.step()
            r["torch"] = steps * batch / best_of(run_torch, 3)
        results[f"{name}_train_b{batch}_img_per_s"] = r


def inference(results, batch=256, calls=200):
    """Hybridized LeNet inference: images/s at batch 256 and the latency of one image."""
    x_np = np.random.rand(batch, 1, 28, 28).astype(np.float32)
    mx.random.seed(0)
    net = lenet()
    net.initialize(mx.init.Xavier())
    net.hybridize(static_alloc=True, static_shape=True)
    x, single = mx.nd.array(x_np), mx.nd.array(x_np[:1])
    r_batch = {"mxnet-rs": batch / best_of(lambda: net(x).wait_to_read())}

    def infer_single():
        for _ in range(calls):
            net(single).wait_to_read()
    r_single = {"mxnet-rs": best_of(infer_single, 3) / calls * 1e6}
    if torch is not None:
        tm = torch_model("lenet").eval()
        xt, single_t = torch.from_numpy(x_np), torch.from_numpy(x_np[:1])

        def torch_single():
            for _ in range(calls):
                tm(single_t)
        with torch.no_grad():
            r_batch["torch"] = batch / best_of(lambda: tm(xt))
            r_single["torch"] = best_of(torch_single, 3) / calls * 1e6
    results[f"lenet_infer_b{batch}_img_per_s"] = r_batch
    results["lenet_infer_b1_latency_us"] = r_single


def hybrid(results, steps=30, batch=128, calls=200):
    """LeNet hybridized against imperative: training at batch 128, inference at batch 1."""
    x_np = np.random.rand(batch, 1, 28, 28).astype(np.float32)
    y_np = np.random.randint(0, 10, batch).astype(np.float32)
    one = mx.nd.array(x_np[:1])
    for mode in ("imperative", "hybrid"):
        mx.random.seed(0)
        net = lenet()
        net.initialize(mx.init.Xavier())
        if mode == "hybrid":
            net.hybridize(static_alloc=True, static_shape=True)
        train = mx_training_loop(net, x_np, y_np, steps)

        def infer():
            for _ in range(calls):
                net(one).wait_to_read()

        results[f"lenet_train_b{batch}_{mode}_img_per_s"] = {"mxnet-rs": steps * batch / best_of(train, 3)}
        results[f"lenet_infer_b1_{mode}_per_s"] = {"mxnet-rs": calls / best_of(infer, 3)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--only", nargs="*", help="run only these groups: dispatch eager bandwidth matmul training inference hybrid")
    parser.add_argument("--reference-python", help="python of an environment with mxnet==1.9.1")
    parser.add_argument("--as-reference", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.as_reference:
        global torch
        torch = None
    groups = {"dispatch": dispatch_latency, "eager": eager_autograd, "bandwidth": bandwidth, "matmul": matmul, "training": training,
              "inference": inference, "hybrid": hybrid}
    results = {}
    for name, fn in groups.items():
        if args.only and name not in args.only:
            continue
        fn(results)
    if args.as_reference:
        print(json.dumps({k: v["mxnet-rs"] for k, v in results.items()}))
        return
    if args.reference_python:
        cmd = [args.reference_python, __file__, "--as-reference"] + (["--only", *args.only] if args.only else [])
        # Without PYTHONPATH, so the reference interpreter imports its own mxnet 1.9.1.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
        for key, value in json.loads(out.strip().splitlines()[-1]).items():
            results[key]["mxnet-1.9.1"] = value
    meta = {"python": sys.version.split()[0], "numpy": np.__version__, "machine": platform.machine(),
            "torch": torch.__version__ if torch is not None else None}
    for key, r in results.items():
        ratio = ""
        for other in ("torch", "mxnet-1.9.1"):
            if other in r:
                ratio += f"  (mxnet-rs / {other} = {r['mxnet-rs'] / r[other]:.2f})"
        print(f"{key:32s} " + "  ".join(f"{k}={v:,.2f}" for k, v in r.items()) + ratio)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
