"""convnp.optim against torch.optim: same gradients in, same trajectory out (float64, 1e-10)."""

import io
import tracemalloc

import numpy as np
import pytest
import torch

import convnp.optim as optim
from convnp.parameter import Parameter

SHAPES = [(1,), (5,), (3, 4), (2, 3, 3, 3)]  # scalar-ish, vector, Linear-like, Conv-like
STEPS = 100
TOLERANCE = 1e-10


def _case(name, **kwargs):
    label = "-".join([name] + [f"{key}={value}" for key, value in kwargs.items()])
    return pytest.param(name, kwargs, id=label)


OPTIMIZER_CASES = [
    _case("SGD", lr=0.1),
    _case("SGD", lr=0.1, weight_decay=1e-2),
    _case("SGD", lr=0.05, momentum=0.9),
    _case("SGD", lr=0.05, momentum=0.9, weight_decay=1e-2),
    _case("SGD", lr=0.05, momentum=0.9, nesterov=True),
    _case("SGD", lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2),
    _case("Adagrad"),
    _case("Adagrad", lr=0.1, weight_decay=0.1),
    _case("Adagrad", lr=0.1, eps=1e-3),
    _case("Adadelta"),
    _case("Adadelta", lr=0.5, rho=0.95, eps=1e-4),
    _case("Adadelta", weight_decay=0.1),
    _case("Adadelta", lr=2.0, rho=0.5, eps=1e-3, weight_decay=0.1),
    _case("RMSprop"),
    _case("RMSprop", weight_decay=0.1),
    _case("RMSprop", momentum=0.9),
    _case("RMSprop", momentum=0.9, weight_decay=0.1),
    _case("RMSprop", lr=1e-3, alpha=0.9, eps=1e-4, momentum=0.5),
    _case("Adam"),
    _case("Adam", lr=1e-2, betas=(0.8, 0.99)),
    _case("Adam", eps=1e-4),
    _case("Adam", weight_decay=0.1),
    _case("Adam", lr=3e-2, betas=(0.5, 0.9), eps=1e-6, weight_decay=1e-2),
    _case("AdamW"),
    _case("AdamW", lr=1e-2, betas=(0.8, 0.99)),
    _case("AdamW", eps=1e-4, weight_decay=0.0),
    _case("AdamW", lr=3e-2, betas=(0.5, 0.9), eps=1e-6, weight_decay=0.1),
]

# One case per optimizer class, with the state that class keeps.
STATEFUL_CASES = [
    _case("SGD", lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2),
    _case("Adagrad", lr=0.1, weight_decay=0.1),
    _case("Adadelta", weight_decay=0.1),
    _case("RMSprop", momentum=0.9, weight_decay=0.1),
    _case("Adam", weight_decay=0.1),
    _case("AdamW", lr=1e-2),
]


def make_parameters(dtype=np.float64, seed=0):
    """Matching convnp and torch parameters of SHAPES, with the same random values."""
    rng = np.random.default_rng(seed)
    ours = [Parameter(rng.standard_normal(shape).astype(dtype)) for shape in SHAPES]
    theirs = [torch.tensor(param.data, requires_grad=True) for param in ours]
    return ours, theirs


def set_gradients(ours, rng, theirs=None):
    """Gradient: noise plus a pull to zero (so the path feeds back); copied to torch's ``theirs``."""
    for param in ours:
        noise = rng.standard_normal(param.shape).astype(param.dtype)
        param.grad[...] = noise + 0.5 * param.data
    if theirs is not None:
        for param, tensor in zip(ours, theirs, strict=True):
            tensor.grad = torch.from_numpy(param.grad.copy())


def max_difference(ours, theirs):
    return max(
        float(np.max(np.abs(param.data - tensor.detach().numpy())))
        for param, tensor in zip(ours, theirs, strict=True)
    )


def run_against_torch(name, kwargs, steps=STEPS, schedule=None, dtype=np.float64):
    """Step convnp and torch side by side; return the worst parameter difference seen.

    ``schedule`` is ``(scheduler class name, kwargs)`` to step each scheduler after each step;
    the learning rates and momenta set by the schedules must then agree too.
    """
    ours, theirs = make_parameters(dtype)
    optimizer = getattr(optim, name)(ours, **kwargs)
    reference = getattr(torch.optim, name)(theirs, **kwargs)
    schedulers = []
    if schedule is not None:
        schedule_name, schedule_kwargs = schedule
        schedulers = [
            getattr(optim, schedule_name)(optimizer, **schedule_kwargs),
            getattr(torch.optim.lr_scheduler, schedule_name)(reference, **schedule_kwargs),
        ]
    rng = np.random.default_rng(1)
    worst = 0.0
    for step in range(steps):
        set_gradients(ours, rng, theirs)
        optimizer.step()
        reference.step()
        for scheduler in schedulers:
            scheduler.step()
        worst = max(worst, max_difference(ours, theirs))
        assert worst <= TOLERANCE, f"step {step}: parameters differ by {worst:.3g}"
        assert_same_settings(optimizer, reference.param_groups[0], step)
    return worst


def assert_same_settings(optimizer, group, step):
    """The hyperparameters a schedule changes match torch's param group."""
    assert optimizer.lr == pytest.approx(group["lr"], abs=1e-12), f"lr at step {step}"
    if hasattr(optimizer, "momentum"):
        assert optimizer.momentum == pytest.approx(group["momentum"], abs=1e-12)
    if hasattr(optimizer, "betas"):
        assert optimizer.betas == pytest.approx(group["betas"], abs=1e-12)


@pytest.mark.parametrize(("name", "kwargs"), OPTIMIZER_CASES)
def test_trajectory_matches_torch(name, kwargs):
    run_against_torch(name, kwargs)


SCHEDULED_CASES = [
    pytest.param(
        ("SGD", {"lr": 0.1, "momentum": 0.9}),
        ("OneCycleLR", {"max_lr": 0.1, "total_steps": STEPS}),
        id="SGD-momentum-OneCycleLR",
    ),
    pytest.param(
        ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-2}),
        ("OneCycleLR", {"max_lr": 0.2, "total_steps": STEPS, "anneal_strategy": "linear"}),
        id="SGD-nesterov-OneCycleLR-linear",
    ),
    pytest.param(
        ("Adam", {"lr": 1e-3}),
        ("OneCycleLR", {"max_lr": 1e-2, "total_steps": STEPS, "three_phase": True}),
        id="Adam-OneCycleLR-beta1",
    ),
    pytest.param(
        ("RMSprop", {"momentum": 0.5}),
        ("OneCycleLR", {"max_lr": 1e-2, "epochs": 4, "steps_per_epoch": 25}),
        id="RMSprop-momentum-OneCycleLR",
    ),
    pytest.param(
        ("AdamW", {"lr": 1e-2}),
        ("CosineAnnealingLR", {"T_max": 30, "eta_min": 1e-4}),
        id="AdamW-CosineAnnealingLR",
    ),
    pytest.param(
        ("SGD", {"lr": 0.1, "momentum": 0.9}),
        ("StepLR", {"step_size": 10, "gamma": 0.5}),
        id="SGD-StepLR",
    ),
    pytest.param(
        ("Adagrad", {"lr": 0.1}),
        ("OneCycleLR", {"max_lr": 0.1, "total_steps": STEPS, "cycle_momentum": False}),
        id="Adagrad-OneCycleLR-no-momentum",
    ),
]


@pytest.mark.parametrize(("optimizer_case", "schedule"), SCHEDULED_CASES)
def test_scheduled_trajectory_matches_torch(optimizer_case, schedule):
    name, kwargs = optimizer_case
    run_against_torch(name, kwargs, schedule=schedule)


@pytest.mark.parametrize(("name", "kwargs"), STATEFUL_CASES)
def test_float32_parameters_stay_float32_and_match_torch(name, kwargs):
    ours, theirs = make_parameters(np.float32)
    arrays = [param.data for param in ours]
    optimizer = getattr(optim, name)(ours, **kwargs)
    reference = getattr(torch.optim, name)(theirs, **kwargs)
    rng = np.random.default_rng(1)
    for _ in range(20):
        set_gradients(ours, rng, theirs)
        optimizer.step()
        reference.step()
    for param, array, tensor in zip(ours, arrays, theirs, strict=True):
        assert param.data is array, "the update must be in place"
        assert param.data.dtype == np.float32
        np.testing.assert_allclose(param.data, tensor.detach().numpy(), rtol=1e-4, atol=1e-5)
        for value in optimizer.state[param].values():
            assert isinstance(value, int) or value.dtype == np.float32


@pytest.mark.parametrize(("name", "kwargs"), STATEFUL_CASES)
def test_state_uses_torch_names_keyed_by_parameter(name, kwargs):
    ours, theirs = make_parameters()
    optimizer = getattr(optim, name)(ours, **kwargs)
    reference = getattr(torch.optim, name)(theirs, **kwargs)
    set_gradients(ours, np.random.default_rng(1), theirs)
    optimizer.step()
    reference.step()
    for param, tensor in zip(ours, theirs, strict=True):
        expected = {key for key, value in reference.state[tensor].items() if value is not None}
        assert set(optimizer.state[param]) == expected
        for key, value in optimizer.state[param].items():
            np.testing.assert_allclose(value, reference.state[tensor][key].numpy(), atol=1e-12)


@pytest.mark.parametrize(("name", "kwargs"), STATEFUL_CASES)
def test_steady_state_step_allocates_no_parameter_sized_arrays(name, kwargs):
    param = Parameter(np.random.default_rng(0).standard_normal((256, 256)))  # 512 KiB
    param.grad[...] = 0.5
    optimizer = getattr(optim, name)([param], **kwargs)
    optimizer.step()  # creates the state and the scratch buffers
    tracemalloc.start()
    try:
        optimizer.step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < param.data.nbytes // 8, f"{name}.step allocated {peak} bytes"


def test_zero_grad_zeros_every_gradient_in_place():
    ours, _ = make_parameters()
    optimizer = optim.Adam(ours)
    for param in ours:
        param.grad[...] = 1.5
    gradients = [param.grad for param in ours]
    optimizer.zero_grad()
    for param, gradient in zip(ours, gradients, strict=True):
        assert param.grad is gradient
        assert not param.grad.any()


def test_step_does_not_modify_gradients():
    ours, _ = make_parameters()
    optimizer = optim.SGD(ours, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)
    set_gradients(ours, np.random.default_rng(0))
    before = [param.grad.copy() for param in ours]
    optimizer.step()
    optimizer.step()
    for param, gradient in zip(ours, before, strict=True):
        np.testing.assert_array_equal(param.grad, gradient)


def _train(optimizer, params, rng, steps):
    for _ in range(steps):
        set_gradients(params, rng)
        optimizer.step()


def _through_npz(state_dict):
    """Save with np.savez and read back without pickle: the state is plain arrays."""
    buffer = io.BytesIO()
    np.savez(buffer, **state_dict)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


@pytest.mark.parametrize(("name", "kwargs"), STATEFUL_CASES)
def test_state_dict_resumes_bit_identically(name, kwargs):
    uninterrupted, _ = make_parameters()
    optimizer = getattr(optim, name)(uninterrupted, **kwargs)
    _train(optimizer, uninterrupted, np.random.default_rng(1), 20)

    first_half, _ = make_parameters()
    optimizer = getattr(optim, name)(first_half, **kwargs)
    rng = np.random.default_rng(1)
    _train(optimizer, first_half, rng, 10)
    saved = _through_npz(optimizer.state_dict())

    resumed = [Parameter(param.data) for param in first_half]  # copies
    optimizer = getattr(optim, name)(resumed, lr=123.0)  # lr comes back from the state
    optimizer.load_state_dict(saved)
    _train(optimizer, resumed, rng, 10)
    for param, reference in zip(resumed, uninterrupted, strict=True):
        np.testing.assert_array_equal(param.data, reference.data)


def test_state_dict_keys_and_values():
    ours, _ = make_parameters()
    optimizer = optim.Adam(ours, lr=0.01, betas=(0.8, 0.9))
    assert set(optimizer.state_dict()) == {"lr", "betas", "eps", "weight_decay"}
    _train(optimizer, ours, np.random.default_rng(0), 3)
    state = optimizer.state_dict()
    assert state["lr"] == 0.01
    np.testing.assert_array_equal(state["betas"], [0.8, 0.9])
    assert state["state.3.step"] == 3
    assert state["state.3.exp_avg"].shape == SHAPES[3]
    state["state.3.exp_avg"][...] = 0  # a copy: the optimizer is unaffected
    assert optimizer.state[ours[3]]["exp_avg"].any()


def test_state_dict_saves_the_lr_a_schedule_set():
    ours, _ = make_parameters()
    optimizer = optim.SGD(ours, lr=1.0, momentum=0.9)
    optim.OneCycleLR(optimizer, max_lr=0.5, total_steps=10)
    state = optimizer.state_dict()
    assert state["lr"] == pytest.approx(0.5 / 25)
    assert state["momentum"] == pytest.approx(0.95)
    assert state["initial_lr"] == pytest.approx(0.5 / 25)


def _trained_adam_state():
    ours, _ = make_parameters()
    optimizer = optim.Adam(ours)
    _train(optimizer, ours, np.random.default_rng(0), 2)
    return optimizer, optimizer.state_dict()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update({"momentum": np.array(0.9)}), "unexpected key 'momentum'"),
        (lambda d: d.pop("betas"), "missing keys"),
        (lambda d: d.update({"betas": np.array([0.9, 0.9, 0.9])}), "'betas' has shape"),
        (lambda d: d.update({"state.9.exp_avg": np.zeros(3)}), "names no parameter"),
        (lambda d: d.update({"state.0.momentum_buffer": np.zeros(1)}), "unexpected key"),
        (lambda d: d.update({"state.2.exp_avg": np.zeros((4, 3))}), "has shape"),
        (lambda d: d.pop("state.1.step"), "lacks state"),
        (lambda d: d.update({"lr": np.array(-1.0)}), "invalid lr -1.0"),
    ],
    ids=["unexpected", "missing", "shape", "index", "state-name", "state-shape", "partial", "lr"],
)
def test_load_state_dict_rejects_mismatches_and_changes_nothing(change, message):
    optimizer, state = _trained_adam_state()
    before = optimizer.state_dict()
    change(state)
    with pytest.raises(ValueError, match=message):
        optimizer.load_state_dict(state)
    after = optimizer.state_dict()
    assert after.keys() == before.keys()
    for key, value in before.items():
        np.testing.assert_array_equal(after[key], value)


def _bad(name, fragment, **kwargs):
    """An invalid constructor call and a fragment its error message must contain."""
    return pytest.param(name, kwargs, fragment, id=_case(name, **kwargs).id)


BAD_HYPERPARAMETERS = [
    _bad("SGD", "invalid lr -0.1", lr=-0.1),
    _bad("SGD", "invalid momentum -0.5", lr=0.1, momentum=-0.5),
    _bad("SGD", "invalid weight_decay -1.0", lr=0.1, weight_decay=-1.0),
    _bad("SGD", "Nesterov momentum requires momentum > 0", lr=0.1, nesterov=True),
    _bad("Adagrad", "invalid lr -0.01", lr=-0.01),
    _bad("Adagrad", "invalid eps -1e-10", eps=-1e-10),
    _bad("Adagrad", "invalid weight_decay -0.1", weight_decay=-0.1),
    _bad("Adadelta", "invalid lr -1.0", lr=-1.0),
    _bad("Adadelta", "invalid rho 1.5", rho=1.5),
    _bad("Adadelta", "invalid eps -1e-06", eps=-1e-6),
    _bad("RMSprop", "invalid lr -0.01", lr=-0.01),
    _bad("RMSprop", "invalid alpha -0.99", alpha=-0.99),
    _bad("RMSprop", "invalid momentum -0.9", momentum=-0.9),
    _bad("Adam", "invalid lr -0.001", lr=-1e-3),
    _bad("Adam", "beta parameter at index 0: 1.0", betas=(1.0, 0.999)),
    _bad("Adam", "beta parameter at index 1: -0.1", betas=(0.9, -0.1)),
    _bad("Adam", "invalid eps -1e-08", eps=-1e-8),
    _bad("AdamW", "invalid weight_decay -0.01", weight_decay=-0.01),
]


@pytest.mark.parametrize(("name", "kwargs", "fragment"), BAD_HYPERPARAMETERS)
def test_bad_hyperparameters_raise_value_error_like_torch(name, kwargs, fragment):
    ours, theirs = make_parameters()
    with pytest.raises(ValueError, match=f"^{name}: ") as error:
        getattr(optim, name)(ours, **kwargs)
    assert fragment in str(error.value)
    with pytest.raises(ValueError):
        getattr(torch.optim, name)(theirs, **kwargs)


@pytest.mark.parametrize(
    "params",
    [
        [np.zeros(3)],
        [torch.zeros(3)],
        [Parameter(np.zeros(3)), "weight"],
        Parameter(np.zeros(3)),
        None,
    ],
    ids=["ndarray", "tensor", "string", "single-parameter", "none"],
)
def test_non_parameters_raise_type_error(params):
    with pytest.raises(TypeError, match="SGD: params must"):
        optim.SGD(params, lr=0.1)


def test_empty_parameter_list_is_rejected():
    for params in ([], iter([])):
        with pytest.raises(TypeError, match="empty parameter list"):
            optim.Adam(params)
    with pytest.raises(ValueError, match="empty parameter list"):  # torch's exception type
        optim.Adam([])


def test_duplicate_parameters_are_rejected():
    param = Parameter(np.zeros(3))
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([param, param], lr=0.1)


def test_params_can_be_any_iterable():
    ours, _ = make_parameters()
    optimizer = optim.SGD((param for param in ours), lr=0.1)
    assert optimizer.params == ours
