// The page's state (model, image, target class, selected layer) kept in the URL hash so a link
// shares a lesson, e.g. #model=seed002&image=test:7&target=3&layer=0; and the explain requests.
"use strict";

(function (S) {
  const A = (S.App = {});
  const state = (A.state = { model: null, image: null, source: null, target: null, layer: null,
                             result: null, clicked: null });
  let inFlight = false, again = false;

  A.api = function (path, body) {
    const options = body === undefined ? {} : {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
    return fetch(path, options).then(function (response) {
      return response.json().then(function (value) {
        if (!response.ok) throw new Error(value.error || response.statusText);
        return value;
      });
    });
  };

  A.report = function (error) {
    const notice = document.getElementById("notice");
    notice.textContent = String(error.message || error);
    notice.hidden = false;
  };

  A.explain = function () {
    if (!state.image) return Promise.resolve();
    if (inFlight) { again = true; return Promise.resolve(); }
    inFlight = true;
    return A.api("/api/explain", { image: state.image, target: state.target }).then(function (result) {
      state.result = result;
      S.Explore.render(state.model, result, state.image);
      if (state.clicked) S.Window.show.apply(null, state.clicked);
      markSelected();
    }).catch(A.report).finally(function () {
      inFlight = false;
      if (again) { again = false; A.explain(); }
    });
  };

  A.setImage = function (image, source) {
    state.image = image; state.source = source; state.clicked = null;
    if (source === "drawn") document.getElementById("sample-label").textContent = "your drawing";
    S.Window.clear();
    writeHash();
    return A.explain();
  };

  A.setTarget = function (k) {
    state.target = k === null || k === "" ? null : Number(k);
    document.getElementById("target").value = state.target === null ? "" : String(state.target);
    writeHash();
    return A.explain();
  };

  A.selectLayer = function (index) {
    state.layer = state.layer === index ? null : index;
    markSelected();
    writeHash();
  };

  A.weightsChanged = function (step) {
    if (state.result && state.result.step !== step) A.explain();
  };

  function markSelected() {
    document.querySelectorAll(".layer").forEach(function (section) {
      section.classList.toggle("selected", Number(section.dataset.layer) === state.layer);
    });
  }

  A.loadSample = function (index) {
    return A.api("/api/sample?index=" + index).then(function (sample) {
      document.getElementById("sample-label").textContent = "test image " + sample.index
        + ", label " + sample.label + " (" + state.model.classes[sample.label] + ")";
      S.Draw.show(sample.image);
      state.sampleIndex = sample.index;
      return A.setImage(sample.image, "test:" + sample.index);
    });
  };

  function writeHash() {
    const parts = ["model=" + encodeURIComponent(state.model.model)];
    let source = state.source;
    if (source === "drawn") source = "px:" + (S.Draw.encode(state.image) || "");
    if (source && source !== "px:") parts.push("image=" + source);
    if (state.target !== null) parts.push("target=" + state.target);
    if (state.layer !== null) parts.push("layer=" + state.layer);
    history.replaceState(null, "", "#" + parts.join("&"));
  }

  function readHash() {
    const values = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (part) {
      const at = part.indexOf("=");
      if (at > 0) values[part.slice(0, at)] = decodeURIComponent(part.slice(at + 1));
    });
    return values;
  }

  function wire() {
    document.getElementById("clear").addEventListener("click", function () {
      S.Draw.clear();
      A.setImage(S.Draw.image(), "drawn");
    });
    document.getElementById("target").addEventListener("change", (e) => A.setTarget(e.target.value));
    document.getElementById("sample").addEventListener("click", () =>
      A.loadSample(Math.floor(Math.random() * 2000)).catch(A.report));
    document.getElementById("prev-sample").addEventListener("click", () =>
      A.loadSample((state.sampleIndex || 0) - 1 + 100000).catch(A.report));
    document.getElementById("next-sample").addEventListener("click", () =>
      A.loadSample((state.sampleIndex || 0) + 1).catch(A.report));
    document.getElementById("upload").addEventListener("change", function (event) {
      const file = event.target.files[0];
      if (!file) return;
      S.Draw.upload(file, function (image, inverted) {
        if (!image) { A.report(new Error("cannot read " + file.name + " as an image")); return; }
        document.getElementById("sample-label").textContent = file.name + (inverted ? " (inverted)" : "");
        A.setImage(image, "upload");
      });
    });
  }

  function applyHash(model) {
    const hash = readHash();
    if (hash.model && hash.model !== model.model) {
      A.report(new Error("this link was made for model " + hash.model + "; the studio serves "
        + model.model + ": showing it instead"));
    }
    const known = /^\d+$/.test(hash.target || "") && Number(hash.target) < model.classes.length;
    state.target = known ? Number(hash.target) : null;
    document.getElementById("target").value = known ? hash.target : "";
    state.layer = /^\d+$/.test(hash.layer || "") ? Number(hash.layer) : null;
    markSelected();
    const image = hash.image || "test:0";
    if (image.startsWith("px:")) {
      const decoded = S.Draw.decode(image.slice(3));
      if (decoded) { S.Draw.show(decoded); return A.setImage(decoded, "drawn"); }
    }
    const index = /^test:\d+$/.test(image) ? Number(image.slice(5)) : 0;
    return A.loadSample(index);
  }

  function scrollToLayer() {
    const section = state.layer === null ? null : document.getElementById("layer-" + state.layer);
    if (section) section.scrollIntoView();
  }

  A.start = function () {
    return A.api("/api/model").then(function (model) {
      state.model = model;
      document.getElementById("model-name").textContent = model.model + " · input ("
        + model.input_shape.join(", ") + ") · " + model.classes.length + " classes";
      S.Explore.build(model);
      S.Draw.init(document.getElementById("draw"), model.input_shape, function () {
        A.setImage(S.Draw.image(), "drawn");
      });
      wire();
      S.Learn.init();
      window.addEventListener("hashchange", () => applyHash(model).then(scrollToLayer).catch(A.report));
      return applyHash(model);
    }).then(scrollToLayer).catch(A.report);
  };

  document.addEventListener("DOMContentLoaded", A.start);
})(window.Studio);
