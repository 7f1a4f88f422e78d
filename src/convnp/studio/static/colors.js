// Colour convention (shared with `convnp explain`): never-negative maps are gray, 0 black and the
// largest value white; signed maps are blue (negative) - white (zero) - red (positive).
"use strict";
window.Studio = window.Studio || {};

(function (S) {
  const BLUE = [33, 102, 172], RED = [178, 24, 43];

  // RGB for value v on a scale: signed → [-limit, limit] diverging, else [0, limit] gray.
  S.colour = function (v, limit, signed) {
    if (!Number.isFinite(v)) return [255, 255, 255];
    if (!signed) {
      const g = Math.round(255 * Math.max(0, Math.min(1, v / limit)));
      return [g, g, g];
    }
    const t = Math.max(-1, Math.min(1, v / limit));
    const end = t < 0 ? BLUE : RED, a = Math.abs(t);
    return end.map((c) => Math.round(255 + (c - 255) * a));
  };

  // Smallest and largest finite value and the largest magnitude of a nested array.
  S.range = function (nested) {
    let lo = Infinity, hi = -Infinity;
    (function walk(a) {
      if (Array.isArray(a)) { a.forEach(walk); return; }
      if (Number.isFinite(a)) { if (a < lo) lo = a; if (a > hi) hi = a; }
    })(nested);
    if (lo === Infinity) { lo = 0; hi = 0; }
    const limit = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
    return { lo: lo, hi: hi, limit: limit, signed: lo < 0 };
  };

  // Paint rows (H, W) of numbers into `canvas` at one pixel per value.
  S.paint = function (canvas, rows, limit, signed) {
    const h = rows.length, w = rows[0].length;
    canvas.width = w; canvas.height = h;
    const ctx = canvas.getContext("2d");
    const image = ctx.createImageData(w, h);
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        const rgb = S.colour(rows[i][j], limit, signed), k = 4 * (i * w + j);
        image.data[k] = rgb[0]; image.data[k + 1] = rgb[1]; image.data[k + 2] = rgb[2];
        image.data[k + 3] = 255;
      }
    }
    ctx.putImageData(image, 0, 0);
  };

  // A map element: a canvas scaled to about `size` CSS pixels on its longer side.
  S.mapElement = function (rows, scale, size, title) {
    const div = document.createElement("div");
    div.className = "map";
    const canvas = document.createElement("canvas");
    S.paint(canvas, rows, scale.limit, scale.signed);
    const zoom = Math.max(1, Math.floor(size / Math.max(rows.length, rows[0].length)));
    canvas.style.width = rows[0].length * zoom + "px";
    canvas.style.height = rows.length * zoom + "px";
    canvas.dataset.zoom = zoom;
    if (title) canvas.title = title;
    div.appendChild(canvas);
    return div;
  };

  // A colour image (3, H, W) in [0, 1] as one RGB map element.
  S.rgbElement = function (image, size) {
    const div = S.mapElement(image[0], { limit: 1, signed: false }, size, "input (RGB)");
    const canvas = div.querySelector("canvas"), ctx = canvas.getContext("2d");
    const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height);
    image[0].forEach((row, i) => row.forEach(function (_, j) {
      for (let c = 0; c < 3; c++) pixels.data[4 * (i * canvas.width + j) + c] = Math.round(255 * image[c][i][j]);
    }));
    ctx.putImageData(pixels, 0, 0);
    return div;
  };

  // Values of any shape as a list of 2-D maps: (C, H, W) → C maps; (K,) → one strip of rows.
  S.asMaps = function (values) {
    if (!Array.isArray(values[0])) {
      const width = Math.min(values.length, 32), rows = [];
      for (let i = 0; i < values.length; i += width) {
        const row = values.slice(i, i + width);
        while (row.length < width) row.push(NaN);
        rows.push(row);
      }
      return [rows];
    }
    if (!Array.isArray(values[0][0])) return [values];
    return values;
  };

  // A row of maps for `values` with one shared colour scale; returns the container.
  S.mapRow = function (values, size, label, scale) {
    scale = scale || S.range(values);
    const row = document.createElement("div");
    row.className = "maps";
    S.asMaps(values).forEach(function (rows, c) {
      row.appendChild(S.mapElement(rows, scale, size, label + " " + c));
    });
    return row;
  };
})(window.Studio);
