"""Tests of mx.gluon.data: samplers, datasets, DataLoader, MNIST and vision transforms."""
import gzip
import json
import os
import shutil
import time
import warnings

import numpy as np
import pytest

from mxnet.gluon import data as gdata
from mxnet.gluon.data import dataloader as dataloader_module
from mxnet.gluon.data.vision import datasets as vision_datasets
from mxnet.gluon.data.vision import transforms


def _has_core():
    try:
        from mxnet import ndarray as nd
    except ImportError:
        return False
    return hasattr(nd, 'array')


requires_core = pytest.mark.skipif(not _has_core(), reason='needs the native NDArray core')


def requires_ops(*names):
    """Skip unless the core provides the operators ``mx.nd.<name>``."""
    missing = list(names)
    if _has_core():
        from mxnet import ndarray as nd
        missing = [name for name in names if not hasattr(nd, name)]
    return pytest.mark.skipif(bool(missing), reason='needs mx.nd.%s' % ', mx.nd.'.join(missing))

# The first ten labels of the MNIST test split (t10k-labels-idx1-ubyte).
MNIST_TEST_FIRST_LABELS = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def _numpy_batchify(samples):
    return np.stack([np.asarray(s) for s in samples])


# ---------------------------------------------------------------------------------------
# Samplers
# ---------------------------------------------------------------------------------------

def test_sequential_sampler():
    assert list(gdata.SequentialSampler(4)) == [0, 1, 2, 3]
    assert list(gdata.SequentialSampler(3, start=5)) == [5, 6, 7]
    assert len(gdata.SequentialSampler(3, start=5)) == 3


def test_random_sampler_is_permutation():
    np.random.seed(0)
    sampler = gdata.RandomSampler(20)
    first = list(sampler)
    second = list(sampler)
    assert sorted(first) == list(range(20))
    assert sorted(second) == list(range(20))
    assert first != second
    assert len(sampler) == 20


def test_filter_sampler():
    sampler = gdata.FilterSampler(lambda x: x % 3 == 0, list(range(10)))
    assert list(sampler) == [0, 3, 6, 9]
    assert len(sampler) == 4


@pytest.mark.parametrize('last_batch,expected', [
    ('keep', [[0, 1, 2], [3, 4, 5], [6]]),
    ('discard', [[0, 1, 2], [3, 4, 5]]),
    ('rollover', [[0, 1, 2], [3, 4, 5]]),
])
def test_batch_sampler_last_batch(last_batch, expected):
    sampler = gdata.BatchSampler(gdata.SequentialSampler(7), 3, last_batch)
    assert len(sampler) == len(expected)
    assert list(sampler) == expected


def test_batch_sampler_rollover_carries_indices():
    sampler = gdata.BatchSampler(gdata.SequentialSampler(7), 3, 'rollover')
    assert list(sampler) == [[0, 1, 2], [3, 4, 5]]
    # Index 6 is carried to the front of the next pass.
    assert len(sampler) == (1 + 7) // 3
    assert list(sampler) == [[6, 0, 1], [2, 3, 4]]
    assert len(sampler) == (2 + 7) // 3
    assert list(sampler) == [[5, 6, 0], [1, 2, 3], [4, 5, 6]]
    assert list(sampler) == [[0, 1, 2], [3, 4, 5]]


def test_batch_sampler_invalid_arguments():
    with pytest.raises(ValueError, match='last_batch'):
        gdata.BatchSampler(gdata.SequentialSampler(3), 2, 'pad')
    with pytest.raises(ValueError, match='batch_size'):
        gdata.BatchSampler(gdata.SequentialSampler(3), 0)


# ---------------------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------------------

def test_simple_dataset_and_transform():
    dataset = gdata.SimpleDataset([1, 2, 3])
    assert len(dataset) == 3
    doubled = dataset.transform(lambda x: x * 2)
    assert [doubled[i] for i in range(3)] == [2, 4, 6]


def test_transform_lazy_and_eager():
    calls = []

    def record(x):
        calls.append(x)
        return x + 1

    dataset = gdata.SimpleDataset([10, 20])
    lazy = dataset.transform(record)
    assert calls == []
    assert lazy[1] == 21
    eager = dataset.transform(record, lazy=False)
    assert isinstance(eager, gdata.SimpleDataset)
    assert calls == [20, 10, 20]
    assert eager[0] == 11


def test_transform_unpacks_tuples_and_transform_first():
    dataset = gdata.SimpleDataset([(1, 'a'), (2, 'b')])
    assert dataset.transform(lambda x, y: y * x)[1] == 'bb'
    first = dataset.transform_first(lambda x: x * 10)
    assert first[0] == (10, 'a')
    assert gdata.SimpleDataset([3]).transform_first(lambda x: -x)[0] == -3


def test_dataset_filter_take_sample():
    dataset = gdata.SimpleDataset(list(range(10)))
    evens = dataset.filter(lambda x: x % 2 == 0)
    assert [evens[i] for i in range(len(evens))] == [0, 2, 4, 6, 8]
    assert len(dataset.take(3)) == 3
    assert dataset.take(3)[2] == 2
    assert len(dataset.take(None)) == 10
    assert len(dataset.take(50)) == 10
    picked = dataset.sample(gdata.SequentialSampler(2, start=7))
    assert [picked[0], picked[1]] == [7, 8]
    with pytest.raises(TypeError, match='Sampler'):
        dataset.sample([1, 2])


@pytest.mark.parametrize('length,num_shards', [(10, 3), (9, 3), (2, 4), (0, 2), (17, 5)])
def test_dataset_shard_partitions(length, num_shards):
    dataset = gdata.SimpleDataset(list(range(length)))
    shards = [dataset.shard(num_shards, i) for i in range(num_shards)]
    items = [shard[j] for shard in shards for j in range(len(shard))]
    assert items == list(range(length))
    sizes = [len(shard) for shard in shards]
    assert max(sizes) - min(sizes) <= 1
    assert sizes == sorted(sizes, reverse=True)


def test_dataset_shard_invalid():
    dataset = gdata.SimpleDataset([1, 2, 3])
    with pytest.raises(ValueError, match='index'):
        dataset.shard(2, 2)
    with pytest.raises(ValueError, match='num_shards'):
        dataset.shard(0, 0)


def test_array_dataset_numpy():
    x = np.arange(12).reshape(4, 3)
    y = np.array([0, 1, 0, 1])
    dataset = gdata.ArrayDataset(x, y)
    assert len(dataset) == 4
    data, label = dataset[2]
    np.testing.assert_array_equal(data, [6, 7, 8])
    assert label == 0
    single = gdata.ArrayDataset(y)
    assert single[3] == 1


def test_array_dataset_length_mismatch():
    with pytest.raises(ValueError, match='same length'):
        gdata.ArrayDataset(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match='at least one'):
        gdata.ArrayDataset()


@requires_core
def test_array_dataset_ndarray_columns():
    import mxnet as mx
    dataset = gdata.ArrayDataset(mx.nd.array(np.arange(6).reshape(3, 2)),
                                 mx.nd.array([5, 6, 7]))
    data, label = dataset[1]
    assert isinstance(data, mx.nd.NDArray)
    np.testing.assert_array_equal(data.asnumpy(), [2, 3])
    # 1-D NDArrays become NumPy, as in MXNet.
    assert isinstance(label, np.generic)
    assert label == 6


# ---------------------------------------------------------------------------------------
# DataLoader
# ---------------------------------------------------------------------------------------

def test_dataloader_batches_with_custom_batchify():
    dataset = gdata.SimpleDataset(list(range(10)))
    loader = gdata.DataLoader(dataset, batch_size=4, batchify_fn=_numpy_batchify)
    batches = list(loader)
    assert len(loader) == 3
    assert [b.tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    discard = gdata.DataLoader(dataset, batch_size=4, last_batch='discard',
                               batchify_fn=_numpy_batchify)
    assert len(discard) == 2
    assert len(list(discard)) == 2


def test_dataloader_shuffle_covers_dataset():
    np.random.seed(1)
    dataset = gdata.SimpleDataset(list(range(30)))
    loader = gdata.DataLoader(dataset, batch_size=7, shuffle=True, batchify_fn=_numpy_batchify)
    seen = np.concatenate(list(loader))
    assert sorted(seen.tolist()) == list(range(30))
    assert seen.tolist() != list(range(30))


def test_dataloader_batch_sampler():
    dataset = gdata.SimpleDataset(list(range(5)))
    sampler = gdata.BatchSampler(gdata.SequentialSampler(5), 2, 'keep')
    loader = gdata.DataLoader(dataset, batch_sampler=sampler, batchify_fn=_numpy_batchify)
    assert [b.tolist() for b in loader] == [[0, 1], [2, 3], [4]]


def test_dataloader_argument_errors():
    dataset = gdata.SimpleDataset([1, 2, 3])
    sampler = gdata.SequentialSampler(3)
    batch_sampler = gdata.BatchSampler(sampler, 2)
    with pytest.raises(ValueError, match='batch_size must be given'):
        gdata.DataLoader(dataset)
    with pytest.raises(ValueError, match='shuffle'):
        gdata.DataLoader(dataset, batch_size=2, shuffle=True, sampler=sampler)
    for kwargs in (dict(batch_size=2), dict(shuffle=True), dict(sampler=sampler),
                   dict(last_batch='keep')):
        with pytest.raises(ValueError, match='batch_sampler'):
            gdata.DataLoader(dataset, batch_sampler=batch_sampler, **kwargs)


def test_dataloader_defaults():
    dataset = gdata.SimpleDataset([1, 2, 3])
    assert gdata.DataLoader(dataset, 2)._batchify_fn is gdata.default_batchify_fn
    workers = gdata.DataLoader(dataset, 2, num_workers=3)
    assert workers._prefetch == 6
    assert workers._batchify_fn is gdata.default_mp_batchify_fn
    threads = gdata.DataLoader(dataset, 2, num_workers=2, thread_pool=True, prefetch=1)
    assert threads._prefetch == 1
    assert threads._batchify_fn is gdata.default_batchify_fn


class _WorkerProbeDataset(gdata.Dataset):
    """Returns (index, whether __getitem__ ran in a DataLoader worker process)."""

    def __len__(self):
        return 9

    def __getitem__(self, idx):
        from mxnet.gluon.data._worker import in_worker_process
        return np.array([idx, int(in_worker_process()), os.getpid()])


def test_worker_processes_keep_order():
    loader = gdata.DataLoader(_WorkerProbeDataset(), batch_size=2, num_workers=2,
                              batchify_fn=_numpy_batchify, prefetch=3)
    pool = loader._make_pool()
    try:
        batches = list(dataloader_module._MultiWorkerIter(
            pool, dataloader_module._load_batch_in_process, loader._batch_sampler,
            loader._prefetch, 30, lambda batch: batch))
    finally:
        pool.terminate()
    indices = np.concatenate([batch[:, 0] for batch in batches])
    assert indices.tolist() == list(range(9))
    assert all(batch[:, 1].all() for batch in batches)
    assert os.getpid() not in np.concatenate([batch[:, 2] for batch in batches])


def test_dataloader_thread_pool_keeps_order():
    dataset = gdata.SimpleDataset(list(range(11)))
    loader = gdata.DataLoader(dataset, batch_size=3, num_workers=3, thread_pool=True,
                              batchify_fn=_numpy_batchify)
    for _ in range(2):
        assert [batch.tolist() for batch in loader] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10]]


class _SlowDataset(gdata.Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, idx):
        time.sleep(5)
        return np.zeros(1)


def test_dataloader_worker_timeout():
    loader = gdata.DataLoader(_SlowDataset(), batch_size=1, num_workers=1, timeout=0.2,
                              batchify_fn=_numpy_batchify)
    with pytest.raises(RuntimeError, match='timed out after 0.2 seconds'):
        next(iter(loader))
    del loader


def test_mp_batchify_stacks_numpy_and_tuples():
    samples = [(np.array([1, 2], dtype=np.uint8), np.int32(3)),
               (np.array([4, 5], dtype=np.uint8), np.int32(6))]
    data, label = gdata.default_mp_batchify_fn(samples)
    np.testing.assert_array_equal(data, [[1, 2], [4, 5]])
    assert data.dtype == np.uint8
    np.testing.assert_array_equal(label, [3, 6])
    assert label.dtype == np.int32


def test_mp_batchify_copies_ndarray_items_to_numpy():
    import mxnet as mx
    batch = gdata.default_mp_batchify_fn([mx.nd.array([1, 2]), mx.nd.array([3, 4])])
    assert isinstance(batch, np.ndarray)
    np.testing.assert_array_equal(batch, [[1, 2], [3, 4]])


def test_worker_processes_may_use_ndarrays():
    import mxnet as mx

    class Squares(gdata.Dataset):
        def __getitem__(self, i):
            # A product large enough for the engine's workers and the kernel thread pool.
            x = mx.nd.full((256, 256), float(i))
            return mx.nd.dot(x, x)[0, :4] / 256.0

        def __len__(self):
            return 8

    loader = gdata.DataLoader(Squares(), batch_size=4, num_workers=2, timeout=60)
    batches = [b.asnumpy() for b in loader]
    expected = np.repeat((np.arange(8.0) ** 2)[:, None], 4, axis=1)
    np.testing.assert_allclose(np.concatenate(batches), expected, rtol=1e-6)


@requires_ops('stack')
def test_default_batchify_stacks_and_keeps_dtype():
    import mxnet as mx
    batch = gdata.default_batchify_fn([mx.nd.array([1, 2]), mx.nd.array([3, 4])])
    np.testing.assert_array_equal(batch.asnumpy(), [[1, 2], [3, 4]])
    data, label = gdata.default_batchify_fn([(np.array([1, 2], dtype=np.uint8), np.int32(3)),
                                             (np.array([4, 5], dtype=np.uint8), np.int32(6))])
    assert data.dtype == np.uint8
    assert label.dtype == np.int32
    np.testing.assert_array_equal(label.asnumpy(), [3, 6])
    floats = gdata.default_batchify_fn([0.5, 1.5])
    assert floats.dtype == np.float64


@requires_core
@pytest.mark.parametrize('num_workers,thread_pool', [
    pytest.param(0, False, marks=requires_ops('stack')),
    (2, False),
    pytest.param(2, True, marks=requires_ops('stack')),
])
def test_dataloader_array_dataset_end_to_end(num_workers, thread_pool):
    import mxnet as mx
    x = np.random.RandomState(0).rand(10, 3).astype(np.float32)
    y = np.arange(10, dtype=np.int32)
    dataset = gdata.ArrayDataset(mx.nd.array(x), y)
    loader = gdata.DataLoader(dataset, batch_size=4, num_workers=num_workers,
                              thread_pool=thread_pool)
    # Two epochs, so that a worker pool is reused.
    for _ in range(2):
        batches = list(loader)
        assert len(batches) == 3
        data = np.concatenate([b[0].asnumpy() for b in batches])
        labels = np.concatenate([b[1].asnumpy() for b in batches])
        assert isinstance(batches[0][0], mx.nd.NDArray)
        assert batches[0][1].dtype == np.int32
        np.testing.assert_allclose(data, x)
        np.testing.assert_array_equal(labels, y)


# ---------------------------------------------------------------------------------------
# MNIST / FashionMNIST
# ---------------------------------------------------------------------------------------

def _read_bundled(name):
    with gzip.open(os.path.join(vision_datasets.bundled_mnist_path(), name + '.gz')) as f:
        return f.read()


def _mark_worker(monkeypatch):
    # Items are NumPy in worker processes, which lets these tests run without the core.
    from mxnet.gluon.data import _worker
    monkeypatch.setattr(_worker, '_in_worker', True)


def test_bundled_mnist_files_exist():
    folder = vision_datasets.bundled_mnist_path()
    for name in ('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'):
        assert os.path.isfile(os.path.join(folder, name))


def test_read_idx_matches_raw_bytes():
    images = vision_datasets.read_idx(os.path.join(vision_datasets.bundled_mnist_path(),
                                                   't10k-images-idx3-ubyte.gz'))
    raw = _read_bundled('t10k-images-idx3-ubyte')
    assert images.shape == (10000, 28, 28)
    assert images.dtype == np.uint8
    np.testing.assert_array_equal(images.reshape(-1), np.frombuffer(raw[16:], np.uint8))


def test_mnist_test_split_from_bundle(monkeypatch):
    _mark_worker(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        dataset = gdata.vision.MNIST(root='/nonexistent/mnist', train=False)
    assert len(dataset) == 10000
    image, label = dataset[0]
    assert image.shape == (28, 28, 1)
    assert image.dtype == np.uint8
    assert isinstance(label, np.int32)
    assert [int(dataset[i][1]) for i in range(10)] == MNIST_TEST_FIRST_LABELS


def test_mnist_train_falls_back_with_warning(monkeypatch):
    _mark_worker(monkeypatch)
    with pytest.warns(UserWarning, match='train-images-idx3-ubyte.gz'):
        dataset = gdata.vision.MNIST(root='/nonexistent/mnist', train=True)
    assert len(dataset) == 10000


def test_mnist_reads_raw_files_from_root(tmp_path, monkeypatch):
    _mark_worker(monkeypatch)
    images = _read_bundled('t10k-images-idx3-ubyte')
    labels = _read_bundled('t10k-labels-idx1-ubyte')
    # A 5-image training split written as raw (uncompressed) IDX files.
    header = np.array([0x803, 5, 28, 28], dtype='>u4').tobytes()
    (tmp_path / 'train-images-idx3-ubyte').write_bytes(header + images[16:16 + 5 * 784])
    label_header = np.array([0x801, 5], dtype='>u4').tobytes()
    (tmp_path / 'train-labels-idx1-ubyte').write_bytes(label_header + labels[8:13])
    dataset = gdata.vision.MNIST(root=str(tmp_path), train=True)
    assert len(dataset) == 5
    assert [int(dataset[i][1]) for i in range(5)] == MNIST_TEST_FIRST_LABELS[:5]
    np.testing.assert_array_equal(dataset[4][0].reshape(-1),
                                  np.frombuffer(images[16 + 4 * 784:16 + 5 * 784], np.uint8))


def test_mnist_transform_gets_data_and_label(monkeypatch):
    _mark_worker(monkeypatch)
    dataset = gdata.vision.MNIST(root='/nonexistent', train=False,
                                 transform=lambda data, label: (data.sum(), label + 100))
    total, label = dataset[0]
    assert label == 107
    assert total == int(vision_datasets.read_idx(os.path.join(
        vision_datasets.bundled_mnist_path(), 't10k-images-idx3-ubyte.gz'))[0].sum())


def test_mnist_corrupt_file(tmp_path):
    (tmp_path / 't10k-images-idx3-ubyte').write_bytes(b'\x00\x00\x08\x03' + b'\x00' * 6)
    (tmp_path / 't10k-labels-idx1-ubyte').write_bytes(b'\x00\x00\x08\x01\x00\x00\x00\x01\x07')
    with pytest.raises(ValueError, match='truncated'):
        gdata.vision.MNIST(root=str(tmp_path), train=False)


def test_mnist_count_mismatch(tmp_path):
    shutil.copy(os.path.join(vision_datasets.bundled_mnist_path(), 't10k-images-idx3-ubyte.gz'),
                str(tmp_path))
    (tmp_path / 't10k-labels-idx1-ubyte').write_bytes(b'\x00\x00\x08\x01\x00\x00\x00\x01\x07')
    with pytest.raises(ValueError, match='does not match 1 labels'):
        gdata.vision.MNIST(root=str(tmp_path), train=False)


def test_fashion_mnist_missing_files_error(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        gdata.vision.FashionMNIST(root=str(tmp_path), train=True)
    message = str(info.value)
    for name in ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte',
                 't10k-labels-idx1-ubyte', str(tmp_path)):
        assert name in message


def test_fashion_mnist_reads_gzip_files(tmp_path, monkeypatch):
    _mark_worker(monkeypatch)
    for name in ('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'):
        shutil.copy(os.path.join(vision_datasets.bundled_mnist_path(), name), str(tmp_path))
    dataset = gdata.vision.FashionMNIST(root=str(tmp_path), train=False)
    assert len(dataset) == 10000


@requires_core
def test_mnist_items_are_ndarrays_in_parent():
    import mxnet as mx
    dataset = gdata.vision.MNIST(root='/nonexistent', train=False)
    image, label = dataset[0]
    assert isinstance(image, mx.nd.NDArray)
    assert image.shape == (28, 28, 1)
    assert image.dtype == np.uint8
    assert label == 7


@requires_core
def test_mnist_dataloader_with_workers_and_transforms():
    import mxnet as mx
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(0.13, 0.31)])
    dataset = gdata.vision.MNIST(root='/nonexistent', train=False).transform_first(transform)
    loader = gdata.DataLoader(dataset.take(64), batch_size=32, num_workers=2)
    data, label = next(iter(loader))
    assert isinstance(data, mx.nd.NDArray)
    assert data.shape == (32, 1, 28, 28)
    assert data.dtype == np.float32
    np.testing.assert_array_equal(label.asnumpy()[:10], MNIST_TEST_FIRST_LABELS)


# ---------------------------------------------------------------------------------------
# Transforms
# ---------------------------------------------------------------------------------------

def test_to_tensor_numpy_image_and_batch():
    image = np.random.RandomState(0).randint(0, 256, size=(4, 5, 3)).astype(np.uint8)
    out = transforms.ToTensor()(image)
    assert out.shape == (3, 4, 5)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, image.transpose(2, 0, 1) / 255.0, rtol=1e-6)
    batch = np.stack([image, image[::-1]])
    out = transforms.ToTensor()(batch)
    assert out.shape == (2, 3, 4, 5)
    np.testing.assert_allclose(out[1], image[::-1].transpose(2, 0, 1) / 255.0, rtol=1e-6)
    with pytest.raises(ValueError, match='HWC'):
        transforms.ToTensor()(np.zeros((4, 5), np.uint8))


def test_normalize_numpy_per_channel():
    x = np.random.RandomState(1).rand(3, 2, 2).astype(np.float32)
    mean, std = (0.1, 0.2, 0.3), (0.5, 1.0, 2.0)
    out = transforms.Normalize(mean, std)(x)
    expected = (x - np.array(mean).reshape(3, 1, 1)) / np.array(std).reshape(3, 1, 1)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    batch = np.stack([x, x * 2])
    out = transforms.Normalize(mean, std)(batch)
    np.testing.assert_allclose(out[1], (2 * x - np.array(mean).reshape(3, 1, 1))
                               / np.array(std).reshape(3, 1, 1), rtol=1e-6)


def test_normalize_errors():
    with pytest.raises(ValueError, match='2 values but the input has 3 channels'):
        transforms.Normalize((0.1, 0.2), 1.0)(np.zeros((3, 2, 2), np.float32))
    with pytest.raises(TypeError, match='float dtype'):
        transforms.Normalize()(np.zeros((3, 2, 2), np.uint8))
    with pytest.raises(ValueError, match='std must not contain 0'):
        transforms.Normalize(0.0, (1.0, 0.0))


def test_cast_and_compose_numpy():
    pipeline = transforms.Compose([transforms.Cast('float64'), lambda x: x + 1])
    out = pipeline(np.array([1, 2], dtype=np.uint8))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [2, 3])
    assert len(pipeline) == 2
    with pytest.raises(TypeError, match='not callable'):
        transforms.Compose([3])


@requires_ops('transpose', 'broadcast_sub', 'broadcast_div')
def test_transforms_ndarray_match_numpy():
    import mxnet as mx
    image = np.random.RandomState(2).randint(0, 256, size=(6, 5, 3)).astype(np.uint8)
    tensor = transforms.ToTensor()(mx.nd.array(image, dtype=np.uint8))
    assert isinstance(tensor, mx.nd.NDArray)
    assert tensor.dtype == np.float32
    np.testing.assert_allclose(tensor.asnumpy(), transforms.ToTensor()(image), rtol=1e-6)
    normalized = transforms.Normalize((0.4, 0.5, 0.6), (0.2, 0.3, 0.4))(tensor)
    expected = transforms.Normalize((0.4, 0.5, 0.6), (0.2, 0.3, 0.4))(transforms.ToTensor()(image))
    np.testing.assert_allclose(normalized.asnumpy(), expected, rtol=1e-5, atol=1e-6)
    cast = transforms.Cast('float16')(tensor)
    assert cast.dtype == np.float16


# ---------------------------------------------------------------------------------------
# DataLoader against MXNet 1.9.1 (tests/fixtures/behaviour.json)
# ---------------------------------------------------------------------------------------

def _behaviour_dataloader():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures',
                        'behaviour.json')
    with open(path, encoding='utf-8') as stream:
        return json.load(stream)['dataloader']


@pytest.mark.parametrize('mode', ['keep', 'discard', 'rollover'])
def test_dataloader_last_batch_matches_mxnet(mode):
    expected = _behaviour_dataloader()[mode]
    dataset = gdata.ArrayDataset(np.arange(10, dtype='float32'))
    loader = gdata.DataLoader(dataset, batch_size=4, last_batch=mode,
                              batchify_fn=_numpy_batchify)
    assert len(loader) == expected['len(loader)']
    epochs = [[batch.tolist() for batch in loader] for _ in range(2)]
    assert epochs == expected['batches']


@requires_core
@pytest.mark.parametrize('mode', ['keep', 'discard', 'rollover'])
def test_dataloader_default_batchify_matches_mxnet(mode):
    import mxnet as mx
    expected = _behaviour_dataloader()[mode]
    dataset = gdata.ArrayDataset(np.arange(10, dtype='float32'))
    loader = gdata.DataLoader(dataset, batch_size=4, last_batch=mode)
    epochs = []
    for _ in range(2):
        batches = list(loader)
        assert all(isinstance(batch, mx.nd.NDArray) for batch in batches)
        assert all(batch.dtype == np.float32 for batch in batches)
        epochs.append([batch.asnumpy().tolist() for batch in batches])
    assert epochs == expected['batches']


class _RangeSamples(object):
    def __len__(self):
        return 12

    def __getitem__(self, i):
        return np.full((2,), i, dtype=np.float32)


def test_unreferenced_worker_loader():
    """`for b in DataLoader(...)` with workers must not lose its pool mid-iteration."""
    from mxnet import nd
    nd.ones((3,)).asnumpy()
    batches = [b.asnumpy() for b in gdata.DataLoader(_RangeSamples(), batch_size=4, num_workers=2, timeout=30)]
    assert len(batches) == 3
    np.testing.assert_array_equal(batches[2][:, 0], [8, 9, 10, 11])
