"""convnp.optim schedules against torch.optim.lr_scheduler: same lr (and momentum) sequences."""

import io

import numpy as np
import pytest
import torch

import convnp.optim as optim
from convnp.parameter import Parameter

TOLERANCE = 1e-12


def make_optimizers(name="SGD", **kwargs):
    """A convnp and a torch optimizer of the same kind over one parameter each."""
    kwargs = {"lr": 0.1, "momentum": 0.9, **kwargs} if name == "SGD" else {"lr": 0.1, **kwargs}
    ours = getattr(optim, name)([Parameter(np.zeros(3))], **kwargs)
    theirs = getattr(torch.optim, name)([torch.zeros(3, requires_grad=True)], **kwargs)
    return ours, theirs


def settings(optimizer):
    """(lr, momentum or beta1) of a convnp optimizer."""
    momentum = optimizer.betas[0] if hasattr(optimizer, "betas") else optimizer.momentum
    return optimizer.lr, momentum


def torch_settings(optimizer):
    group = optimizer.param_groups[0]
    return group["lr"], group["betas"][0] if "betas" in group else group["momentum"]


def assert_same_sequence(schedule_name, kwargs, steps, optimizer_name="SGD"):
    """Construct and step both schedules; lr, momentum and get_last_lr must agree throughout."""
    ours, theirs = make_optimizers(optimizer_name)
    schedule = getattr(optim, schedule_name)(ours, **kwargs)
    reference = getattr(torch.optim.lr_scheduler, schedule_name)(theirs, **kwargs)
    for step in range(steps + 1):
        if step:
            theirs.step()  # torch warns when a schedule steps before its optimizer
            schedule.step()
            reference.step()
        np.testing.assert_allclose(
            settings(ours), torch_settings(theirs), rtol=0, atol=TOLERANCE, err_msg=f"step {step}"
        )
        assert schedule.get_last_lr() == pytest.approx(reference.get_last_lr(), abs=TOLERANCE)
        assert schedule.last_epoch == reference.last_epoch == step


@pytest.mark.parametrize(
    "kwargs",
    [{"step_size": 1}, {"step_size": 3, "gamma": 0.5}, {"step_size": 7, "gamma": 0.9}],
    ids=str,
)
def test_step_lr_matches_torch(kwargs):
    assert_same_sequence("StepLR", kwargs, steps=30)


@pytest.mark.parametrize(
    "kwargs",
    [{"T_max": 10}, {"T_max": 7, "eta_min": 0.01}, {"T_max": 1, "eta_min": 1e-3}, {"T_max": 25}],
    ids=str,
)
def test_cosine_annealing_lr_matches_torch_past_t_max(kwargs):
    assert_same_sequence("CosineAnnealingLR", kwargs, steps=60)  # several half periods


ONE_CYCLE_CASES = [
    pytest.param({"max_lr": 1.0, "total_steps": 100}, id="cos"),
    pytest.param({"max_lr": 0.5, "total_steps": 50, "anneal_strategy": "linear"}, id="linear"),
    pytest.param({"max_lr": 0.3, "total_steps": 60, "three_phase": True}, id="three-phase-cos"),
    pytest.param(
        dict(
            max_lr=0.3,
            epochs=5,
            steps_per_epoch=12,
            anneal_strategy="linear",
            three_phase=True,
            pct_start=0.25,
        ),
        id="epochs-three-phase-linear",
    ),
    pytest.param(
        dict(
            max_lr=2.0,
            total_steps=40,
            pct_start=0.5,
            base_momentum=0.8,
            max_momentum=0.9,
            div_factor=10.0,
            final_div_factor=100.0,
        ),
        id="custom-factors",
    ),
    pytest.param({"max_lr": 0.1, "total_steps": 30, "cycle_momentum": False}, id="no-momentum"),
]


@pytest.mark.parametrize("kwargs", ONE_CYCLE_CASES)
@pytest.mark.parametrize("optimizer_name", ["SGD", "Adam"])
def test_one_cycle_lr_matches_torch_and_raises_past_the_end(kwargs, optimizer_name):
    total = kwargs.get("total_steps") or kwargs["epochs"] * kwargs["steps_per_epoch"]
    assert_same_sequence("OneCycleLR", kwargs, steps=total, optimizer_name=optimizer_name)

    ours, theirs = make_optimizers(optimizer_name)
    schedule = optim.OneCycleLR(ours, **kwargs)
    reference = torch.optim.lr_scheduler.OneCycleLR(theirs, **kwargs)
    for _ in range(total):  # torch allows total_steps steps after construction …
        theirs.step()
        schedule.step()
        reference.step()
    with pytest.raises(ValueError, match=f"total steps is {total}"):  # … and no more
        schedule.step()
    with pytest.raises(ValueError, match=f"total steps is {total}"):
        reference.step()


def test_one_cycle_sets_initial_lr_and_momentum_on_construction():
    ours, _ = make_optimizers("SGD", lr=7.0, momentum=0.0)
    optim.OneCycleLR(ours, max_lr=0.5, total_steps=10, max_momentum=0.93)
    assert ours.lr == pytest.approx(0.5 / 25)
    assert ours.momentum == pytest.approx(0.93)
    assert ours.initial_lr == pytest.approx(0.5 / 25)
    adam, _ = make_optimizers("Adam", betas=(0.5, 0.99))
    optim.OneCycleLR(adam, max_lr=0.5, total_steps=10, div_factor=5.0)
    assert adam.lr == pytest.approx(0.1)
    assert adam.betas == pytest.approx((0.95, 0.99))


def test_step_and_cosine_keep_lr_and_record_initial_lr():
    ours, _ = make_optimizers("SGD", lr=0.3)
    schedule = optim.StepLR(ours, step_size=2)
    assert ours.lr == 0.3 and ours.initial_lr == 0.3
    assert schedule.get_last_lr() == [0.3] and schedule.base_lrs == [0.3]
    ours.lr = 0.2  # a second schedule keeps the first one's initial_lr (torch's setdefault)
    second = optim.CosineAnnealingLR(ours, T_max=5)
    assert second.base_lrs == [0.3] and ours.lr == 0.2


def test_chained_schedules_match_torch():
    ours, theirs = make_optimizers("SGD", lr=0.4)
    schedules = [optim.StepLR(ours, 4, gamma=0.5), optim.CosineAnnealingLR(ours, 9, 0.01)]
    references = [
        torch.optim.lr_scheduler.StepLR(theirs, 4, gamma=0.5),
        torch.optim.lr_scheduler.CosineAnnealingLR(theirs, 9, 0.01),
    ]
    for step in range(30):
        theirs.step()
        for schedule, reference in zip(schedules, references, strict=True):
            schedule.step()
            reference.step()
        assert ours.lr == pytest.approx(theirs.param_groups[0]["lr"], abs=TOLERANCE), step


def _through_npz(state_dict):
    buffer = io.BytesIO()
    np.savez(buffer, **state_dict)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


SCHEDULES = [
    pytest.param("SGD", "StepLR", {"step_size": 3, "gamma": 0.5}, id="StepLR"),
    pytest.param("SGD", "CosineAnnealingLR", {"T_max": 6, "eta_min": 0.01}, id="Cosine"),
    pytest.param("Adam", "OneCycleLR", {"max_lr": 0.1, "total_steps": 20}, id="OneCycle-Adam"),
    pytest.param(
        "SGD",
        "OneCycleLR",
        {"max_lr": 0.1, "total_steps": 20, "anneal_strategy": "linear", "three_phase": True},
        id="OneCycle-SGD-linear",
    ),
]


def _run(optimizer, schedule, steps):
    values = []
    for _ in range(steps):
        optimizer.step()
        schedule.step()
        values.append((*settings(optimizer), *schedule.get_last_lr()))
    return values


@pytest.mark.parametrize(("optimizer_name", "schedule_name", "kwargs"), SCHEDULES)
def test_state_dict_resumes_exactly(optimizer_name, schedule_name, kwargs):
    ours, _ = make_optimizers(optimizer_name)
    uninterrupted = _run(ours, getattr(optim, schedule_name)(ours, **kwargs), 20)

    ours, _ = make_optimizers(optimizer_name)
    schedule = getattr(optim, schedule_name)(ours, **kwargs)
    first_half = _run(ours, schedule, 10)
    saved_optimizer = _through_npz(ours.state_dict())
    saved_schedule = _through_npz(schedule.state_dict())

    ours, _ = make_optimizers(optimizer_name)
    schedule = getattr(optim, schedule_name)(ours, **kwargs)  # as torch: schedule, then load
    ours.load_state_dict(saved_optimizer)
    schedule.load_state_dict(saved_schedule)
    assert schedule.last_epoch == 10
    assert schedule.get_last_lr() == [first_half[-1][-1]]
    assert first_half + _run(ours, schedule, 10) == uninterrupted


def test_load_state_dict_rejects_mismatches():
    ours, _ = make_optimizers()
    schedule = optim.OneCycleLR(ours, max_lr=0.1, total_steps=20)
    state = schedule.state_dict()
    with pytest.raises(ValueError, match="unexpected keys \\['T_max'\\]"):
        schedule.load_state_dict({**state, "T_max": np.array(3)})
    with pytest.raises(ValueError, match="missing keys \\['last_epoch'\\]"):
        schedule.load_state_dict({k: v for k, v in state.items() if k != "last_epoch"})
    with pytest.raises(ValueError, match="'base_lrs' has shape"):
        schedule.load_state_dict({**state, "base_lrs": np.zeros(2)})
    with pytest.raises(ValueError, match="anneal_strategy"):
        schedule.load_state_dict({**state, "anneal_strategy": np.array(5)})


@pytest.mark.parametrize("optimizer_name", ["Adagrad", "Adadelta"])
def test_one_cycle_needs_momentum_or_beta1_like_torch(optimizer_name):
    ours, theirs = make_optimizers(optimizer_name)
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        optim.OneCycleLR(ours, max_lr=0.1, total_steps=10)
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        torch.optim.lr_scheduler.OneCycleLR(theirs, max_lr=0.1, total_steps=10)
    optim.OneCycleLR(ours, max_lr=0.1, total_steps=10, cycle_momentum=False)  # fine without


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"total_steps": 0}, "positive integer total_steps"),
        ({"total_steps": 10.0}, "positive integer total_steps"),
        ({"epochs": 3}, "either total_steps OR"),
        ({"epochs": 0, "steps_per_epoch": 5}, "positive integer epochs"),
        ({"epochs": 2, "steps_per_epoch": -1}, "positive integer steps_per_epoch"),
        ({"total_steps": 10, "pct_start": 1.5}, "pct_start"),
        ({"total_steps": 10, "pct_start": 0}, "pct_start"),
        ({"total_steps": 10, "anneal_strategy": "exp"}, "anneal_strategy"),
    ],
    ids=["zero", "float", "no-steps", "epochs", "steps_per_epoch", "pct", "pct-int", "anneal"],
)
def test_one_cycle_bad_arguments_raise_like_torch(kwargs, message):
    ours, theirs = make_optimizers()
    with pytest.raises(ValueError, match=message):
        optim.OneCycleLR(ours, max_lr=0.1, **kwargs)
    with pytest.raises(ValueError):
        torch.optim.lr_scheduler.OneCycleLR(theirs, max_lr=0.1, **kwargs)


def test_other_bad_arguments():
    ours, theirs = make_optimizers()
    with pytest.raises(ValueError, match="StepLR: step_size must be > 0"):
        optim.StepLR(ours, step_size=0)
    with pytest.raises(ValueError, match="CosineAnnealingLR: T_max must be > 0"):
        optim.CosineAnnealingLR(ours, T_max=0)
    for schedule in (optim.StepLR, optim.CosineAnnealingLR, optim.OneCycleLR):
        with pytest.raises(TypeError, match="expected a convnp Optimizer, got SGD"):
            schedule(theirs, 10)


def test_get_last_lr_is_a_fresh_one_element_list_of_float():
    ours, _ = make_optimizers()
    schedule = optim.CosineAnnealingLR(ours, T_max=4)
    schedule.step()
    last = schedule.get_last_lr()
    assert len(last) == 1 and isinstance(last[0], float) and last[0] == ours.lr
    last.append(1.0)
    assert len(schedule.get_last_lr()) == 1


def test_one_cycle_is_importable_from_lr_scheduler_module():
    from convnp.optim.lr_scheduler import OneCycleLR

    assert OneCycleLR is optim.OneCycleLR
