// The input: a canvas to draw on (mouse, pen or touch: pointer events), image upload, and the
// conversion between the canvas and the model's input (C, H, W) in [0, 1] by block averaging.
"use strict";

(function (S) {
  const D = (S.Draw = {});
  let canvas, ctx, shape, zoom, onChange, drawing = false, last = null, timer = null;

  // Set up `element` for inputs of `inputShape` [C, H, W]; `changed(final)` after each stroke part.
  D.init = function (element, inputShape, changed) {
    canvas = element; shape = inputShape; onChange = changed;
    zoom = Math.max(1, Math.floor(280 / Math.max(shape[1], shape[2])));
    canvas.width = shape[2] * zoom; canvas.height = shape[1] * zoom;
    ctx = canvas.getContext("2d", { willReadFrequently: true });
    D.clear();
    canvas.addEventListener("pointerdown", start);
    canvas.addEventListener("pointermove", move);
    ["pointerup", "pointercancel", "pointerleave"].forEach((name) => canvas.addEventListener(name, end));
  };

  D.clear = function () {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
  };

  function point(event) {
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * canvas.width / box.width,
            (event.clientY - box.top) * canvas.height / box.height];
  }

  function start(event) {
    event.preventDefault();
    canvas.setPointerCapture && event.pointerId !== undefined && safeCapture(event.pointerId);
    drawing = true; last = point(event);
    stroke(last, last);
  }

  function safeCapture(id) { try { canvas.setPointerCapture(id); } catch (e) { /* synthetic */ } }

  function move(event) {
    if (!drawing) return;
    event.preventDefault();
    const here = point(event);
    stroke(last, here); last = here;
    if (!timer) timer = setTimeout(function () { timer = null; onChange(false); }, 120);
  }

  function end() {
    if (!drawing) return;
    drawing = false;
    D.show(D.centre(D.image()));  // as MNIST's digits: centre of mass in the middle
    onChange(true);
  }

  // Shift an image (C, H, W) by whole pixels so that its centre of mass is in the middle.
  D.centre = function (image) {
    const height = image[0].length, width = image[0][0].length;
    let mass = 0, rows = 0, cols = 0;
    image.forEach((plane) => plane.forEach((row, i) => row.forEach(function (v, j) {
      mass += v; rows += v * i; cols += v * j;
    })));
    if (mass === 0) return image;
    const down = Math.round((height - 1) / 2 - rows / mass), right = Math.round((width - 1) / 2 - cols / mass);
    return image.map((plane) => plane.map((row, i) => row.map(function (v, j) {
      const r = i - down, c = j - right;
      return r >= 0 && r < height && c >= 0 && c < width ? plane[r][c] : 0;
    })));
  };

  function stroke(from, to) {
    ctx.strokeStyle = "#fff"; ctx.lineCap = "round"; ctx.lineJoin = "round";
    ctx.lineWidth = 2.2 * zoom;
    ctx.beginPath(); ctx.moveTo(from[0], from[1]); ctx.lineTo(to[0], to[1]); ctx.stroke();
  }

  // The canvas as the model's input: nested (C, H, W) lists in [0, 1].
  D.image = function () {
    const [channels, height, width] = shape;
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    const image = [];
    for (let c = 0; c < channels; c++) {
      const plane = [];
      for (let i = 0; i < height; i++) {
        const row = [];
        for (let j = 0; j < width; j++) row.push(block(data, c % 3, i, j));
        plane.push(row);
      }
      image.push(plane);
    }
    return image;
  };

  function block(data, channel, i, j) {
    let sum = 0;
    for (let u = 0; u < zoom; u++) {
      for (let v = 0; v < zoom; v++) sum += data[4 * ((i * zoom + u) * canvas.width + j * zoom + v) + channel];
    }
    return sum / (255 * zoom * zoom);
  }

  // Show an input (C, H, W) on the canvas, one block per value (gray, or RGB for 3 channels).
  D.show = function (image) {
    const out = ctx.createImageData(canvas.width, canvas.height);
    for (let y = 0; y < canvas.height; y++) {
      for (let x = 0; x < canvas.width; x++) {
        const i = Math.floor(y / zoom), j = Math.floor(x / zoom), k = 4 * (y * canvas.width + x);
        for (let c = 0; c < 3; c++) {
          out.data[k + c] = Math.round(255 * image[image.length === 3 ? c : 0][i][j]);
        }
        out.data[k + 3] = 255;
      }
    }
    ctx.putImageData(out, 0, 0);
  };

  // Read an image file, fit it on the canvas; dark-on-light gray images are inverted (MNIST style).
  D.upload = function (file, loaded) {
    const url = URL.createObjectURL(file), picture = new Image();
    picture.onload = function () {
      D.clear();
      const ratio = Math.min(canvas.width / picture.width, canvas.height / picture.height);
      const w = picture.width * ratio, h = picture.height * ratio;
      ctx.fillStyle = "#fff";  // transparent pixels composite on white, as a page shows them
      ctx.fillRect((canvas.width - w) / 2, (canvas.height - h) / 2, w, h);
      ctx.drawImage(picture, (canvas.width - w) / 2, (canvas.height - h) / 2, w, h);
      URL.revokeObjectURL(url);
      let image = D.image();
      const mean = image.flat(2).reduce((a, b) => a + b, 0) / image.flat(2).length;
      const inverted = shape[0] === 1 && mean > 0.5;
      if (inverted) { image = image.map((p) => p.map((r) => r.map((v) => 1 - v))); D.show(image); }
      loaded(image, inverted);
    };
    picture.onerror = function () { URL.revokeObjectURL(url); loaded(null, false); };
    picture.src = url;
  };

  // Compact text for a 1-channel image: one hex digit (16 gray levels) per pixel, for the URL.
  D.encode = function (image) {
    if (image.length !== 1) return null;
    return image[0].map((r) => r.map((v) => Math.round(v * 15).toString(16)).join("")).join("");
  };

  D.decode = function (text) {
    const [channels, height, width] = shape;
    if (channels !== 1 || !/^[0-9a-f]+$/.test(text) || text.length !== height * width) return null;
    const rows = [];
    for (let i = 0; i < height; i++) {
      rows.push(Array.from(text.slice(i * width, (i + 1) * width), (ch) => parseInt(ch, 16) / 15));
    }
    return [rows];
  };
})(window.Studio);
