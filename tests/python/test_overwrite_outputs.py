"""Operators that skip the zero fill of their outputs must write every element."""
import os
import subprocess
import sys

import mxnet

HERE = os.path.dirname(os.path.abspath(__file__))

# The operator suites, run again with uninitialised outputs filled with NaN.
SUITES = ["test_op_nn.py", "test_op_nn_fixtures.py", "test_op_unary.py", "test_op_optimizer.py",
          "test_op_misc.py", "test_op_reduce.py", "test_op_shape.py", "test_op_linalg.py",
          "test_gluon_layers.py"]


def test_operator_suites_pass_with_poisoned_outputs():
    # The child imports the same mxnet as this process, wherever it was found.
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(mxnet.__file__)))
    path = os.pathsep.join([package_root, os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, MXNET_DEBUG_POISON_OUTPUTS="1", PYTHONPATH=path)
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *SUITES]
    result = subprocess.run(cmd, cwd=HERE, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
