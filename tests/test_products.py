"""Products in row blocks for OpenBLAS's small-matrix kernels (convnp.fast.products): the same
numbers as one product, every convolution route with them equal to torch (float64), and the
rule that decides when they are used."""

import numpy as np
import pytest

import convnp as cn
from convnp.fast import parallel, products
from helpers import CONV_ROUTES, DX_ROUTES, use_conv_route
from test_conv import check_conv, conv_config

# torch notes that an even kernel with padding="same" may copy the input; that is expected here.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")


@pytest.fixture
def blocks(routes, monkeypatch):
    """Force the blocks on (or off) for the rest of the test, with a small bound on M*N*K (and,
    for sums over rows, small blocks) so that test-sized products split into several blocks and
    a remainder."""
    def use(stacked, small_macs=3000, sum_rows=None):
        monkeypatch.setattr(products, "SMALL_MACS", small_macs)
        if sum_rows is not None:
            monkeypatch.setattr(products, "SUM_BLOCK_ROWS", sum_rows)
        routes.enter_context(cn.fast.force_conv_route(stacked=stacked))
    return use


def _operand(rng, shape, transposed):
    """A float64 matrix of ``shape``, C-ordered or as the transposed view of a C-ordered one."""
    if transposed:
        return np.ascontiguousarray(rng.standard_normal(shape[::-1])).T
    return rng.standard_normal(shape)


@pytest.mark.parametrize("stacked", [True, False])
@pytest.mark.parametrize("rows", [1, 15, 16, 97, 640])
@pytest.mark.parametrize("lhs_t, rhs_t", [(False, False), (True, False), (False, True), (True, True)])
def test_product_into_equals_one_product(blocks, stacked, rows, lhs_t, rhs_t):
    blocks(stacked, small_macs=16 * 7 * 5)  # blocks of 16 rows (7 deep, 5 wide)
    rng = np.random.default_rng(rows)
    lhs, rhs = _operand(rng, (rows, 7), lhs_t), _operand(rng, (7, 5), rhs_t)
    out = np.full((rows, 5), np.nan)
    assert products.product_into(lhs, rhs, out) is out
    np.testing.assert_allclose(out, lhs @ rhs, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("stacked", [True, False])
@pytest.mark.parametrize("rows", [1, 127, 128, 300, 1000])
@pytest.mark.parametrize("a_t", [False, True])
def test_rows_product_equals_one_product(blocks, stacked, rows, a_t):
    blocks(stacked, small_macs=128 * 6 * 4)  # blocks of 128 rows, the smallest a sum takes
    rng = np.random.default_rng(rows)
    a, b = _operand(rng, (rows, 6), a_t), rng.standard_normal((rows, 4))
    np.testing.assert_allclose(products.rows_product(a, b), a.T @ b, rtol=1e-12, atol=1e-12)


def test_blocks_write_float32_products_close_to_float64():
    rng = np.random.default_rng(0)
    lhs, rhs = rng.standard_normal((5000, 144)), rng.standard_normal((144, 16))
    out = np.empty((5000, 16), np.float32)
    with cn.fast.force_conv_route(stacked=True):
        products.product_into(lhs.astype(np.float32), rhs.astype(np.float32), out)
        summed = products.rows_product(lhs.astype(np.float32), out)
    np.testing.assert_allclose(out, lhs @ rhs, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(summed, lhs.T @ (lhs @ rhs), rtol=1e-3, atol=1e-2)


@pytest.mark.parametrize("route", CONV_ROUTES)
@pytest.mark.parametrize("seed", range(12))
def test_conv2d_with_blocks_matches_torch(blocks, routes, seed, route, torch_check):
    use_conv_route(routes, route)
    blocks(True, sum_rows=(2, 16))
    config = dict(conv_config(seed), batch=5)  # enough rows for several blocks
    check_conv(config, seed, torch_check)


@pytest.mark.parametrize("dx_route", DX_ROUTES)
def test_every_input_gradient_route_with_blocks_matches_torch(blocks, routes, dx_route, torch_check):
    use_conv_route(routes, "windows", dx=dx_route, chunk_bytes=4096)  # several chunks too
    blocks(True, sum_rows=(2, 16))
    config = dict(batch=4, in_channels=5, out_channels=6, hw=(13, 11), kernel_size=3, stride=1,
                  padding=1, bias=True)
    check_conv(config, 3, torch_check)


def test_the_rule_stacks_only_where_blas_runs_on_one_thread_of_a_small_kernel_core():
    with cn.fast.force_conv_route(stacked=True):
        assert products.stacking()
    with cn.fast.force_conv_route(stacked=False):
        assert not products.stacking()
    if parallel.blas_threads() is None:
        pytest.skip("OpenBLAS's thread control was not found in this process")
    small_kernels = (parallel.blas_core() or "").lower() in products.SMALL_KERNEL_CORES
    with cn.fast.force_threads(2), parallel.single_threaded_blas():
        assert products.stacking() == small_kernels  # a threaded step holds BLAS on one thread
    if parallel.blas_threads() > 1:
        with cn.fast.force_threads(2):
            assert not products.stacking()  # one product on several BLAS threads is faster


def test_blas_core_is_named_where_openblas_was_found():
    if parallel.blas_threads() is None:
        pytest.skip("OpenBLAS's thread control was not found in this process")
    core = parallel.blas_core()
    assert isinstance(core, str) and core.strip()


@pytest.mark.parametrize("bad", [1, "yes", 0.5])
def test_force_conv_route_rejects_a_bad_stacked(bad):
    with pytest.raises(ValueError, match="stacked must be None, True or False"):
        with cn.fast.force_conv_route(stacked=bad):
            pass
