// The explore view: probabilities, input and saliency, and one element per top-level layer
// (data-layer="i") painted with its activation and gradient maps; conv kernels and their dW.
"use strict";

(function (S) {
  const E = (S.Explore = {});
  S.views = {};  // layer index (-1: the input) → the row of activation maps, for highlights

  function mapSize(channels) {
    return channels <= 1 ? 112 : channels <= 8 ? 72 : channels <= 16 ? 52 : 36;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // One section per top-level layer, created once per model.
  E.build = function (model) {
    const root = document.getElementById("layers");
    root.textContent = "";
    model.layers.forEach(function (layer) {
      const section = el("section", "layer" + (layer.conv ? " conv" : ""));
      section.dataset.layer = layer.index;
      section.id = "layer-" + layer.index;
      const title = el("h4", "", layer.index + ". " + layer.name + " ");
      title.appendChild(el("span", "shape", "→ (" + layer.output_shape.join(", ") + ")"
        + (layer.conv ? "  click an output cell to see its sum" : "")));
      title.addEventListener("click", () => S.App.selectLayer(layer.index));
      section.appendChild(title);
      section.appendChild(el("div", "row-label", "activation"));
      section.appendChild(el("div", "activations"));
      section.appendChild(el("div", "row-label", "gradient d loss / d activation"));
      section.appendChild(el("div", "gradients"));
      if (layer.inner) {
        const details = el("details", "inner");
        details.appendChild(el("summary", "", "inside the residual block: " + layer.inner.join(" → ")));
        section.appendChild(details);
      }
      root.appendChild(section);
    });
    const select = document.getElementById("target");
    model.classes.forEach(function (name, k) {
      const option = el("option", "", k + ": " + name);
      option.value = k;
      select.appendChild(option);
    });
  };

  E.render = function (model, result, image) {
    renderProbabilities(model, result);
    document.getElementById("loss-line").textContent = "cross-entropy for class " + result.target
      + " (" + model.classes[result.target] + "): " + result.loss.toFixed(4);
    const input = document.getElementById("input-view");
    input.textContent = "";
    const imageRow = S.mapRow(image, 112, "input channel", { limit: 1, signed: false });
    if (image.length === 3) input.appendChild(S.rgbElement(image, 112));
    input.appendChild(imageRow);
    S.views[-1] = imageRow;
    const saliency = document.getElementById("saliency-view");
    saliency.textContent = "";
    saliency.appendChild(S.mapRow(result.input_gradient, 112, "d loss / d input channel"));
    result.layers.forEach((entry) => renderLayer(model.layers[entry.index], entry, result));
    renderKernels(result.kernels);
  };

  function renderProbabilities(model, result) {
    const root = document.getElementById("probabilities");
    root.textContent = "";
    result.probabilities.forEach(function (p, k) {
      const row = el("div", "prob" + (k === result.predicted ? " predicted" : "")
        + (k === result.target ? " target" : ""));
      row.dataset.class = k;
      row.dataset.probability = p;
      row.title = "click: gradients for class " + k;
      const name = model.classes[k] === String(k) ? String(k) : k + " " + model.classes[k];
      row.appendChild(el("span", "name", name));
      const bar = el("span", "bar");
      bar.style.width = Math.max(1, Math.round(p * 150)) + "px";
      row.appendChild(bar);
      row.appendChild(el("span", "value", (100 * p).toFixed(1) + "%"));
      row.addEventListener("click", () => S.App.setTarget(k));
      root.appendChild(row);
    });
  }

  function renderLayer(layer, entry, result) {
    const section = document.querySelector('[data-layer="' + entry.index + '"]');
    const channels = Array.isArray(entry.activation[0]) ? entry.activation.length : 1;
    const size = mapSize(channels);
    const activations = section.querySelector(".activations");
    activations.textContent = "";
    const row = S.mapRow(entry.activation, size, "channel");
    activations.appendChild(row);
    S.views[entry.index] = row;
    if (layer.conv) {
      row.querySelectorAll("canvas").forEach(function (canvas, c) {
        canvas.addEventListener("click", function (event) {
          const zoom = canvas.getBoundingClientRect().width / canvas.width;
          const box = canvas.getBoundingClientRect();
          S.Window.show(entry.index, c, Math.floor((event.clientY - box.top) / zoom),
                        Math.floor((event.clientX - box.left) / zoom));
        });
      });
    }
    const gradients = section.querySelector(".gradients");
    gradients.textContent = "";
    gradients.appendChild(S.mapRow(entry.gradient, size, "gradient channel", signedScale(entry.gradient)));
    const details = section.querySelector("details");
    if (details) renderInner(details, result.inner[String(entry.index)] || [], size);
    section.dataset.painted = String(result.step);
  }

  function signedScale(values) {
    return { limit: S.range(values).limit, signed: true };
  }

  function renderInner(details, inner, size) {
    details.querySelectorAll("div").forEach((node) => node.remove());
    inner.forEach(function (item) {
      const block = el("div", "inner-layer");
      block.appendChild(el("div", "row-label", item.name));
      block.appendChild(S.mapRow(item.activation, size, "channel"));
      details.appendChild(block);
    });
  }

  function renderKernels(kernels) {
    const root = document.getElementById("kernels");
    root.textContent = "";
    kernels.forEach(function (bank) {
      const block = el("div", "bank");
      const shape = [bank.weight.length, bank.weight[0].length, bank.weight[0][0].length,
                     bank.weight[0][0][0].length];
      block.appendChild(el("div", "row-label", bank.name + " (" + shape.join("×")
        + "): weights, then dW for this image (per output channel, its input channels in a row)"));
      block.appendChild(E.kernelGrid(bank.weight, 96));
      block.appendChild(E.kernelGrid(bank.gradient, 96));
      root.appendChild(block);
    });
  }

  // Weights (O, C, KH, KW) as O groups of C small maps, one symmetric scale for the bank.
  E.kernelGrid = function (weights, cap, size) {
    const scale = signedScale(weights);
    const row = el("div", "maps");
    const shown = weights.slice(0, cap);
    shown.forEach(function (filter, o) {
      filter.slice(0, 8).forEach(function (plane, c) {
        row.appendChild(S.mapElement(plane, scale, size || 28, "filter " + o + ", input channel " + c));
      });
    });
    return row;
  };
})(window.Studio);
