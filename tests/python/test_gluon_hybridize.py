"""HybridBlock.hybridize, export and SymbolBlock, against the imperative path and MXNet 1.9.1.

The fixtures in tests/fixtures/hybrid/ come from make_hybrid_fixtures.py run with MXNet 1.9.1:
three trained nets exported there, with a fixed input and the predict-mode output.
"""
import json
import os

import numpy as np
import pytest

import mxnet as mx
from mxnet import autograd, gluon, nd
from mxnet.gluon import nn
from mxnet.gluon.block import SymbolBlock
from mxnet.gluon._cached_graph import SymbolValueError

from fixtures import fixture_path, load_json, load_npz

NET_FIXTURES = ['lenet', 'mlp', 'resnet']
TOLERANCE = dict(rtol=1e-6, atol=1e-6)


def _bind_available():
    """True once Symbol.bind (the executor, written on another branch) is merged."""
    x = mx.sym.var('x')
    try:
        x.bind(mx.cpu(), {'x': nd.zeros((1,))})
    except NotImplementedError:
        return False
    return True


needs_bind = pytest.mark.skipif(not _bind_available(),
                                reason='Symbol.bind is not implemented on this branch yet')


# ---- nets ---------------------------------------------------------------------------------------

class ResidualBlock(nn.HybridBlock):
    """The residual block of make_hybrid_fixtures.py."""

    def __init__(self, channels, stride, project, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.conv1 = nn.Conv2D(channels, 3, stride, padding=1, use_bias=False)
            self.bn1 = nn.BatchNorm()
            self.conv2 = nn.Conv2D(channels, 3, 1, padding=1, use_bias=False)
            self.bn2 = nn.BatchNorm()
            if project:
                self.proj = nn.Conv2D(channels, 1, stride, use_bias=False)
                self.proj_bn = nn.BatchNorm()
            else:
                self.proj = None

    def hybrid_forward(self, F, x):
        out = F.Activation(self.bn1(self.conv1(x)), act_type='relu')
        out = self.bn2(self.conv2(out))
        shortcut = x if self.proj is None else self.proj_bn(self.proj(x))
        return F.Activation(out + shortcut, act_type='relu')


def make_dense():
    net = nn.Dense(5, activation='tanh', prefix='dense_')
    return net, (3, 4)


def make_conv():
    net = nn.HybridSequential(prefix='conv_')
    with net.name_scope():
        net.add(nn.Conv2D(3, 3, padding=1, activation='relu'), nn.MaxPool2D(2),
                nn.Conv2D(2, 2), nn.Flatten())
    return net, (2, 2, 6, 6)


def make_batchnorm():
    net = nn.HybridSequential(prefix='bn_')
    with net.name_scope():
        net.add(nn.Dense(6), nn.BatchNorm(), nn.Activation('relu'), nn.Dense(2))
    return net, (5, 3)


def make_dropout():
    net = nn.HybridSequential(prefix='drop_')
    with net.name_scope():
        net.add(nn.Dense(6, activation='relu'), nn.Dropout(0.5), nn.Dense(2))
    return net, (4, 3)


def make_resnet():
    net = nn.HybridSequential(prefix='res_')
    with net.name_scope():
        net.add(nn.Conv2D(4, 3, padding=1, use_bias=False), nn.BatchNorm(),
                nn.Activation('relu'),
                ResidualBlock(4, 1, project=False), ResidualBlock(6, 2, project=True),
                nn.GlobalAvgPool2D(), nn.Dense(3))
    return net, (2, 3, 6, 6)


MAKERS = {'dense': make_dense, 'conv': make_conv, 'batchnorm': make_batchnorm,
          'dropout': make_dropout, 'resnet': make_resnet}


def twin_nets(maker, seed=0):
    """Return two nets of the same layout with equal parameter values, and an input."""
    first, shape = maker()
    second, _ = maker()
    rng = np.random.RandomState(seed)
    x = nd.array(rng.randn(*shape))
    for net in (first, second):
        net.initialize(mx.init.Xavier())
        net(x)  # finish deferred initialization
    for (_, a), (_, b) in zip(sorted(first.collect_params().items()),
                              sorted(second.collect_params().items())):
        value = rng.randn(*a.shape).astype(np.float32) * 0.5
        if a.name.endswith('running_var'):
            value = np.abs(value) + 0.5
        a.set_data(nd.array(value))
        b.set_data(nd.array(value))
    return first, second, x


def run_recorded(net, x, train_mode):
    """Return the output, the input gradient and the parameter gradients of one backward."""
    x = x.copy()
    x.attach_grad()
    with autograd.record(train_mode=train_mode):
        out = net(x)
        loss = (out * out).sum()
    loss.backward()
    grads = {name: p.grad().asnumpy().copy()
             for name, p in net.collect_params().items() if p.grad_req != 'null'}
    state = {name: p.data().asnumpy().copy() for name, p in net.collect_params().items()}
    return out.asnumpy(), x.grad.asnumpy(), grads, state


# ---- hybridized against imperative --------------------------------------------------------------

@pytest.mark.parametrize('kind', sorted(MAKERS))
@pytest.mark.parametrize('train_mode', [False, True])
def test_hybridized_matches_imperative(kind, train_mode):
    imperative, hybrid, x = twin_nets(MAKERS[kind])
    hybrid.hybridize()
    # Both paths draw the Dropout masks from the same seeded generator.
    mx.random.seed(7)
    expected = run_recorded(imperative, x, train_mode)
    for _ in range(2):  # the first call traces, the second reuses the cached graph
        mx.random.seed(7)
        got = run_recorded(hybrid, x, train_mode)
    mx.random.seed(7)
    expected = run_recorded(imperative, x, train_mode)
    np.testing.assert_allclose(got[0], expected[0], **TOLERANCE)
    np.testing.assert_allclose(got[1], expected[1], **TOLERANCE)
    assert sorted(got[2]) == sorted(expected[2])
    for name in expected[2]:
        np.testing.assert_allclose(got[2][name], expected[2][name], err_msg=name, **TOLERANCE)
    # BatchNorm running statistics move in training mode; both paths must move them alike.
    for name in expected[3]:
        np.testing.assert_allclose(got[3][name], expected[3][name], err_msg=name, **TOLERANCE)


LAYERS = {
    'embedding': (lambda: nn.Embedding(10, 3), [[1, 2], [3, 4]]),
    'leaky_relu': (lambda: nn.LeakyReLU(0.1), [[-1.0, 2.0]]),
    'prelu': (lambda: nn.PReLU(), [[-1.0, 2.0]]),
    'elu': (lambda: nn.ELU(), [[-1.0, 2.0]]),
    'selu': (lambda: nn.SELU(), [[-1.0, 2.0]]),
    'gelu': (lambda: nn.GELU(), [[-1.0, 2.0]]),
    'swish': (lambda: nn.Swish(), [[-1.0, 2.0]]),
    'hybrid_lambda': (lambda: nn.HybridLambda(lambda F, x: F.tanh(x) * 2), [[-1.0, 2.0]]),
    'hybrid_lambda_name': (lambda: nn.HybridLambda('tanh'), [[-1.0, 2.0]]),
    'avg_pool': (lambda: nn.AvgPool2D(2), np.arange(16.0).reshape(1, 1, 4, 4)),
    'global_max_pool': (lambda: nn.GlobalMaxPool2D(), np.arange(32.0).reshape(1, 2, 4, 4)),
    'conv1d': (lambda: nn.Conv1D(2, 3), np.arange(12.0).reshape(1, 2, 6)),
    'max_pool1d': (lambda: nn.MaxPool1D(2), np.arange(12.0).reshape(1, 2, 6)),
    'dense_no_flatten': (lambda: nn.Dense(2, flatten=False), np.arange(24.0).reshape(2, 3, 4)),
    'flatten': (lambda: nn.Flatten(), np.arange(24.0).reshape(2, 3, 4)),
}


def test_hybridized_dropout_random_in_training():
    _, hybrid, x = twin_nets(make_dropout)
    hybrid.hybridize()
    mx.random.seed(7)
    first = run_recorded(hybrid, x, train_mode=True)[0]
    mx.random.seed(8)
    second = run_recorded(hybrid, x, train_mode=True)[0]
    assert not np.allclose(first, second)
    np.testing.assert_array_equal(hybrid(x).asnumpy(), hybrid(x).asnumpy())


@pytest.mark.parametrize('kind', sorted(LAYERS))
def test_layer_hybridized_matches_imperative(kind):
    make, value = LAYERS[kind]
    layer = make()
    layer.initialize(mx.init.Uniform(1.0))
    x = nd.array(value)
    expected = layer(x).asnumpy()
    layer.hybridize()
    np.testing.assert_allclose(layer(x).asnumpy(), expected, **TOLERANCE)
    np.testing.assert_allclose(layer(x).asnumpy(), expected, **TOLERANCE)


def test_hybridized_forward_unrecorded_and_static_alloc():
    imperative, hybrid, x = twin_nets(make_resnet)
    hybrid.hybridize(static_alloc=True, static_shape=True)
    expected = imperative(x).asnumpy()
    for _ in range(3):
        np.testing.assert_allclose(hybrid(x).asnumpy(), expected, **TOLERANCE)


def test_hybrid_forward_traced_once_per_key():
    calls = []

    class Counting(nn.HybridBlock):
        def hybrid_forward(self, F, x):
            calls.append(F.__name__)
            return F.relu(x) * 2

    block = Counting()
    block.hybridize()
    x = nd.array([[-1.0, 2.0]])
    np.testing.assert_array_equal(block(x).asnumpy(), [[0.0, 4.0]])
    block(x)
    assert calls == ['mxnet.symbol']
    block(nd.ones((3, 2)))  # a new shape compiles a new graph from the same trace
    assert calls == ['mxnet.symbol']
    assert len(block._cached_graphs) == 2
    block.hybridize(False)
    block(x)
    assert calls == ['mxnet.symbol', 'mxnet.ndarray']


def test_training_branch_follows_mode():
    class Branching(nn.HybridBlock):
        def hybrid_forward(self, F, x):
            if autograd.is_training():
                return x * 2
            return x * 3

    block = Branching()
    block.hybridize()
    x = nd.ones((2,))
    np.testing.assert_array_equal(block(x).asnumpy(), [3.0, 3.0])
    with autograd.record():
        trained = block(x)
    np.testing.assert_array_equal(trained.asnumpy(), [2.0, 2.0])
    np.testing.assert_array_equal(block(x).asnumpy(), [3.0, 3.0])


def test_deferred_init_then_cached_graph():
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Dense(4, activation='relu'), nn.BatchNorm(), nn.Dense(2))
    net.initialize()
    net.hybridize()
    x = nd.array(np.random.RandomState(3).randn(3, 5))
    first = net(x).asnumpy()
    assert net[0].weight.shape == (4, 5)
    second = net(x).asnumpy()
    net.hybridize(False)
    np.testing.assert_allclose(first, second, **TOLERANCE)
    np.testing.assert_allclose(net(x).asnumpy(), first, **TOLERANCE)


def test_deferred_shape_inferred_from_graph():
    class Scale(nn.HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.weight = self.params.get('weight', shape=(2, 0), allow_deferred_init=True)

        def hybrid_forward(self, F, x, weight):
            return F.FullyConnected(x, weight, no_bias=True, num_hidden=2)

    block = Scale()
    block.initialize(mx.init.One())
    out = block(nd.ones((1, 3)))
    assert block.weight.shape == (2, 3)
    np.testing.assert_array_equal(out.asnumpy(), [[3.0, 3.0]])


def test_multiple_and_nested_inputs_and_outputs():
    class Pair(nn.HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.dense = nn.Dense(2, in_units=2)

        def hybrid_forward(self, F, x, pair):
            y, z = pair
            return self.dense(x) + y, [z * 2, F.relu(y)]

    block = Pair(prefix='pair_')
    block.initialize(mx.init.One())
    x, y, z = nd.ones((1, 2)), nd.array([[1.0, -1.0]]), nd.array([[5.0, 6.0]])
    expected = block(x, [y, z])
    symbol_out = block(mx.sym.var('a'), [mx.sym.var('b'), mx.sym.var('c')])
    assert isinstance(symbol_out[0], mx.sym.Symbol)
    block.hybridize()
    got = block(x, [y, z])
    np.testing.assert_array_equal(got[0].asnumpy(), expected[0].asnumpy())
    np.testing.assert_array_equal(got[1][0].asnumpy(), expected[1][0].asnumpy())
    np.testing.assert_array_equal(got[1][1].asnumpy(), expected[1][1].asnumpy())
    symbol, _ = block._trace(block._last_input_format, False)
    assert symbol.list_arguments()[:1] == ['data0']
    assert set(symbol.list_arguments()) == {'data0', 'data1', 'data2', 'pair_dense0_weight',
                                           'pair_dense0_bias'}


def test_value_branch_names_block_and_line():
    class Branchy(nn.HybridBlock):
        def hybrid_forward(self, F, x):
            if x.sum() > 0:
                return x
            return -x

    block = Branchy()
    block.hybridize()
    with pytest.raises(SymbolValueError) as info:
        block(nd.ones((2,)))
    message = str(info.value)
    assert 'Branchy' in message
    assert 'if x.sum() > 0:' in message
    assert os.path.basename(__file__) in message
    assert 'hybridize(False)' in message


def test_value_read_in_child_names_child():
    class Reads(nn.HybridBlock):
        def hybrid_forward(self, F, x):
            return x * float(x.asnumpy()[0])

    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Dense(2, in_units=2), Reads())
    net.initialize()
    net.hybridize()
    with pytest.raises(SymbolValueError) as info:
        net(nd.ones((1, 2)))
    assert 'Reads.hybrid_forward' in str(info.value)
    assert "'asnumpy'" in str(info.value)


def test_forward_hooks_fire_when_hybridized():
    net, shape = make_batchnorm()
    net.initialize()
    seen = []
    net.register_forward_pre_hook(lambda block, inputs: seen.append('pre'))
    net.register_forward_hook(lambda block, inputs, out: seen.append(type(out).__name__))
    with pytest.warns(UserWarning, match='forward hooks'):
        net.hybridize()
    net(nd.ones(shape))
    net(nd.ones(shape))
    assert seen == ['pre', 'NDArray', 'pre', 'NDArray']


def test_summary_rejects_hybridized_block():
    net, shape = make_batchnorm()
    net.initialize()
    net.hybridize()
    with pytest.raises(RuntimeError, match='hybridize\\(False\\)'):
        net.summary(nd.ones(shape))
    net.hybridize(False)
    net.summary(nd.ones(shape))


def test_symbol_input_returns_symbol_with_mxnet_names():
    """Node names and attributes match the graph MXNet 1.9.1 exported for the same net."""
    # The reference net was built without name_scope(), so its layers have global prefixes.
    net = nn.HybridSequential(prefix='hybridsequential0_')
    net.add(nn.Dense(4, in_units=3, prefix='dense0_'), nn.BatchNorm(prefix='batchnorm0_'),
            nn.Activation('relu', prefix='relu0_'))
    out = net(mx.sym.var('data'))
    assert isinstance(out, mx.sym.Symbol)
    ours = json.loads(out.tojson())
    theirs = load_json('symbol/gluon_export.json')
    assert [n['name'] for n in ours['nodes']] == [n['name'] for n in theirs['nodes']]
    assert [n['op'] for n in ours['nodes']] == [n['op'] for n in theirs['nodes']]
    for node, expected in zip(ours['nodes'], theirs['nodes']):
        attrs = dict(node.get('attrs', {}))
        expected_attrs = dict(expected.get('attrs', {}))
        # MXNet writes the shape known when the variable was made: "(0,)" for BatchNorm.
        attrs.pop('__shape__', None)
        expected_attrs.pop('__shape__', None)
        assert attrs == expected_attrs, node['name']
        assert node['inputs'] == expected['inputs'], node['name']
    assert out.list_outputs() == ['relu0_fwd_output']


def test_shared_parameters_use_one_variable():
    net = nn.HybridSequential()
    with net.name_scope():
        first = nn.Dense(3, in_units=3)
        net.add(first, nn.Dense(3, in_units=3, params=first.collect_params()))
    out = net(mx.sym.var('data'))
    assert out.list_arguments() == ['data', first.weight.name, first.bias.name]


# ---- export -------------------------------------------------------------------------------------

def test_export_before_forward_raises(tmp_path):
    net, _ = make_dense()
    net.initialize()
    net.hybridize()
    with pytest.raises(RuntimeError, match='hybridize'):
        net.export(str(tmp_path / 'net'))


@pytest.mark.parametrize('kind', ['batchnorm', 'resnet', 'conv'])
def test_export_then_imports_roundtrip(tmp_path, kind):
    net, _, x = twin_nets(MAKERS[kind])
    net.hybridize()
    with autograd.record():  # a training step moves the BatchNorm statistics
        net(x)
    expected = net(x).asnumpy()
    path = str(tmp_path / kind)
    net.export(path, epoch=3)
    saved = nd.load(path + '-0003.params')
    symbol = mx.sym.load(path + '-symbol.json')
    assert sorted(saved) == sorted(['arg:' + n for n in symbol.list_arguments() if n != 'data']
                                   + ['aux:' + n for n in symbol.list_auxiliary_states()])
    for name, param in net.collect_params().items():
        key = ('aux:' if name.endswith(('running_mean', 'running_var')) else 'arg:') + name
        np.testing.assert_array_equal(saved[key].asnumpy(), param.data().asnumpy())

    loaded = SymbolBlock.imports(path + '-symbol.json', ['data'], path + '-0003.params')
    np.testing.assert_allclose(loaded(x).asnumpy(), expected, **TOLERANCE)

    fresh, _ = MAKERS[kind]()
    fresh.load_parameters(path + '-0003.params')
    np.testing.assert_allclose(fresh(x).asnumpy(), expected, **TOLERANCE)


def test_load_exported_params_other_prefix(tmp_path):
    net, shape = make_dense()
    net.initialize()
    net.hybridize()
    net(nd.ones(shape))
    path = str(tmp_path / 'net')
    net.export(path)
    other = nn.Dense(5, activation='tanh', prefix='other_')
    with pytest.raises(ValueError) as info:
        other.load_parameters(path + '-0000.params')
    assert 'SymbolBlock.imports' in str(info.value)
    assert "'dense_'" in str(info.value)


def test_export_skips_unused_parameter_with_warning(tmp_path):
    class Unused(nn.HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.used = self.params.get('used', shape=(2,))
            self.spare = self.params.get('spare', shape=(2,))

        def hybrid_forward(self, F, x, used, spare):
            return F.broadcast_add(x, used)

    block = Unused(prefix='unused_')
    block.initialize()
    block.hybridize()
    block(nd.ones((2,)))
    with pytest.warns(UserWarning, match='unused_spare'):
        block.export(str(tmp_path / 'u'))
    assert sorted(nd.load(str(tmp_path / 'u-0000.params'))) == ['arg:unused_used']


def test_export_writes_predict_mode_branch(tmp_path):
    class Branching(nn.HybridBlock):
        def hybrid_forward(self, F, x):
            if autograd.is_training():
                return x * 2
            return x * 3

    block = Branching()
    block.hybridize()
    with autograd.record():
        block(nd.ones((2,)))
    block.export(str(tmp_path / 'b'))
    loaded = SymbolBlock.imports(str(tmp_path / 'b-symbol.json'), 'data')
    np.testing.assert_array_equal(loaded(nd.ones((2,))).asnumpy(), [3.0, 3.0])


# ---- SymbolBlock --------------------------------------------------------------------------------

@pytest.mark.parametrize('name', NET_FIXTURES)
def test_imports_mxnet_fixture(name):
    expected = load_npz('hybrid/%s.npz' % name)
    block = SymbolBlock.imports(str(fixture_path('hybrid/%s-symbol.json' % name)), ['data'],
                                str(fixture_path('hybrid/%s-0000.params' % name)))
    out = block(nd.array(expected['x']))
    np.testing.assert_allclose(out.asnumpy(), expected['out'], rtol=1e-5, atol=1e-5)


def test_imported_fixture_exports_again(tmp_path):
    expected = load_npz('hybrid/mlp.npz')
    block = SymbolBlock.imports(str(fixture_path('hybrid/mlp-symbol.json')), ['data'],
                                str(fixture_path('hybrid/mlp-0000.params')))
    block(nd.array(expected['x']))
    path = str(tmp_path / 'again')
    block.export(path)
    original = nd.load(str(fixture_path('hybrid/mlp-0000.params')))
    saved = nd.load(path + '-0000.params')
    assert sorted(saved) == sorted(original)
    again = SymbolBlock.imports(path + '-symbol.json', ['data'], path + '-0000.params')
    np.testing.assert_allclose(again(nd.array(expected['x'])).asnumpy(), expected['out'],
                               rtol=1e-5, atol=1e-5)


@needs_bind
@pytest.mark.parametrize('name', NET_FIXTURES)
def test_bind_mxnet_fixture(name):
    expected = load_npz('hybrid/%s.npz' % name)
    symbol = mx.sym.load(str(fixture_path('hybrid/%s-symbol.json' % name)))
    saved = nd.load(str(fixture_path('hybrid/%s-0000.params' % name)))
    args = {key[4:]: value for key, value in saved.items() if key.startswith('arg:')}
    aux = {key[4:]: value for key, value in saved.items() if key.startswith('aux:')}
    args['data'] = nd.array(expected['x'])
    executor = symbol.bind(mx.cpu(), args, aux_states=aux)
    out = executor.forward(is_train=False)[0]
    np.testing.assert_allclose(out.asnumpy(), expected['out'], rtol=1e-5, atol=1e-5)


def test_imports_fixture_gradients_match_imperative():
    """Gradients through a loaded graph equal those of the same net built with layers."""
    expected = load_npz('hybrid/resnet.npz')
    block = SymbolBlock.imports(str(fixture_path('hybrid/resnet-symbol.json')), ['data'],
                                str(fixture_path('hybrid/resnet-0000.params')))
    net = nn.HybridSequential(prefix='resnet_')
    with net.name_scope():
        net.add(nn.Conv2D(4, 3, padding=1, use_bias=False), nn.BatchNorm(),
                nn.Activation('relu'),
                ResidualBlock(4, 1, project=False), ResidualBlock(8, 2, project=True),
                nn.GlobalAvgPool2D(), nn.Dense(3))
    net.load_parameters(str(fixture_path('hybrid/resnet-0000.params')))
    x = nd.array(expected['x'])
    got = run_recorded(block, x, train_mode=False)
    want = run_recorded(net, x, train_mode=False)
    np.testing.assert_allclose(got[0], expected['out'], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[0], want[0], **TOLERANCE)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-6)
    for name, grad in want[2].items():
        np.testing.assert_allclose(got[2][name], grad, rtol=1e-5, atol=1e-6, err_msg=name)


def test_symbolblock_composes_with_symbols():
    data = mx.sym.var('data')
    graph = mx.sym.FullyConnected(data, num_hidden=2, name='fc')
    block = SymbolBlock(graph, data)
    other = mx.sym.var('other')
    composed = block(mx.sym.relu(other))
    assert isinstance(composed, mx.sym.Symbol)
    assert composed.list_arguments() == ['other', 'fc_weight', 'fc_bias']


def test_symbolblock_deferred_init_infers_shapes():
    data = mx.sym.var('data')
    graph = mx.sym.BatchNorm(mx.sym.FullyConnected(data, num_hidden=3, name='fc'), name='bn')
    block = SymbolBlock(graph, data)
    block.initialize(mx.init.One())
    x = nd.ones((2, 4))
    out = block(x)
    assert block.params['fc_weight'].shape == (3, 4)
    assert block.params['bn_moving_var'].grad_req == 'null'
    # Predict mode: (4*1 + 0 - moving mean 0) / sqrt(moving var 1 + eps) * gamma 1 + beta 1.
    np.testing.assert_allclose(out.asnumpy(), np.full((2, 3), 4.0 / np.sqrt(1 + 1e-3) + 1.0),
                               rtol=1e-5)


def test_symbolblock_rejects_unknown_input_name():
    graph = mx.sym.relu(mx.sym.var('data'))
    with pytest.raises(ValueError, match='not variables of the graph'):
        SymbolBlock(graph, mx.sym.var('image'))


def test_symbolblock_inside_hybridized_net():
    data = mx.sym.var('data')
    inner = SymbolBlock(mx.sym.FullyConnected(data, num_hidden=2, name='inner_fc'), data)
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Dense(3, in_units=2))
    net.register_child(inner)
    net.initialize(mx.init.One())
    x = nd.ones((1, 2))
    expected = net(x).asnumpy()
    # Dense: 1 + 1 per unit (its bias starts at 0). Inner: 3 * 2 plus a bias of 1.
    np.testing.assert_array_equal(expected, [[7.0, 7.0]])
    net.hybridize()
    np.testing.assert_array_equal(net(x).asnumpy(), expected)


class _WeightView(gluon.HybridBlock):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.w = self.params.get("w", shape=(2, 3), init=mx.init.One())

    def hybrid_forward(self, F, x, w):
        return w.reshape((3, 2)) + 0 * x.sum()


@pytest.mark.parametrize("static_alloc", [False, True])
def test_hybridized_outputs_own_their_buffers(static_alloc):
    # MXNet 1.9.1: a graph's outputs are new arrays, even where the last node is a view of the
    # input (Flatten, transpose) or of a weight (the reshape method).
    for make in (nn.Flatten, lambda: nn.HybridLambda(lambda F, x: F.transpose(x))):
        net = make()
        net.hybridize(static_alloc=static_alloc)
        x = nd.ones((2, 3, 4))
        y = net(x)
        x[:] = 0
        assert y.sum().asscalar() == 24
        y *= 3
        assert x.sum().asscalar() == 0
        assert y.asnumpy().flags.c_contiguous
    class Identity(gluon.HybridBlock):
        def hybrid_forward(self, F, x):
            return F.reshape(x, shape=(-1,))
    block = Identity()
    block.hybridize(static_alloc=static_alloc)
    x = nd.ones((2, 2))
    x.attach_grad()
    with autograd.record():
        loss = (block(x) * nd.array([1, 2, 3, 4])).sum()
    loss.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [[1, 2], [3, 4]])


def test_hybridized_output_viewing_a_weight_is_a_copy():
    block = _WeightView()
    block.initialize()
    block.hybridize()
    out = block(nd.ones((1,)))
    out[:] = 9
    assert block.w.data().sum().asscalar() == 6
