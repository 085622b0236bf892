"""Train LeNet (or an MLP) on real MNIST digits with Gluon.

Without --data-dir the script trains on the first 8,000 images of the MNIST test split that ships
with the package and validates on the last 2,000. With --data-dir pointing at a folder holding the
four standard IDX files (train-images-idx3-ubyte[.gz], ...), it trains on the 60,000 training images
and validates on the 10,000 test images.

    python examples/gluon/mnist.py                 # LeNet, 10 epochs
    python examples/gluon/mnist.py --model mlp     # 784-256-128-10 MLP
    python examples/gluon/mnist.py --ctx gpu       # on mx.gpu(0) (Vulkan, Metal or DX12)
"""
import argparse
import os
import sys
import time

import numpy as np

import mxnet as mx
from mxnet import autograd, gluon
from mxnet.gluon import nn


def build_lenet():
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Conv2D(20, kernel_size=5, activation="relu"),
                nn.MaxPool2D(pool_size=2, strides=2),
                nn.Conv2D(50, kernel_size=5, activation="relu"),
                nn.MaxPool2D(pool_size=2, strides=2),
                nn.Flatten(),
                nn.Dense(500, activation="relu"),
                nn.Dense(10))
    return net


def build_mlp():
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Flatten(),
                nn.Dense(256, activation="relu"),
                nn.Dense(128, activation="relu"),
                nn.Dense(10))
    return net


def load_data(data_dir, train_size):
    """Return (train_x, train_y, val_x, val_y) as float32 NCHW images in [0, 1] and int labels."""
    vision = gluon.data.vision
    if data_dir:
        train = vision.MNIST(root=data_dir, train=True)
        test = vision.MNIST(root=data_dir, train=False)
        tx, ty = train._data, train._label
        vx, vy = test._data, test._label
    else:
        test = vision.MNIST(train=False)
        images, labels = test._data, test._label
        tx, ty = images[:train_size], labels[:train_size]
        vx, vy = images[train_size:], labels[train_size:]

    def prepare(x):
        x = x.asnumpy() if isinstance(x, mx.nd.NDArray) else np.asarray(x)
        return (x.reshape(-1, 1, 28, 28).astype(np.float32) / 255.0 - 0.1307) / 0.3081

    def labels_of(y):
        return (y.asnumpy() if isinstance(y, mx.nd.NDArray) else np.asarray(y)).astype(np.float32)

    return prepare(tx), labels_of(ty), prepare(vx), labels_of(vy)


class ProgressBar:
    """A one-line progress bar on stderr with loss and throughput."""

    def __init__(self, total, width=30):
        self.total, self.width = total, width
        self.interactive = sys.stderr.isatty()

    def update(self, done, loss, rate):
        filled = int(self.width * done / self.total)
        bar = "#" * filled + "." * (self.width - filled)
        line = f"[{bar}] {done}/{self.total} loss {loss:.4f} {rate:,.0f} img/s"
        if self.interactive:
            sys.stderr.write("\r" + line)
            sys.stderr.flush()
        elif done == self.total:
            sys.stderr.write(line + "\n")

    def close(self):
        if self.interactive:
            sys.stderr.write("\n")


def evaluate(net, x, y, batch_size, ctx):
    metric = mx.metric.Accuracy()
    loader = gluon.data.DataLoader(gluon.data.ArrayDataset(x, y), batch_size=batch_size)
    for data, label in loader:
        metric.update([label], [net(data.as_in_context(ctx))])
    return metric.get()[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=["lenet", "mlp"], default="lenet")
    parser.add_argument("--ctx", choices=["cpu", "gpu"], default="cpu",
                        help="train on the CPU or on gpu(0)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.1, help="SGD learning rate")
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--data-dir", default=None, help="folder with the full MNIST IDX files")
    parser.add_argument("--train-size", type=int, default=8000,
                        help="images of the bundled split used for training (the rest validate)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--save", default=None, help="parameter file (default: <model>.params)")
    parser.add_argument("--min-accuracy", type=float, default=None,
                        help="exit with status 1 if the final validation accuracy is lower")
    args = parser.parse_args(argv)

    mx.random.seed(args.seed)
    np.random.seed(args.seed)
    train_x, train_y, val_x, val_y = load_data(args.data_dir, args.train_size)
    print(f"training {args.model} on {len(train_x)} images on {args.ctx}, validating on {len(val_x)}")

    net = build_lenet() if args.model == "lenet" else build_mlp()
    ctx = mx.gpu(0) if args.ctx == "gpu" else mx.cpu()
    net.initialize(mx.init.Xavier(magnitude=2.24), ctx=ctx)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd",
                            {"learning_rate": args.lr, "momentum": args.momentum})
    train_loader = gluon.data.DataLoader(gluon.data.ArrayDataset(train_x, train_y),
                                         batch_size=args.batch_size, shuffle=True)

    accuracy = 0.0
    for epoch in range(args.epochs):
        bar = ProgressBar(len(train_x))
        seen, loss_sum, start = 0, 0.0, time.perf_counter()
        for data, label in train_loader:
            data, label = data.as_in_context(ctx), label.as_in_context(ctx)
            with autograd.record():
                loss = loss_fn(net(data), label)
            loss.backward()
            trainer.step(data.shape[0])
            seen += data.shape[0]
            loss_sum += loss.sum().asscalar()
            bar.update(seen, loss_sum / seen, seen / (time.perf_counter() - start))
        bar.close()
        elapsed = time.perf_counter() - start
        accuracy = evaluate(net, val_x, val_y, 256, ctx)
        print(f"epoch {epoch + 1}/{args.epochs}: loss {loss_sum / seen:.4f}, "
              f"{seen / elapsed:,.0f} img/s, validation accuracy {accuracy:.4f}")

    path = args.save or f"{args.model}.params"
    net.save_parameters(path)
    print(f"saved parameters to {os.path.abspath(path)}")
    if args.min_accuracy is not None and accuracy < args.min_accuracy:
        print(f"validation accuracy {accuracy:.4f} is below --min-accuracy {args.min_accuracy}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
