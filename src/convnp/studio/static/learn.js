// The learn view: training runs in the server; this polls GET /api/train, draws the loss and
// accuracy curves and the first layer's kernels and gradients, and sends start / pause / step.
"use strict";

(function (S) {
  const L = (S.Learn = {});
  let polling = null, lastStep = -1;

  L.init = function () {
    document.getElementById("train-start").addEventListener("click", () => L.send("start"));
    document.getElementById("train-pause").addEventListener("click", () => L.send("pause"));
    document.getElementById("train-step").addEventListener("click", () => L.send("step"));
    document.getElementById("lr").addEventListener("change", () => L.send(null));
    document.getElementById("batch-size").addEventListener("change", () => L.send(null));
    return L.poll();
  };

  function settings(action) {
    const body = {};
    if (action) body.action = action;
    const lr = Number(document.getElementById("lr").value);
    const batch = Number(document.getElementById("batch-size").value);
    if (Number.isFinite(lr) && lr > 0) body.lr = lr;
    if (Number.isInteger(batch) && batch >= 1) body.batch_size = batch;
    return body;
  }

  L.send = function (action) {
    return S.App.api("/api/train", settings(action)).then(L.update).catch(S.App.report);
  };

  L.poll = function () {
    return S.App.api("/api/train").then(L.update).catch(S.App.report);
  };

  L.update = function (state) {
    const status = document.getElementById("train-status");
    status.dataset.running = String(state.running);
    status.dataset.step = String(state.step);
    const last = state.loss.length ? state.loss[state.loss.length - 1].toFixed(3) : "–";
    const val = state.val_accuracy.length ? (100 * state.val_accuracy[state.val_accuracy.length - 1])
      .toFixed(1) + "%" : "–";
    status.textContent = state.optimizer + " · " + (state.running ? "training: " : "paused: ") + "step " + state.step
      + ", batch loss " + last + ", test accuracy " + val;
    if (state.error) S.App.report(new Error(state.error));
    if (document.activeElement !== document.getElementById("lr")) {
      document.getElementById("lr").value = state.lr;
    }
    if (document.activeElement !== document.getElementById("batch-size")) {
      document.getElementById("batch-size").value = state.batch_size;
    }
    drawCurves(state);
    if (state.first_kernels && state.step !== lastStep) {
      replace("train-kernels", S.Explore.kernelGrid(state.first_kernels.weight, 32, 44));
      replace("train-grads", S.Explore.kernelGrid(state.first_kernels.gradient, 32, 44));
    }
    if (state.step !== lastStep) { lastStep = state.step; S.App.weightsChanged(state.step); }
    clearTimeout(polling);
    polling = setTimeout(L.poll, state.running ? 400 : 2000);
  };

  function replace(id, node) {
    const root = document.getElementById(id);
    root.textContent = "";
    root.appendChild(node);
  }

  // Loss (left axis, 0…max) per step, smoothed; batch and test accuracy (right axis, 0…1).
  function drawCurves(state) {
    const canvas = document.getElementById("curves"), ctx = canvas.getContext("2d");
    const w = canvas.width, h = canvas.height, pad = 28, top = 40;
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, h);
    ctx.strokeStyle = "#ccc"; ctx.strokeRect(pad, top, w - 2 * pad, h - pad - top);
    const first = state.curve_start, steps = Math.max(state.step, first + 1);
    const x = (step) => pad + (w - 2 * pad) * (step - first) / Math.max(1, steps - first);
    const maxLoss = Math.max(1e-9, ...state.loss.slice(0, 5000), 0.1);
    const yLoss = (v) => h - pad - (h - pad - top) * v / maxLoss;
    const yAcc = (v) => h - pad - (h - pad - top) * v;
    line(ctx, smooth(state.loss).map((v, k) => [x(first + k), yLoss(v)]), "#b2182b");
    line(ctx, smooth(state.accuracy).map((v, k) => [x(first + k), yAcc(v)]), "#92c5de");
    const val = state.val_steps.map((s, k) => [s, state.val_accuracy[k]]).filter((p) => p[0] >= first);
    line(ctx, val.map((p) => [x(p[0]), yAcc(p[1])]), "#2166ac");
    ctx.fillStyle = "#333"; ctx.font = "11px sans-serif";
    ctx.fillText("loss (red, 0…" + maxLoss.toFixed(2) + "), smoothed", pad, 14);
    ctx.fillText("accuracy 0…1: batch (light blue, smoothed), test (blue)", pad, 30);
    ctx.fillText("step " + first, pad, h - 10);
    ctx.fillText("step " + state.step, w - pad - 50, h - 10);
  }

  function smooth(values) {
    const out = [];
    let average = null;
    values.forEach(function (v) { average = average === null ? v : 0.9 * average + 0.1 * v; out.push(average); });
    return out;
  }

  function line(ctx, points, colour) {
    if (!points.length) return;
    ctx.strokeStyle = colour; ctx.lineWidth = 1.5; ctx.beginPath();
    points.forEach((p, k) => (k ? ctx.lineTo(p[0], p[1]) : ctx.moveTo(p[0], p[1])));
    ctx.stroke();
  }
})(window.Studio);
