"""The main job: examples/gluon/mnist.py trains on the bundled MNIST split."""
import os
import subprocess
import sys

import mxnet as mx

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                       "examples", "gluon", "mnist.py")


def run_example(*args, cwd):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(mx.__file__)))
    return subprocess.run([sys.executable, EXAMPLE, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_lenet_one_epoch_learns(tmp_path):
    done = run_example("--epochs", "1", "--min-accuracy", "0.9", "--save", str(tmp_path / "lenet.params"),
                       cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "validation accuracy" in done.stdout
    assert (tmp_path / "lenet.params").exists()


def test_mlp_one_epoch_learns(tmp_path):
    done = run_example("--model", "mlp", "--epochs", "1", "--min-accuracy", "0.85", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "mlp.params").exists()
