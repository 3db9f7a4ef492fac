"""Advice consistent with the run: suggestions read the params and the lr series, never advise what is set."""

import numpy as np

from posthoc.detectors.base import activation_advice, lr_jump, momentum_advice, unusual_param_advice, warmup_steps
from posthoc.model import Run, Series
from posthoc.report import common_params, render_run_report


def _finding(diagnosis, pattern):
    return next(f for f in diagnosis.findings if f.pattern == pattern)


def _run(params: dict[str, str], lr: np.ndarray | None = None) -> Run:
    metrics = {}
    if lr is not None:
        steps = np.arange(len(lr))
        metrics["lr"] = Series.from_points("lr", steps, lr, steps)
    return Run("r", "r", "0", "FINISHED", None, None, params, {}, metrics)


def test_warmup_over_the_whole_run_is_not_advised_again(trust):
    advice = " | ".join(_finding(trust["warmup-blowup"], "exploding_gradients").suggestions)
    assert "add warmup" not in advice
    assert "lr=2: try 0.2–0.6 (warmup already spans the whole run, 300 of 300 steps" in advice


def test_an_lr_jump_on_the_lr_chart_is_cited_as_the_cause(trust):
    f = _finding(trust["lr-jump"], "divergence")
    assert f.suggestions[0].startswith("the logged lr jumped 60x at step 150 (0.002 → 0.12)")
    assert not any(s.startswith("lr=0.002: try") for s in f.suggestions)  # lowering the base lr is not the fix


def test_relu_is_not_advised_to_a_relu_run_and_its_dead_bias_is_cited(trust):
    advice = _finding(trust["dead-relu"], "vanishing_gradients").suggestions
    assert not any("use ReLU-family" in s for s in advice)
    assert advice[0].startswith("bias_init=-6.0 with activation=relu: negative biases switch ReLUs off")


def test_momentum_at_its_usual_value_is_not_advised(trust):
    advice = _finding(trust["swing"], "oscillation").suggestions
    assert trust["swing"].run.params["momentum"] == "0.9"
    assert not any("momentum" in s for s in advice)
    assert momentum_advice(_run({"momentum": "0.99"})) == "momentum=0.99: try 0.9, or use Adam"


def test_unusual_param_is_cited_first_in_the_report(trust):
    runs = [d.run for d in trust.values()]
    usual = common_params(runs)
    assert usual["bias_init"] == "0.0"
    html = render_run_report(trust["dead-relu"], usual)
    primary = html[html.index('id="primary"'):html.index('id="charts"')]
    first = primary[primary.index("<li>") + 4:primary.index("</li>")]
    assert first.startswith("bias_init=-6.0 (usually 0.0)")
    assert "can cause vanishing gradients" in first
    # a run whose params match the experiment gets no such line
    assert "(usually" not in render_run_report(trust["plain"], usual)


def test_unusual_param_advice_ranks_causes_and_ignores_unrelated_params():
    params = {"init_scale": "0.2", "activation": "tanh", "seed": "3", "log_every": "5"}
    usual = {"init_scale": "1.0", "activation": "relu", "seed": "0", "log_every": "1"}
    advice = unusual_param_advice("plateau", params, usual)
    assert advice.startswith("init_scale=0.2 (usually 1.0), activation=tanh (usually relu): differ")
    assert "seed" not in advice and "log_every" not in advice
    assert unusual_param_advice("plateau", params, params) is None


def test_lr_jump_ignores_warmup_ramps():
    ramp = np.linspace(0.001, 0.1, 100)  # linear warmup, the first step doubles it and more
    assert lr_jump(_run({}, ramp).metrics["lr"]) is None
    step = np.r_[np.full(50, 0.002), np.full(50, 0.12)]
    assert lr_jump(_run({}, step).metrics["lr"]) == (50, 0.002, 0.12)
    assert lr_jump(_run({}, step).metrics["lr"], until_step=40) is None  # only jumps before the finding count
    warm = _run({}, np.r_[ramp, np.full(100, 0.1)])
    assert warmup_steps(warm, warm.metrics["lr"]) == 94  # the logged lr reaches 95% of its peak at step 94
    assert warmup_steps(_run({"schedule": "warmup_cosine"}), None) == 0
    assert warmup_steps(_run({"warmup_steps": "0"}), None) is None


def test_activation_advice_reads_the_activation():
    assert activation_advice(_run({"activation": "sigmoid"})).startswith("activation=sigmoid: use ReLU-family")
    assert "use ReLU-family" not in activation_advice(_run({"activation": "gelu"}))
