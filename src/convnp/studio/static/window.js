// Click a conv output cell: its receptive window lights up in the layer's input, and the sum
// y[o, i, j] = Σ_c Σ_u Σ_v x[c, i·s + u − p, j·s + v − p] · W[o, c, u, v] + b[o] is written
// out with the numbers, next to the value the layer computed.
"use strict";

(function (S) {
  const Wn = (S.Window = {});

  function fmt(v) { return v < 0 ? "(−" + Math.abs(v).toFixed(3) + ")" : v.toFixed(3); }

  Wn.clear = function () {
    document.querySelectorAll(".map .hl, .map .cell").forEach((node) => node.remove());
    const box = document.getElementById("sum");
    box.hidden = true;
    box.textContent = "";
  };

  function mark(row, channel, top, left, height, width, className) {
    const maps = row ? row.querySelectorAll(".map") : [];
    const target = channel === null ? Array.from(maps) : [maps[channel]];
    target.forEach(function (map) {
      if (!map) return;
      const zoom = Number(map.querySelector("canvas").dataset.zoom), box = document.createElement("div");
      box.className = className;
      box.style.left = 1 + left * zoom + "px"; box.style.top = 1 + top * zoom + "px";
      box.style.width = width * zoom + "px"; box.style.height = height * zoom + "px";
      map.appendChild(box);
    });
  }

  // Highlight the window of output (o, i, j) of conv layer `index` and write its sum.
  Wn.show = function (index, o, i, j) {
    const state = S.App.state, layer = state.model.layers[index], result = state.result;
    const input = index === 0 ? state.image : result.layers[index - 1].activation;
    const bank = result.kernels.find((k) => k.name === index + ".weight");
    if (!layer.conv || !bank || !Array.isArray(input[0])) return;
    const [kh, kw] = layer.conv.kernel_size, [sh, sw] = layer.conv.stride, [ph, pw] = layer.conv.padding;
    const top = i * sh - ph, left = j * sw - pw, weights = bank.weight[o];
    const bias = bank.bias ? bank.bias[o] : 0;
    Wn.clear();
    state.clicked = [index, o, i, j];  // kept across re-renders (new image keeps it off)
    mark(S.views[index === 0 ? -1 : index - 1], null, top, left, kh, kw, "hl");
    mark(S.views[index], o, i, j, 1, 1, "cell");
    const lines = [], partials = [];
    weights.forEach(function (plane, c) {
      const terms = [];
      let partial = 0;
      for (let u = 0; u < kh; u++) {
        for (let v = 0; v < kw; v++) {
          const r = top + u, col = left + v;
          const inside = r >= 0 && r < input[c].length && col >= 0 && col < input[c][0].length;
          const x = inside ? input[c][r][col] : 0;
          partial += x * plane[u][v];
          terms.push(fmt(x) + "×" + fmt(plane[u][v]));
        }
      }
      partials.push(partial);
      lines.push("channel " + c + ": " + terms.join(" + ") + " = " + fmt(partial));
    });
    const total = partials.reduce((a, b) => a + b, 0) + bias;
    const actual = result.layers[index].activation[o][i][j];
    const box = document.getElementById("sum");
    box.textContent = "layer " + index + ", output channel " + o + ", position (" + i + ", " + j
      + "): window rows " + top + "…" + (top + kh - 1) + ", cols " + left + "…" + (left + kw - 1)
      + " of the layer's input (gold box; outside the image: zero padding)\n" + lines.join("\n")
      + "\ny = " + partials.map(fmt).join(" + ") + " + bias " + fmt(bias) + " = " + fmt(total)
      + "   (the layer computed " + fmt(actual) + ")";
    box.dataset.computed = total;
    box.dataset.actual = actual;
    box.hidden = false;
  };
})(window.Studio);
