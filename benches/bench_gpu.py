"""GPU benchmarks: mxnet-rs on mx.gpu(0) side by side with PyTorch on the same GPU.

Measures float32 matmul (GFLOP/s), elementwise add and sum (GB/s), training steps of LeNet and
of a ResNet-18-sized network (CIFAR-sized images), and batch-1 LeNet inference latency. When
PyTorch with CUDA is installed, the same work runs on cuda:0 right after ours. TF32 is off, so
both compute in full float32. The JSON then gains the ratio mxnet-rs / PyTorch (higher is
better for rates, lower for times):

    python benches/bench_gpu.py --json gpu.json       # a few minutes on a datacenter GPU
    python benches/bench_gpu.py --quick               # small sizes, to check the script runs

Figures from a software adapter (Mesa's lavapipe, llvmpipe) are not performance figures; the
script labels the adapter it ran on.
"""
import argparse
import json
import statistics
import sys
import time

import numpy as np

import mxnet as mx
from mxnet import autograd, gluon
from mxnet.gluon import nn

try:
    import torch
    import torch.nn as tnn
    import torch.nn.functional as tf
    HAVE_TORCH_CUDA = torch.cuda.is_available()
except ImportError:
    torch = None
    HAVE_TORCH_CUDA = False


def timed(fn, sync, repeats=5, min_seconds=0.5):
    """Median seconds of ``fn()`` after two warm-up calls, each call followed by ``sync()``."""
    for _ in range(2):
        fn()
        sync()
    times = []
    start_all = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - start_all < min_seconds:
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def mx_sync():
    mx.nd.waitall()


def torch_sync():
    torch.cuda.synchronize()


# ---- networks, built the same way in both frameworks --------------------------------------

def mx_lenet():
    net = nn.HybridSequential()
    net.add(nn.Conv2D(20, 5, activation="relu"), nn.MaxPool2D(2, 2), nn.Conv2D(50, 5, activation="relu"),
            nn.MaxPool2D(2, 2), nn.Flatten(), nn.Dense(500, activation="relu"), nn.Dense(10))
    return net


class MxResidual(nn.HybridBlock):
    def __init__(self, channels, stride):
        super().__init__()
        self.body = nn.HybridSequential()
        self.body.add(nn.Conv2D(channels, 3, stride, 1, use_bias=False), nn.BatchNorm(), nn.Activation("relu"),
                      nn.Conv2D(channels, 3, 1, 1, use_bias=False), nn.BatchNorm())
        self.down = None
        if stride != 1:
            self.down = nn.HybridSequential()
            self.down.add(nn.Conv2D(channels, 1, stride, use_bias=False), nn.BatchNorm())

    def hybrid_forward(self, F, x):
        shortcut = x if self.down is None else self.down(x)
        return F.relu(self.body(x) + shortcut)


def mx_resnet18():
    net = nn.HybridSequential()
    net.add(nn.Conv2D(64, 3, 1, 1, use_bias=False), nn.BatchNorm(), nn.Activation("relu"))
    for channels, stride in [(64, 1), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1)]:
        net.add(MxResidual(channels, stride))
    net.add(nn.GlobalAvgPool2D(), nn.Flatten(), nn.Dense(10))
    return net


def torch_lenet():
    return tnn.Sequential(tnn.Conv2d(1, 20, 5), tnn.ReLU(), tnn.MaxPool2d(2, 2), tnn.Conv2d(20, 50, 5), tnn.ReLU(),
                          tnn.MaxPool2d(2, 2), tnn.Flatten(), tnn.Linear(800, 500), tnn.ReLU(), tnn.Linear(500, 10))


def torch_resnet18():
    class Residual(tnn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.body = tnn.Sequential(tnn.Conv2d(cin, cout, 3, stride, 1, bias=False), tnn.BatchNorm2d(cout), tnn.ReLU(),
                                       tnn.Conv2d(cout, cout, 3, 1, 1, bias=False), tnn.BatchNorm2d(cout))
            self.down = None if stride == 1 and cin == cout else tnn.Sequential(
                tnn.Conv2d(cin, cout, 1, stride, bias=False), tnn.BatchNorm2d(cout))

        def forward(self, x):
            return tf.relu(self.body(x) + (x if self.down is None else self.down(x)))

    layers = [tnn.Conv2d(3, 64, 3, 1, 1, bias=False), tnn.BatchNorm2d(64), tnn.ReLU()]
    cin = 64
    for channels, stride in [(64, 1), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1)]:
        layers.append(Residual(cin, channels, stride))
        cin = channels
    layers += [tnn.AdaptiveAvgPool2d(1), tnn.Flatten(), tnn.Linear(512, 10)]
    return tnn.Sequential(*layers)


# ---- measurements --------------------------------------------------------------------------

def matmul(results, sizes):
    for n in sizes:
        a = mx.nd.array(np.random.rand(n, n), ctx=mx.gpu())
        flops = 2 * n ** 3
        results[f"matmul_{n}_gflops"] = {"mxnet-rs": flops / timed(lambda: mx.nd.dot(a, a), mx_sync) / 1e9}
        if HAVE_TORCH_CUDA:
            t = torch.rand(n, n, device="cuda")
            results[f"matmul_{n}_gflops"]["pytorch"] = flops / timed(lambda: t @ t, torch_sync) / 1e9


def bandwidth(results, n):
    a = mx.nd.ones((n,), ctx=mx.gpu())
    b = mx.nd.ones((n,), ctx=mx.gpu())
    results["add_gbps"] = {"mxnet-rs": 3 * 4 * n / timed(lambda: a + b, mx_sync) / 1e9}
    results["sum_gbps"] = {"mxnet-rs": 4 * n / timed(lambda: mx.nd.sum(a), mx_sync) / 1e9}
    if HAVE_TORCH_CUDA:
        ta, tb = torch.ones(n, device="cuda"), torch.ones(n, device="cuda")
        results["add_gbps"]["pytorch"] = 3 * 4 * n / timed(lambda: ta + tb, torch_sync) / 1e9
        results["sum_gbps"]["pytorch"] = 4 * n / timed(lambda: ta.sum(), torch_sync) / 1e9


def mx_train_step(net, shape, classes=10):
    ctx = mx.gpu()
    net.initialize(mx.init.Xavier(), ctx=ctx)
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.01, "momentum": 0.9})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    x = mx.nd.array(np.random.rand(*shape), ctx=ctx)
    y = mx.nd.array(np.random.randint(0, classes, shape[0]), ctx=ctx)

    def step():
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(shape[0])
    return step


def torch_train_step(net, shape, classes=10):
    net = net.cuda()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x = torch.rand(*shape, device="cuda")
    y = torch.randint(0, classes, (shape[0],), device="cuda")

    def step():
        opt.zero_grad()
        tf.cross_entropy(net(x), y).backward()
        opt.step()
    return step


def training(results, lenet_batch, resnet_batch):
    for name, mx_net, torch_net, shape in [
        ("lenet_step_ms", mx_lenet, torch_lenet, (lenet_batch, 1, 28, 28)),
        ("resnet18_step_ms", mx_resnet18, torch_resnet18, (resnet_batch, 3, 32, 32)),
    ]:
        results[name] = {"mxnet-rs": 1e3 * timed(mx_train_step(mx_net(), shape), mx_sync, repeats=3)}
        if HAVE_TORCH_CUDA:
            results[name]["pytorch"] = 1e3 * timed(torch_train_step(torch_net(), shape), torch_sync, repeats=3)


def latency(results):
    net = mx_lenet()
    net.initialize(mx.init.Xavier(), ctx=mx.gpu())
    x = mx.nd.array(np.random.rand(1, 1, 28, 28), ctx=mx.gpu())
    results["lenet_b1_latency_us"] = {"mxnet-rs": 1e6 * timed(lambda: net(x).asnumpy(), lambda: None, repeats=20)}
    if HAVE_TORCH_CUDA:
        tnet = torch_lenet().cuda().eval()
        tx = torch.rand(1, 1, 28, 28, device="cuda")
        with torch.no_grad():
            results["lenet_b1_latency_us"]["pytorch"] = 1e6 * timed(lambda: tnet(tx).cpu(), lambda: None, repeats=20)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: checks the script, measures nothing useful")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args(argv)
    if mx.context.num_gpus() == 0:
        print("no GPU adapter: install a Vulkan, Metal or DX12 driver", file=sys.stderr)
        return 1
    adapter = mx.context.gpu_adapters()[0]
    if HAVE_TORCH_CUDA:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    results = {}
    if args.quick:
        matmul(results, [128, 256])
        bandwidth(results, 1 << 16)
        training(results, 8, 2)
    else:
        matmul(results, [1024, 2048, 4096, 8192])
        bandwidth(results, 1 << 26)
        training(results, 128, 128)
    latency(results)
    for figures in results.values():
        if "pytorch" in figures:
            figures["ratio"] = figures["mxnet-rs"] / figures["pytorch"]
    report = {
        "adapter": adapter,
        "software_adapter": adapter["device_type"] == "Cpu",
        "pytorch": None if not HAVE_TORCH_CUDA else f"{torch.__version__} on {torch.cuda.get_device_name(0)}",
        "results": results,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
