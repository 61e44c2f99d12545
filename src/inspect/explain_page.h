// The explainer page's own style and script (explain.cpp wraps them around the data): plain
// CSS and JavaScript, no libraries, nothing fetched. The script reads the JSON block #data,
// draws the sections, and on a click on a neuron recomputes it from the embedded inputs and
// weights, beside the value the network stored; for a segmentation model it draws the class maps
// and, on a click on a pixel, softmaxes that pixel's scores; for a detector it draws the boxes and
// the objectness heat map and, on a click on a cell, decodes that cell's scores into its box.
#pragma once

namespace convnet {

inline constexpr const char* kExplainStyle = R"CSS(
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #222; background: #fafafa; }
main { max-width: 820px; margin: 0 0 0 24px; padding-bottom: 80px; }
h1 { font-size: 22px; margin: 18px 0 4px; }
h2 { font-size: 18px; margin: 28px 0 6px; border-bottom: 1px solid #ddd; }
h3 { font-size: 14px; margin: 14px 0 4px; }
p.note, span.note { color: #666; font-size: 12px; }
table { border-collapse: collapse; font-size: 12px; }
td, th { border: 1px solid #ddd; padding: 2px 5px; text-align: right; }
th { background: #f0f0f0; }
td.text, th.text { text-align: left; }
code, pre { font-family: ui-monospace, monospace; font-size: 12px; }
canvas { image-rendering: pixelated; border: 1px solid #ccc; margin: 1px; cursor: crosshair; vertical-align: top; }
.maps { display: flex; flex-wrap: wrap; align-items: flex-start; }
.layer { margin: 10px 0; padding: 6px; background: #fff; border: 1px solid #e4e4e4; }
.filters canvas { cursor: default; }
.picker button { margin: 2px; padding: 2px; border: 2px solid #ccc; background: #fff; cursor: pointer; }
.picker button.chosen { border-color: #d33; }
.picker img { width: 56px; height: 56px; image-rendering: pixelated; display: block; }
.bar { display: inline-block; height: 10px; background: #d55; vertical-align: middle; }
tr.clickable { cursor: pointer; }
tr.clickable:hover { background: #fee; }
#arithmetic { position: fixed; top: 0; right: 0; width: 430px; max-height: 100vh; overflow: auto; background: #fff;
  border-left: 2px solid #d33; padding: 10px 14px; box-shadow: -4px 0 12px rgba(0,0,0,.12); font-size: 13px; }
#arithmetic table.grid td { width: 36px; font-size: 10px; padding: 1px 2px; }
#arithmetic td.pad { color: #aaa; background: #f4f4f4; }
#arithmetic td.best, #arithmetic tr.best td { background: #fdd; font-weight: bold; }
#arithmetic tr.truth td { box-shadow: inset 0 -2px 0 #393; }
.segmentation figure { display: inline-block; margin: 0 8px 6px 0; vertical-align: top; }
.segmentation figcaption { font-size: 12px; color: #444; }
.segmentation img { image-rendering: pixelated; border: 1px solid #ccc; margin: 1px; display: block; }
.detection figure { display: inline-block; margin: 0 8px 6px 0; vertical-align: top; }
.detection figcaption { font-size: 12px; color: #444; }
.stage { position: relative; border: 1px solid #ccc; }
.stage img, .stage canvas, .stage svg { position: absolute; left: 0; top: 0; margin: 0; border: 0; display: block; }
.stage img, .stage canvas { image-rendering: pixelated; }
.stage canvas[hidden] { display: none; }
.stage svg { cursor: crosshair; overflow: visible; }
.swatch { display: inline-block; width: 11px; height: 11px; border: 1px solid #999; vertical-align: middle; margin-right: 4px; }
#arithmetic .verdict { margin-top: 8px; padding: 4px 6px; background: #efe; }
#arithmetic .verdict.off { background: #fdd; }
#arithmetic button { float: right; }
svg text { font-size: 11px; fill: #444; }
)CSS";

inline constexpr const char* kExplainScript = R"JS(
'use strict';
// Errors anywhere on the page are counted for the self-test (and still reach the console).
const pageErrors = [];
(function () {
  const original = console.error;
  console.error = function (...parts) { pageErrors.push(parts.map(String).join(' ')); original.apply(console, parts); };
  window.addEventListener('error', (event) => pageErrors.push('error: ' + event.message));
  window.addEventListener('unhandledrejection', (event) => pageErrors.push('unhandled rejection: ' + event.reason));
  document.addEventListener('securitypolicyviolation', (event) => pageErrors.push('blocked: ' + event.blockedURI));
})();

const D = JSON.parse(document.getElementById('data').textContent);
const page = document.getElementById('page');
const panel = document.getElementById('arithmetic');
let current = 0;  // the image shown

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (key === 'class') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}
function fmt(value, digits) {
  if (!Number.isFinite(value)) return String(value);
  if (value === 0) return '0';
  const text = value.toPrecision(digits || 5);
  return text.includes('e') ? text : text.replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
}
function floats(base64) {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; ++i) bytes[i] = text.charCodeAt(i);
  return new Float32Array(bytes.buffer);
}
function product(dims) { return dims.reduce((a, b) => a * b, 1); }
function className(c) { return c < D.classes.length ? D.classes[c] : String(c); }
function volume(dims) { return dims.length === 3 ? dims[2] + '×' + dims[1] + '×' + dims[0] : String(dims[0]); }

// Decoded arrays, each decoded once.
const cache = new Map();
function cached(key, make) { if (!cache.has(key)) cache.set(key, make()); return cache.get(key); }
function activation(image, layer) {
  if (layer < 0) return cached('in' + image, () => floats(D.images[image].input));
  return cached(image + ':' + layer, () => floats(D.images[image].activations[layer]));
}
function parameter(layer, name) {
  const entry = D.layers[layer].parameters[name];
  if (!entry || !entry.data) return null;
  return cached('p' + layer + name, () => floats(entry.data));
}
function shapeOf(layer) { return layer < 0 ? D.input : D.layers[layer].output; }
function nameOf(layer) { return layer < 0 ? 'input' : D.layers[layer].name; }

// Blue for negative, white for zero, red for positive, scaled by the largest magnitude.
function paint(canvas, values, offset, height, width, scale) {
  const context = canvas.getContext('2d');
  const picture = context.createImageData(width, height);
  for (let i = 0; i < height * width; ++i) {
    const t = Math.max(-1, Math.min(1, values[offset + i] / scale));
    const r = t >= 0 ? 255 : Math.round(255 * (1 + t)), b = t <= 0 ? 255 : Math.round(255 * (1 - t));
    const g = Math.round(255 * (1 - Math.abs(t)));
    picture.data.set([r, g, b, 255], 4 * i);
  }
  context.putImageData(picture, 0, 0);
}
function largest(values) { let m = 0; for (const v of values) if (Number.isFinite(v)) m = Math.max(m, Math.abs(v)); return m || 1; }

// ---- the header and the architecture ----
function header() {
  page.append(el('h1', {}, 'How ' + D.title + ' sees an image'));
  page.append(el('p', {}, 'Model ', el('code', {}, D.source), ': input ' + volume(D.input) + ' (width×height×channels), ' +
    D.layers.length + ' layers, ' + D.totals.trainable.toLocaleString('en') + ' trained parameters, ' +
    D.totals.multiply_adds.toLocaleString('en') + ' multiply-adds per image. Click any pixel of any feature map, or any ' +
    (D.segments ? 'pixel of a class map' : D.detects ? 'cell of the detection pictures' : 'probability') + ', to see the arithmetic that produced it.'));
}
function architecture() {
  page.append(el('h2', {}, 'The architecture'));
  page.append(el('p', { class: 'note' }, 'Each layer with its output-size formula (as convnet summary shows it). ' +
    'Volumes are width×height×depth; a convolution or pooling window gives (W − F + 2P)/S + 1 outputs along each axis.'));
  const table = el('table', { id: 'architecture' }, el('tr', {}, ...['layer', 'type', 'options', 'reads', 'in', 'out', 'formula', 'parameters', 'multiply-adds']
    .map((h) => el('th', { class: 'text' }, h))));
  D.layers.forEach((layer, i) => {
    const reads = layer.inputs.length === 1 && layer.inputs[0] === i - 1 ? '' : layer.input_names.join(', ');
    table.append(el('tr', {}, el('td', { class: 'text' }, layer.name), el('td', { class: 'text' }, layer.type),
      el('td', { class: 'text' }, el('code', {}, layer.options)), el('td', { class: 'text' }, reads),
      el('td', {}, layer.input_volume), el('td', {}, layer.output_volume), el('td', { class: 'text' }, layer.formula),
      el('td', {}, (layer.trainable + layer.buffers).toLocaleString('en')), el('td', {}, layer.multiply_adds.toLocaleString('en'))));
  });
  page.append(table);
  if (D.model_text) page.append(el('details', {}, el('summary', {}, 'The model file'), el('pre', {}, D.model_text)));
}

// ---- learned filters ----
function filters() {
  const convolutions = D.layers.map((layer, i) => i).filter((i) => D.layers[i].type === 'conv2d' && parameter(i, 'weight'));
  if (!convolutions.length) return;
  page.append(el('h2', {}, 'The learned filters'));
  page.append(el('p', { class: 'note' }, 'Each row is one filter (one output channel), each square its weights over one input ' +
    'channel; red is positive, blue negative, white zero, scaled per layer.'));
  for (const i of convolutions) {
    const layer = D.layers[i], weight = parameter(i, 'weight');
    const [outputs, inputs, kh, kw] = layer.parameters.weight.shape;
    const scale = largest(weight), shownOut = Math.min(outputs, 64), shownIn = Math.min(inputs, 16);
    const block = el('div', { class: 'layer filters' }, el('h3', {}, layer.name + ': ' + outputs + ' filters of ' + kw + '×' + kh + '×' + inputs +
      (shownOut < outputs || shownIn < inputs ? ' (the first ' + shownOut + ', over the first ' + shownIn + ' input channels)' : '')));
    const size = Math.max(2, Math.floor((inputs === 1 ? 30 : 15) / Math.max(kh, kw)));
    // One input channel: every filter side by side; more: a row per filter.
    let row = el('div', { class: 'maps' });
    for (let o = 0; o < shownOut; ++o) {
      if (inputs > 1) row = el('div', { class: 'maps' });
      for (let c = 0; c < shownIn; ++c) {
        const canvas = el('canvas', { width: kw, height: kh, title: layer.name + ' filter ' + o + ', input channel ' + c });
        canvas.style.width = kw * size + 'px'; canvas.style.height = kh * size + 'px';
        paint(canvas, weight, (o * inputs + c) * kh * kw, kh, kw, scale);
        row.append(canvas);
      }
      if (inputs > 1 || o === 0) block.append(row);
    }
    page.append(block);
  }
}

// ---- feature maps ----
const flow = el('div', { id: 'flow' });
function picker() {
  page.append(el('h2', {}, 'Feature maps, layer by layer'));
  page.append(el('p', { class: 'note' }, 'Choose an image; each layer\'s output follows, one square per channel (red positive, ' +
    'blue negative, scaled per layer). Click a pixel for its arithmetic.'));
  const bar = el('div', { class: 'picker' });
  D.images.forEach((image, i) => {
    const truth = image.true_label === null ? '' : ' (label ' + className(image.true_label) + ')';
    bar.append(el('button', { id: 'pick' + i, title: image.label + truth, onclick: () => show(i) },
      el('img', { src: image.picture, alt: image.label, width: D.input[2], height: D.input[1] }), el('span', { class: 'note' }, String(i))));
  });
  page.append(bar, flow);
}
function mapBlock(layer, image) {
  const dims = shapeOf(layer), values = activation(image, layer), scale = largest(values);
  const title = layer < 0 ? 'input: ' + volume(dims) + ' (what the network receives, after any mean and std)'
    : D.layers[layer].name + ' · ' + D.layers[layer].type + ' · ' + volume(dims) + (D.layers[layer].formula ? ' · ' + D.layers[layer].formula : '') +
      (D.layers[layer].inputs.length > 1 || D.layers[layer].inputs[0] !== layer - 1 ? ' · reads ' + D.layers[layer].input_names.join(', ') : '');
  const block = el('div', { class: 'layer', id: 'layer-' + nameOf(layer) }, el('h3', {}, title));
  const maps = el('div', { class: 'maps' });
  if (dims.length === 3) {
    const [channels, height, width] = dims, shown = Math.min(channels, 128);
    const size = Math.max(1, Math.floor(84 / Math.max(height, width)));
    for (let c = 0; c < shown; ++c) {
      const canvas = el('canvas', { width, height, 'data-layer': layer, 'data-channel': c, title: nameOf(layer) + ' channel ' + c });
      canvas.style.width = width * size + 'px'; canvas.style.height = height * size + 'px';
      paint(canvas, values, c * height * width, height, width, scale);
      canvas.addEventListener('click', (event) => {
        const box = canvas.getBoundingClientRect();
        const x = Math.min(width - 1, Math.floor((event.clientX - box.left) / box.width * width));
        const y = Math.min(height - 1, Math.floor((event.clientY - box.top) / box.height * height));
        explain(layer, (c * height + y) * width + x);
      });
      maps.append(canvas);
    }
    if (shown < channels) maps.append(el('span', { class: 'note' }, '… and ' + (channels - shown) + ' more channels'));
  } else {
    const features = dims[0], columns = features <= 64 ? features : 56, rows = Math.ceil(features / columns);
    const size = features <= 64 ? 18 : 6;
    const padded = new Float32Array(rows * columns); padded.set(values);
    const canvas = el('canvas', { width: columns, height: rows, 'data-layer': layer, 'data-channel': 0, title: nameOf(layer) + ': ' + features + ' values' });
    canvas.style.width = columns * size + 'px'; canvas.style.height = rows * size + 'px';
    paint(canvas, padded, 0, rows, columns, scale);
    canvas.addEventListener('click', (event) => {
      const box = canvas.getBoundingClientRect();
      const x = Math.min(columns - 1, Math.floor((event.clientX - box.left) / box.width * columns));
      const y = Math.min(rows - 1, Math.floor((event.clientY - box.top) / box.height * rows));
      if (y * columns + x < features) explain(layer, y * columns + x);
    });
    maps.append(canvas);
  }
  block.append(maps);
  return block;
}
function show(image) {
  current = image;
  document.querySelectorAll('.picker button').forEach((b, i) => b.classList.toggle('chosen', i === image));
  flow.replaceChildren(mapBlock(-1, image), ...D.layers.map((layer, i) => mapBlock(i, image)));
  if (D.classifies) probabilities();
  else if (D.segments) classMaps();
  else if (D.detects) detectionView();
  else probabilityBlock.replaceChildren(el('p', { class: 'note' }, 'This model gives neither scores per image nor scores per pixel: no class probabilities.'));
  panel.hidden = true;
}

// ---- the arithmetic of one neuron ----
// A neuron's position: its channel, row and column in a (C, H, W) output, or its feature.
function position(dims, index) {
  if (dims.length !== 3) return { text: '[' + index + ']', c: index };
  const [, height, width] = dims, c = Math.floor(index / (height * width)), y = Math.floor(index / width) % height, x = index % width;
  return { text: '(channel ' + c + ', row ' + y + ', column ' + x + ')', c, y, x };
}
function grid(rows, columns, cell) {
  const table = el('table', { class: 'grid' });
  for (let r = 0; r < rows; ++r) {
    const tr = el('tr');
    for (let k = 0; k < columns; ++k) { const [text, kind] = cell(r, k); tr.append(el('td', kind ? { class: kind } : {}, text)); }
    table.append(tr);
  }
  return table;
}
function pair(value) { return Array.isArray(value) ? value : [value, value]; }
// A window of a (C, H, W) input: the value at each of its cells, or null in the padding.
function windowOf(values, dims, c, y, x, attributes) {
  const [, height, width] = dims, [kh, kw] = pair(attributes.kernel_size), [sh, sw] = pair(attributes.stride);
  const [ph, pw] = pair(attributes.padding || 0), [dh, dw] = pair(attributes.dilation || 1);
  const cells = [];
  for (let ky = 0; ky < kh; ++ky) for (let kx = 0; kx < kw; ++kx) {
    const row = y * sh - ph + ky * dh, column = x * sw - pw + kx * dw;
    cells.push(row >= 0 && row < height && column >= 0 && column < width ? values[(c * height + row) * width + column] : null);
  }
  return { cells, kh, kw };
}
const arithmetic = {
  conv2d(layer, index, image, out) {
    const L = D.layers[layer], weight = parameter(layer, 'weight');
    if (!weight) return null;
    const bias = L.attributes.bias ? parameter(layer, 'bias') : null;
    const dims = L.input_shapes[0], input = activation(image, L.inputs[0]), p = position(L.output, index);
    const groups = L.attributes.groups || 1, [outputs, perGroup] = L.parameters.weight.shape, group = Math.floor(p.c / (outputs / groups));
    let total = 0, magnitude = 0;
    const parts = [];
    for (let k = 0; k < perGroup; ++k) {
      const c = group * perGroup + k, w = windowOf(input, dims, c, p.y, p.x, L.attributes);
      let part = 0;
      w.cells.forEach((v, i) => { const term = (v === null ? 0 : v) * weight[(p.c * perGroup + k) * w.kh * w.kw + i]; part += term; magnitude += Math.abs(term); });
      total += part;
      parts.push({ c, w, k, part });
    }
    out.append(el('p', {}, 'output = Σ over input channels and window cells of input × weight, + bias. Padding cells (grey) are 0.'));
    for (const { c, w, k, part } of parts.slice(0, 4)) {
      out.append(el('p', {}, 'input channel ' + c + ': window × kernel = ' + fmt(part, 7)));
      const wrap = el('div', { class: 'maps' });
      wrap.append(grid(w.kh, w.kw, (r, q) => { const v = w.cells[r * w.kw + q]; return v === null ? ['0', 'pad'] : [fmt(v, 3)]; }), el('span', {}, ' × '),
        grid(w.kh, w.kw, (r, q) => [fmt(weight[(p.c * perGroup + k) * w.kh * w.kw + r * w.kw + q], 3)]));
      out.append(wrap);
    }
    if (parts.length > 4) out.append(el('p', {}, 'the other channels: ' + parts.slice(4).map((q) => fmt(q.part, 4)).join(' + ')));
    const b = bias ? bias[p.c] : 0;
    out.append(el('p', {}, 'Σ over ' + parts.length + ' channel' + (parts.length > 1 ? 's' : '') + ' = ' + fmt(total, 8) + (bias ? ', + bias ' + fmt(b, 7) : ', no bias')));
    return { computed: total + b, magnitude: magnitude + Math.abs(b) };
  },
  detect(layer, index, image, out) {
    const c = position(D.layers[layer].output, index).c, names = ['tx', 'ty', 'tw', 'th', 'objectness'];
    out.append(el('p', {}, 'The detect head is a convolution; its channel ' + c + ' is the cell\'s raw ' + (c < 5 ? names[c] : 'score of class ' + className(c - 5)) +
      ' (click a cell of the detection pictures for its decoding).'));
    return this.conv2d(layer, index, image, out);
  },
  batchnorm2d(layer, index, image, out) { return this.batchnorm1d(layer, index, image, out); },
  batchnorm1d(layer, index, image, out) {
    const L = D.layers[layer], p = position(L.output, index), x = activation(image, L.inputs[0])[index];
    const [g, b, m, v] = ['weight', 'bias', 'running_mean', 'running_var'].map((n) => parameter(layer, n));
    if (!g || !b || !m || !v) return null;
    const eps = L.attributes.eps, c = p.c;
    const y = (x - m[c]) / Math.sqrt(v[c] + eps) * g[c] + b[c];
    out.append(el('p', {}, '(x − μ) / √(σ² + ε) · γ + β, with channel ' + c + '\'s running mean μ and variance σ² and learned γ, β:'));
    out.append(el('p', {}, el('code', {}, '(' + fmt(x, 7) + ' − ' + fmt(m[c], 7) + ') / √(' + fmt(v[c], 7) + ' + ' + fmt(eps, 3) + ') · ' + fmt(g[c], 7) + ' + ' + fmt(b[c], 7))));
    return { computed: y, magnitude: Math.abs(y) + Math.abs(b[c]) + Math.abs((x - m[c]) / Math.sqrt(v[c] + eps) * g[c]) };
  },
  maxpool2d(layer, index, image, out) { return this.pool(layer, index, image, out, 'max'); },
  avgpool2d(layer, index, image, out) { return this.pool(layer, index, image, out, 'avg'); },
  pool(layer, index, image, out, kind) {
    const L = D.layers[layer], p = position(L.output, index), w = windowOf(activation(image, L.inputs[0]), L.input_shapes[0], p.c, p.y, p.x, L.attributes);
    const inside = w.cells.filter((v) => v !== null);
    let result, best = -1;
    if (kind === 'max') {
      result = -Infinity;
      w.cells.forEach((v, i) => { if (v !== null && (v > result || Number.isNaN(v))) { result = v; best = i; } });
      out.append(el('p', {}, 'the largest value of the ' + w.kh + '×' + w.kw + ' window over channel ' + p.c + ' (padding, grey, never wins):'));
    } else {
      const divisor = L.attributes.count_include_pad ? w.kh * w.kw : inside.length;
      const sum = inside.reduce((a, v) => a + v, 0);
      result = sum / divisor;
      out.append(el('p', {}, 'the mean of the ' + w.kh + '×' + w.kw + ' window over channel ' + p.c + ': ' + fmt(sum, 7) + ' / ' + divisor));
    }
    out.append(grid(w.kh, w.kw, (r, q) => { const i = r * w.kw + q, v = w.cells[i]; return v === null ? ['pad', 'pad'] : [fmt(v, 4), i === best ? 'best' : '']; }));
    return { computed: result, magnitude: inside.reduce((a, v) => a + Math.abs(v), 0) / Math.max(1, inside.length) };
  },
  globalavgpool2d(layer, index, image, out) {
    const L = D.layers[layer], [, height, width] = L.input_shapes[0], input = activation(image, L.inputs[0]), c = index;
    let sum = 0, magnitude = 0;
    for (let i = 0; i < height * width; ++i) { sum += input[c * height * width + i]; magnitude += Math.abs(input[c * height * width + i]); }
    out.append(el('p', {}, 'the mean of channel ' + c + '\'s ' + height + '×' + width + ' map: ' + fmt(sum, 7) + ' / ' + height * width));
    out.append(grid(height, width, (r, q) => [fmt(input[(c * height + r) * width + q], 3)]));
    return { computed: sum / (height * width), magnitude: magnitude / (height * width) };
  },
  elementwise(layer, index, image, out, name, f) {
    const L = D.layers[layer], x = activation(image, L.inputs[0])[index], y = f(x);
    out.append(el('p', {}, el('code', {}, name.replace('x', fmt(x, 7)) + ' = ' + fmt(y, 7))));
    return { computed: y, magnitude: Math.abs(x) };
  },
  relu(l, i, im, out) { return this.elementwise(l, i, im, out, 'max(0, x)', (x) => (x > 0 ? x : Number.isNaN(x) ? x : 0)); },
  leakyrelu(l, i, im, out) { const s = D.layers[l].attributes.negative_slope; return this.elementwise(l, i, im, out, 'x > 0 ? x : ' + s + '·x', (x) => (x > 0 ? x : s * x)); },
  tanh(l, i, im, out) { return this.elementwise(l, i, im, out, 'tanh(x)', Math.tanh); },
  sigmoid(l, i, im, out) { return this.elementwise(l, i, im, out, '1 / (1 + exp(−x))', (x) => 1 / (1 + Math.exp(-x))); },
  dropout(l, i, im, out) { return this.elementwise(l, i, im, out, 'x (dropout passes x unchanged in evaluation)', (x) => x); },
  flatten(l, i, im, out) { return this.elementwise(l, i, im, out, 'x (flatten copies value ' + i + ' in channel, row, column order)', (x) => x); },
  linear(layer, index, image, out) {
    const L = D.layers[layer], weight = parameter(layer, 'weight'), bias = parameter(layer, 'bias');
    if (!weight) return null;
    const input = activation(image, L.inputs[0]), features = L.parameters.weight.shape[1];
    let sum = 0, magnitude = 0;
    const terms = [];
    for (let f = 0; f < features; ++f) { const t = input[f] * weight[index * features + f]; sum += t; magnitude += Math.abs(t); terms.push([f, t]); }
    terms.sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]));
    out.append(el('p', {}, 'output ' + index + ' = Σ over ' + features + ' inputs of input[i] × weight[' + index + ', i], + bias. The largest terms:'));
    const table = el('table', {}, el('tr', {}, el('th', {}, 'i'), el('th', {}, 'input'), el('th', {}, 'weight'), el('th', {}, 'product')));
    for (const [f, t] of terms.slice(0, 12)) table.append(el('tr', {}, el('td', {}, String(f)), el('td', {}, fmt(input[f], 5)), el('td', {}, fmt(weight[index * features + f], 5)), el('td', {}, fmt(t, 5))));
    out.append(table);
    const b = bias ? bias[index] : 0;
    out.append(el('p', {}, (features > 12 ? '… and ' + (features - 12) + ' smaller terms; ' : '') + 'Σ = ' + fmt(sum, 8) + (bias ? ', + bias ' + fmt(b, 7) : '')));
    return { computed: sum + b, magnitude: magnitude + Math.abs(b) };
  },
  add(layer, index, image, out) {
    const L = D.layers[layer], values = L.inputs.map((i) => activation(image, i)[index]);
    out.append(el('p', {}, el('code', {}, L.inputs.map((i, k) => nameOf(i) + ' ' + fmt(values[k], 7)).join(' + '))));
    return { computed: values.reduce((a, v) => a + v, 0), magnitude: values.reduce((a, v) => a + Math.abs(v), 0) };
  },
  softmax(layer, index, image, out) {
    const L = D.layers[layer], input = activation(image, L.inputs[0]), dims = L.output;
    const p = position(dims, index), count = dims.length === 3 ? dims[0] : dims[0];
    const at = (k) => (dims.length === 3 ? (k * dims[1] + p.y) * dims[2] + p.x : k);
    const z = Array.from({ length: count }, (_, k) => input[at(k)]);
    return { computed: softmaxTable(z, p.c, out), magnitude: 1 };
  },
};
// exp(z − max) of every score, their sum, and the share of `chosen`: softmax, shown.
function softmaxTable(z, chosen, out) {
  const m = Math.max(...z), e = z.map((v) => Math.exp(v - m)), sum = e.reduce((a, v) => a + v, 0);
  out.append(el('p', {}, 'p = exp(z − max) / Σ exp(z − max), with max = ' + fmt(m, 7) + ' (subtracting it changes nothing but keeps exp finite):'));
  const table = el('table', {}, el('tr', {}, el('th', { class: 'text' }, 'class'), el('th', {}, 'z'), el('th', {}, 'exp(z − max)')));
  z.forEach((v, k) => table.append(el('tr', k === chosen ? { class: 'best' } : {}, el('td', { class: 'text' }, (k === chosen ? '▶ ' : '') + className(k)), el('td', {}, fmt(v, 7)), el('td', {}, fmt(e[k], 7)))));
  out.append(table, el('p', {}, 'Σ = ' + fmt(sum, 8) + '; p = ' + fmt(e[chosen], 8) + ' / ' + fmt(sum, 8)));
  return e[chosen] / sum;
}
function verdict(out, computed, stored, magnitude) {
  const difference = Math.abs(computed - stored);
  // float32 sums in another order: within a few units of the last place of the terms' magnitude.
  const ok = difference <= 1e-5 * (1 + magnitude) || (Number.isNaN(computed) && Number.isNaN(stored));
  out.append(el('div', { class: 'verdict' + (ok ? '' : ' off') },
    'computed here: ', el('b', { id: 'arith-computed', 'data-value': String(computed) }, fmt(computed, 8)), el('br'),
    'stored by convnet: ', el('b', { id: 'arith-stored', 'data-value': String(stored) }, fmt(stored, 8)), el('br'),
    'difference ' + fmt(difference, 2) + (ok ? ' (float32 rounding)' : ' — does not match')));
  panel.dataset.ok = String(ok);
}
function openPanel(title) {
  panel.replaceChildren(el('button', { onclick: () => { panel.hidden = true; } }, 'close'), el('h3', {}, title));
  panel.hidden = false;
  panel.dataset.ok = '';
  return panel;
}
function explain(layer, index) {
  const dims = shapeOf(layer), stored = activation(current, layer)[index], p = position(dims, index);
  const out = openPanel(nameOf(layer) + (layer >= 0 ? ' (' + D.layers[layer].type + ')' : '') + ' ' + p.text + ', image ' + current);
  panel.dataset.layer = nameOf(layer); panel.dataset.index = String(index);
  if (layer < 0) {
    out.append(el('p', {}, 'a pixel of the input: its stored value / 255, then (x − mean) / std when the weights carry them.'),
      el('p', {}, 'value ', el('b', { id: 'arith-stored', 'data-value': String(stored) }, fmt(stored, 8))));
    return null;
  }
  const rule = arithmetic[D.layers[layer].type];
  const result = rule ? rule.call(arithmetic, layer, index, current, out) : null;
  if (!result) {
    out.append(el('p', {}, 'stored value ', el('b', { id: 'arith-stored', 'data-value': String(stored) }, fmt(stored, 8))),
      el('p', { class: 'note' }, rule ? 'this layer\'s weights are too large to embed in the page.' : 'the page does not spell out the arithmetic of ' + D.layers[layer].type + ' layers; the value is the one convnet computed.'));
    return null;
  }
  verdict(out, result.computed, stored, result.magnitude);
  return { computed: result.computed, stored };
}
function explainProbability(c) {
  const image = D.images[current];
  const out = openPanel('probability of ' + className(c) + ', image ' + current);
  panel.dataset.layer = 'softmax'; panel.dataset.index = String(c);
  const computed = softmaxTable(image.logits, c, out);
  verdict(out, computed, image.probabilities[c], 1);
  return { computed, stored: image.probabilities[c] };
}

// ---- segmentation: the class maps and one pixel's probabilities ----
// The last layer scores every class at every pixel, (classes, H, W); its class map (the argmax per
// pixel, as convnet predict computes it) and a test image's truth mask come as bytes.
const scoreLayer = D.layers.length - 1;
function bytes(base64) {
  const text = atob(base64), values = new Uint8Array(text.length);
  for (let i = 0; i < text.length; ++i) values[i] = text.charCodeAt(i);
  return values;
}
function classMap(image) { return cached('map' + image, () => bytes(D.images[image].class_map)); }
function truthMask(image) { return D.images[image].truth_mask === null ? null : cached('truth' + image, () => bytes(D.images[image].truth_mask)); }
// As torch.argmax: the first NaN, else the first of equal largest values.
function argmax(values) {
  let best = 0;
  for (let k = 1; k < values.length && !Number.isNaN(values[best]); ++k) if (values[k] > values[best] || Number.isNaN(values[k])) best = k;
  return best;
}
function classLabel(c) { return c === 255 ? 'none (255, ignored)' : className(c); }
function swatch(c) { return el('span', { class: 'swatch', style: 'background:rgb(' + D.palette[c].join(',') + ')' }); }
// Each pixel in its class's VOC colour; 255 (no class) in VOC's ignore colour.
function paintClasses(canvas, classes, height, width) {
  const context = canvas.getContext('2d'), picture = context.createImageData(width, height);
  for (let i = 0; i < height * width; ++i) picture.data.set([...D.palette[classes[i]], 255], 4 * i);
  context.putImageData(picture, 0, 0);
}
function classMaps() {
  const [classes, height, width] = D.layers[scoreLayer].output, image = D.images[current];
  const predicted = classMap(current), truth = truthMask(current);
  const scale = Math.max(1, Math.floor(256 / Math.max(height, width)));
  const figure = (caption, node) => el('figure', {}, node, el('figcaption', {}, caption));
  const mapCanvas = (id, values, title) => {
    const canvas = el('canvas', { id, width, height, title });
    canvas.style.width = width * scale + 'px'; canvas.style.height = height * scale + 'px';
    paintClasses(canvas, values, height, width);
    canvas.addEventListener('click', (event) => {
      const box = canvas.getBoundingClientRect();
      const x = Math.max(0, Math.min(width - 1, Math.floor((event.clientX - box.left - canvas.clientLeft) / canvas.clientWidth * width)));
      const y = Math.max(0, Math.min(height - 1, Math.floor((event.clientY - box.top - canvas.clientTop) / canvas.clientHeight * height)));
      explainPixel(y, x);
    });
    return canvas;
  };
  const picture = el('img', { src: image.picture, alt: image.label, width: D.input[2], height: D.input[1] });
  picture.style.width = width * scale + 'px'; picture.style.height = height * scale + 'px';
  const row = el('div', { class: 'maps' }, figure(image.label, picture),
    figure('predicted classes', mapCanvas('class-map', predicted, 'the most likely class of each pixel: click one for its probabilities')));
  if (truth) row.append(figure('true classes', mapCanvas('truth-map', truth, 'the mask of the test set: click a pixel for its probabilities')));
  // The legend: each class's colour and its share of this image's pixels, predicted and true.
  const count = (values, c) => values.reduce((a, v) => a + (v === c ? 1 : 0), 0);
  const share = (values, c) => { const n = count(values, c), percent = 100 * n / values.length; return n ? (percent < 0.1 ? '< 0.1' : percent.toFixed(1)) + ' %' : '—'; };
  const legend = el('table', { id: 'class-legend' }, el('tr', {}, el('th', { class: 'text' }, 'class'), el('th', {}, 'predicted'), truth ? el('th', {}, 'true') : null));
  const shown = Array.from({ length: classes }, (_, c) => c);
  if (truth && count(truth, 255)) shown.push(255);
  for (const c of shown) legend.append(el('tr', {}, el('td', { class: 'text' }, swatch(c), classLabel(c)), el('td', {}, share(predicted, c)), truth ? el('td', {}, share(truth, c)) : null));
  const notes = [el('p', {}, image.label + ': the most likely class of each pixel (the argmax of the last layer\'s ' + classes + ' scores)' +
    (truth ? ' beside the truth' : '') + '. Click a pixel of ' + (truth ? 'either map' : 'the map') + ' for its class probabilities.')];
  if (truth) {
    let labelled = 0, right = 0;
    truth.forEach((t, i) => { if (t !== 255) { ++labelled; right += t === predicted[i] ? 1 : 0; } });
    notes.push(el('p', {}, 'Pixel accuracy of this image: ' + (labelled ? (100 * right / labelled).toFixed(2) + ' %' : '—') + ' of ' + labelled.toLocaleString('en') + ' labelled pixels.'));
  }
  probabilityBlock.replaceChildren(el('div', { class: 'segmentation' }, ...notes, row, legend));
}
function explainPixel(y, x) {
  const [classes, height, width] = D.layers[scoreLayer].output, scores = activation(current, scoreLayer);
  const at = y * width + x, predicted = classMap(current)[at], truth = truthMask(current), trueClass = truth ? truth[at] : null;
  const z = Array.from({ length: classes }, (_, k) => scores[k * height * width + at]);
  const m = Math.max(...z), e = z.map((v) => Math.exp(v - m)), sum = e.reduce((a, v) => a + v, 0), p = e.map((v) => v / sum);
  const out = openPanel('pixel (row ' + y + ', column ' + x + '), image ' + current);
  panel.dataset.layer = 'pixel'; panel.dataset.index = String(at);
  out.append(el('p', {}, 'The ' + classes + ' scores z of the last layer (' + D.layers[scoreLayer].name + ') at this pixel, and their softmax ' +
    'p = exp(z − max) / Σ exp(z − max), with max = ' + fmt(m, 7) + ':'));
  const table = el('table', { id: 'pixel-probabilities' }, el('tr', {}, el('th', { class: 'text' }, 'class'), el('th', {}, 'z'), el('th', {}, 'exp(z − max)'), el('th', {}, 'p'), el('th', { class: 'text' }, '')));
  p.forEach((probability, k) => {
    const kind = [k === predicted ? 'best' : '', k === trueClass ? 'truth' : ''].join(' ').trim();
    table.append(el('tr', kind ? { class: kind } : {}, el('td', { class: 'text' }, (k === predicted ? '▶ ' : ''), swatch(k), className(k) + (k === trueClass ? ' (true)' : '')),
      el('td', {}, fmt(z[k], 7)), el('td', {}, fmt(e[k], 7)), el('td', { 'data-class': k, 'data-probability': String(probability) }, probability.toFixed(7)),
      el('td', { class: 'text' }, el('span', { class: 'bar', style: 'width:' + Math.round(120 * probability) + 'px' }))));
  });
  const total = p.reduce((a, v) => a + v, 0), best = argmax(z);
  out.append(table, el('p', {}, 'Σ exp(z − max) = ' + fmt(sum, 8) + '; Σ p = ', el('b', { id: 'pixel-sum', 'data-value': String(total) }, fmt(total, 8))));
  if (trueClass !== null) out.append(el('p', {}, 'true class: ', trueClass === 255 ? 'none (255: the loss and the metrics leave this pixel out)'
    : el('b', {}, className(trueClass)), trueClass === 255 ? '' : trueClass === predicted ? ', predicted right' : ', predicted ' + className(predicted)));
  const ok = best === predicted && Math.abs(total - 1) < 1e-9;
  out.append(el('div', { class: 'verdict' + (ok ? '' : ' off') }, 'most likely here: ' + className(best) + '; convnet\'s class map: ' +
    className(predicted) + (ok ? '' : ' — does not match')));
  panel.dataset.ok = String(ok);
  return { image: current, y, x, sum: total, predicted, argmax: best, truth: trueClass, ok };
}

// ---- detection: the boxes, the objectness heat map and one cell's decoding ----
// The last layer is the detect head, (5 + K, GH, GW): per cell tx, ty, tw, th, objectness and the K
// class scores (include/convnet/nn/layers/detect.h). Each image brings its detections and true boxes in
// input pixels, σ(objectness) per cell, and every cell as decode_cell read it (x1 y1 x2 y2,
// σ(objectness), the K class probabilities), which a click recomputes here from the raw scores.
// Each class in the colour convnet predict's pictures give it (detection_colour), with a white rim.
function boxRgb(c) { return c < D.detection.colours.length ? D.detection.colours[c] : [255, 255, 255]; }
function boxColour(c) { return 'rgb(' + boxRgb(c).join(',') + ')'; }
function sigmoid(x) { return 1 / (1 + Math.exp(-x)); }
function objectness(image) { return cached('objectness' + image, () => floats(D.images[image].objectness)); }
function decodedCells(image) { return cached('cells' + image, () => floats(D.images[image].cells)); }
function svgElement(tag, attributes, text) {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}
// 0 black, through red, to 1 yellow; the overlay's opacity grows with the value.
function heatColour(value) {
  const t = Math.max(0, Math.min(1, value));
  return [Math.round(255 * Math.min(1, 2 * t)), Math.round(255 * Math.max(0, 2 * t - 1)), Math.round(60 * (1 - t))];
}
function paintHeat(canvas, values, rows, columns, overlay) {
  const context = canvas.getContext('2d'), picture = context.createImageData(columns, rows);
  for (let i = 0; i < rows * columns; ++i) picture.data.set([...heatColour(values[i]), overlay ? Math.round(200 * Math.max(0, Math.min(1, values[i]))) : 255], 4 * i);
  context.putImageData(picture, 0, 0);
}
function boxText(box) { return box.map((v) => v.toFixed(1)).join(' '); }
function boxIou(a, b) {
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0])), h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h;
  return union > 0 ? w * h / union : 0;
}
function detectionGeometry() {
  const [rows, columns] = D.detection.grid, height = D.input[1], width = D.input[2];
  return { rows, columns, height, width, cellHeight: height / rows, cellWidth: width / columns, channels: D.layers[scoreLayer].output[0] };
}
// The cell a detection came from (explain.cpp finds it by its decoded box), else the one its centre lies in.
function cellOfDetection(detection) {
  if (detection.cell) return { row: detection.cell[0], column: detection.cell[1] };
  const g = detectionGeometry(), cx = (detection.box[0] + detection.box[2]) / 2, cy = (detection.box[1] + detection.box[3]) / 2;
  return { row: Math.min(g.rows - 1, Math.floor(cy / g.cellHeight)), column: Math.min(g.columns - 1, Math.floor(cx / g.cellWidth)) };
}
function detectionOfCell(image, row, column) { return D.images[image].detections.findIndex((d) => d.cell && d.cell[0] === row && d.cell[1] === column); }
let showHeat = false;
function detectionView() {
  const g = detectionGeometry(), image = D.images[current], found = image.detections, truth = image.truth_boxes;
  const scale = Math.max(1, Math.floor(288 / Math.max(g.height, g.width))), W = g.width * scale, H = g.height * scale;
  const sized = (node) => { node.style.width = W + 'px'; node.style.height = H + 'px'; return node; };
  const stage = (id, ...children) => sized(el('div', { class: 'stage', id }, ...children));
  const overlay = sized(el('canvas', { id: 'objectness-overlay', width: g.columns, height: g.rows }));
  paintHeat(overlay, objectness(current), g.rows, g.columns, true);
  overlay.hidden = !showHeat;
  const clickable = (id) => {
    const svg = sized(svgElement('svg', { id, width: W, height: H, viewBox: '0 0 ' + g.width + ' ' + g.height }));
    svg.addEventListener('click', (event) => {
      const box = svg.getBoundingClientRect();
      const x = (event.clientX - box.left) / box.width * g.width, y = (event.clientY - box.top) / box.height * g.height;
      explainCell(Math.max(0, Math.min(g.rows - 1, Math.floor(y / g.cellHeight))), Math.max(0, Math.min(g.columns - 1, Math.floor(x / g.cellWidth))));
    });
    return svg;
  };
  const boxes = clickable('detection-boxes'), gridLines = clickable('objectness-grid');
  const outline = (box, attributes) => svgElement('rect', { x: box[0], y: box[1], width: box[2] - box[0], height: box[3] - box[1], fill: 'none',
    'vector-effect': 'non-scaling-stroke', ...attributes });
  for (const t of truth || []) {
    const r = outline(t.box, { class: 'truth', stroke: '#2d2', 'stroke-width': 2, 'stroke-dasharray': '5 3' });
    r.append(svgElement('title', {}, 'true: ' + className(t.class) + ' (' + boxText(t.box) + ')'));
    boxes.append(r);
  }
  // The best box last, on top; each tagged "NAME 0.93" over its top-left corner (inside where there is no room above).
  [...found.keys()].reverse().forEach((k) => {
    const d = found[k], [red, green, blue] = boxRgb(d.class), text = className(d.class) + ' ' + d.score.toFixed(2);
    const r = outline(d.box, { class: 'detection', stroke: boxColour(d.class), 'stroke-width': 2 });
    r.append(svgElement('title', {}, '#' + (k + 1) + ' ' + className(d.class) + ' ' + d.score.toFixed(3) + ' (' + boxText(d.box) + ')'));
    const tagHeight = 11 / scale, tagWidth = (text.length * 6.2 + 4) / scale, top = d.box[1] >= tagHeight ? d.box[1] - tagHeight : d.box[1];
    boxes.append(outline(d.box, { stroke: '#fff', 'stroke-width': 4 }), r,
      svgElement('rect', { x: d.box[0], y: top, width: tagWidth, height: tagHeight, fill: boxColour(d.class) }),
      svgElement('text', { x: d.box[0] + 2 / scale, y: top + 9 / scale,
        style: 'font-size:' + 10 / scale + 'px;fill:' + (0.299 * red + 0.587 * green + 0.114 * blue > 140 ? '#000' : '#fff') }, text));
  });
  for (let r = 1; r < g.rows; ++r) gridLines.append(svgElement('line', { x1: 0, x2: g.width, y1: r * g.cellHeight, y2: r * g.cellHeight, stroke: 'rgba(255,255,255,0.18)', 'vector-effect': 'non-scaling-stroke' }));
  for (let c = 1; c < g.columns; ++c) gridLines.append(svgElement('line', { y1: 0, y2: g.height, x1: c * g.cellWidth, x2: c * g.cellWidth, stroke: 'rgba(255,255,255,0.18)', 'vector-effect': 'non-scaling-stroke' }));
  const heat = sized(el('canvas', { id: 'objectness-map', width: g.columns, height: g.rows, title: 'σ(objectness) of each cell: click one for its scores' }));
  paintHeat(heat, objectness(current), g.rows, g.columns, false);
  const picture = sized(el('img', { src: image.picture, alt: image.label, width: g.width, height: g.height }));
  const toggle = el('input', { type: 'checkbox', id: 'heat-toggle', onchange: (event) => { showHeat = event.target.checked; overlay.hidden = !showHeat; } });
  toggle.checked = showHeat;
  const figure = (node, ...caption) => el('figure', {}, node, el('figcaption', {}, ...caption));
  const row = el('div', { class: 'maps' },
    figure(stage('detection-stage', picture, overlay, boxes), image.label + ': ' + found.length + ' object' + (found.length === 1 ? '' : 's') + ' found' +
      (truth ? ', ' + truth.length + ' true (dashed green)' : ''), el('br'), el('label', {}, toggle, ' objectness over the image')),
    figure(stage('objectness-stage', heat, gridLines), 'σ(objectness) of the ' + g.rows + '×' + g.columns + ' cells (dark 0, red ½, yellow 1)'));
  const maxObjectness = Math.max(...objectness(current));
  const notes = [el('p', {}, 'Every cell of the ' + g.rows + '×' + g.columns + ' grid (' + fmt(g.cellWidth, 4) + '×' + fmt(g.cellHeight, 4) + ' pixels) ' +
    'scores a box, an objectness and the ' + (g.channels - 5) + ' classes; a box is kept when σ(objectness) × its best class probability ≥ ' +
    D.detection.score_threshold + ', then per class by non-maximum suppression at IoU ' + D.detection.iou_threshold + ' (as convnet predict finds them). ' +
    'The surest cell\'s σ(objectness) is ' + fmt(maxObjectness, 4) + '. Click a cell of either picture for its scores and decoded box.')];
  const list = el('table', { id: 'detection-list' }, el('tr', {}, ...['#', 'class', 'score', 'x1', 'y1', 'x2', 'y2', 'cell'].map((h) => el('th', { class: 'text' }, h))));
  found.forEach((d, k) => {
    const cell = cellOfDetection(d);
    list.append(el('tr', { class: 'clickable', onclick: () => explainCell(cell.row, cell.column) }, el('td', {}, String(k + 1)),
      el('td', { class: 'text' }, el('span', { class: 'swatch', style: 'background:' + boxColour(d.class) }), className(d.class)), el('td', {}, d.score.toFixed(4)),
      ...d.box.map((v) => el('td', {}, v.toFixed(1))), el('td', {}, cell.row + ', ' + cell.column)));
  });
  const parts = [...notes, row, found.length ? list : el('p', { class: 'note' }, 'No cell scores ' + D.detection.score_threshold + ' or more.')];
  if (truth) {
    const table = el('table', { id: 'truth-list' }, el('tr', {}, ...['true class', 'x1', 'y1', 'x2', 'y2', 'best IoU with a detection of its class'].map((h) => el('th', { class: 'text' }, h))));
    for (const t of truth) {
      const best = Math.max(0, ...found.filter((d) => d.class === t.class).map((d) => boxIou(d.box, t.box)));
      table.append(el('tr', {}, el('td', { class: 'text' }, className(t.class)), ...t.box.map((v) => el('td', {}, v.toFixed(1))),
        el('td', {}, fmt(best, 3) + (best >= 0.5 ? ' (found)' : ' (missed at IoU 0.5)'))));
    }
    parts.push(el('details', { open: '' }, el('summary', {}, 'The true boxes'), table));
  }
  probabilityBlock.replaceChildren(el('div', { class: 'detection' }, ...parts));
}
// One cell: its raw scores, their decoding recomputed here beside decode_cell's, and its box drawn.
function explainCell(row, column) {
  const g = detectionGeometry(), cells = g.rows * g.columns, at = row * g.columns + column, classes = g.channels - 5;
  const raw = activation(current, scoreLayer), z = Array.from({ length: g.channels }, (_, k) => raw[k * cells + at]);
  const s = z.slice(0, 5).map(sigmoid);
  const cx = (column + s[0]) * g.cellWidth, cy = (row + s[1]) * g.cellHeight, w = s[2] * g.width, h = s[3] * g.height;
  const box = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
  const classScores = z.slice(5), m = Math.max(...classScores), e = classScores.map((v) => Math.exp(v - m)), sum = e.reduce((a, v) => a + v, 0);
  const p = e.map((v) => v / sum), stored = decodedCells(current).subarray(at * g.channels, (at + 1) * g.channels);
  const computed = [...box, s[4], ...p];
  let worst = 0;
  computed.forEach((v, k) => { if (!(Number.isNaN(v) && Number.isNaN(stored[k]))) worst = Math.max(worst, Math.abs(v - stored[k]) / (1 + Math.abs(stored[k]))); });
  const ok = worst <= 1e-5;  // float32 against double: a few units of the last place
  const out = openPanel('cell (row ' + row + ', column ' + column + '), image ' + current);
  panel.dataset.layer = 'cell'; panel.dataset.index = String(at); panel.dataset.row = String(row); panel.dataset.column = String(column);
  out.append(el('p', {}, 'The detect head\'s ' + g.channels + ' raw scores z at this cell (channels of ' + D.layers[scoreLayer].name + '), and σ(z) = 1 / (1 + exp(−z)):'));
  const meaning = ['tx: where the centre lies across the cell', 'ty: where the centre lies down the cell', 'tw: the width, a share of the image\'s',
    'th: the height, a share of the image\'s', 'objectness: whether an object\'s centre lies in this cell'];
  const scores = el('table', { id: 'cell-scores' }, el('tr', {}, el('th', {}, 'channel'), el('th', { class: 'text' }, 'meaning'), el('th', {}, 'z'), el('th', {}, 'σ(z)')));
  meaning.forEach((text, k) => scores.append(el('tr', k === 4 ? { class: 'best' } : {}, el('td', {}, String(k)), el('td', { class: 'text' }, text),
    el('td', {}, fmt(z[k], 7)), el('td', k === 4 ? { id: 'cell-objectness', 'data-value': String(s[4]) } : {}, fmt(s[k], 7)))));
  out.append(scores);
  const order = p.map((_, k) => k).sort((a, b) => p[b] - p[a] || a - b), top = order.slice(0, Math.min(5, classes));
  out.append(el('p', {}, 'The ' + classes + ' class scores (channels 5 to ' + (g.channels - 1) + '), softmax p = exp(z − max) / Σ exp(z − max); the most likely:'));
  const table = el('table', { id: 'cell-classes' }, el('tr', {}, el('th', { class: 'text' }, 'class'), el('th', {}, 'z'), el('th', {}, 'p'), el('th', { class: 'text' }, '')));
  for (const k of top) table.append(el('tr', k === order[0] ? { class: 'best' } : {}, el('td', { class: 'text' }, className(k)), el('td', {}, fmt(classScores[k], 7)),
    el('td', { 'data-class': k, 'data-probability': String(p[k]) }, p[k].toFixed(6)), el('td', { class: 'text' }, el('span', { class: 'bar', style: 'width:' + Math.round(120 * p[k]) + 'px' }))));
  out.append(table);
  if (classes > top.length) out.append(el('p', { class: 'note' }, '… and ' + (classes - top.length) + ' less likely classes.'));
  out.append(el('p', {}, 'The box in input pixels (a cell is ' + fmt(g.cellWidth, 5) + ' wide, ' + fmt(g.cellHeight, 5) + ' high; the image ' + g.width + '×' + g.height + '):'),
    el('pre', {}, 'centre x = (' + column + ' + σ(tx)) · ' + fmt(g.cellWidth, 5) + ' = (' + column + ' + ' + fmt(s[0], 6) + ') · ' + fmt(g.cellWidth, 5) + ' = ' + fmt(cx, 6) + '\n' +
      'centre y = (' + row + ' + σ(ty)) · ' + fmt(g.cellHeight, 5) + ' = (' + row + ' + ' + fmt(s[1], 6) + ') · ' + fmt(g.cellHeight, 5) + ' = ' + fmt(cy, 6) + '\n' +
      'width    = σ(tw) · ' + g.width + ' = ' + fmt(s[2], 6) + ' · ' + g.width + ' = ' + fmt(w, 6) + '\n' +
      'height   = σ(th) · ' + g.height + ' = ' + fmt(s[3], 6) + ' · ' + g.height + ' = ' + fmt(h, 6)),
    el('p', {}, 'x1 y1 x2 y2 = ', el('b', { id: 'cell-box-text', 'data-box': JSON.stringify(Array.from(stored.subarray(0, 4))) }, boxText(box)), ' (drawn dashed yellow)'));
  // Kept or not, judged on convnet's own float32 numbers, as decode_detections judged them.
  const best = order[0], score = Math.fround(stored[4] * stored[5 + best]);
  const detections = D.images[current].detections, kept = detectionOfCell(current, row, column);
  let fate;
  if (kept >= 0) fate = 'kept: detection #' + (kept + 1) + ', ' + className(detections[kept].class) + ' ' + detections[kept].score.toFixed(4) +
    (detections[kept].box.every((v, k) => v === stored[k]) ? '' : ', clipped to the image');
  else if (!(score >= D.detection.score_threshold)) fate = 'not kept: below the score threshold ' + D.detection.score_threshold;
  else {
    // NMS compared the boxes as decoded, before predict's clipping: the rival's cell's box.
    const decoded = (d) => { const c = cellOfDetection(d), at = (c.row * g.columns + c.column) * g.channels; return Array.from(decodedCells(current).subarray(at, at + 4)); };
    const rival = detections.filter((d) => d.class === best && d.score >= score).map((d) => [d, boxIou(decoded(d), Array.from(stored.subarray(0, 4)))]).sort((a, b) => b[1] - a[1])[0];
    fate = 'not kept: suppressed' + (rival ? ' by detection #' + (detections.indexOf(rival[0]) + 1) + ' (IoU ' + fmt(rival[1], 3) + ' > ' + D.detection.iou_threshold + ')' : ' by non-maximum suppression') +
      (detections.length >= D.detection.max_detections ? ', or past the ' + D.detection.max_detections + ' kept' : '');
  }
  out.append(el('p', {}, 'score = σ(objectness) · p(' + className(best) + ') = ' + fmt(stored[4], 6) + ' · ' + fmt(stored[5 + best], 6) + ' = ', el('b', {}, fmt(score, 6)), '; ', fate + '.'));
  out.append(el('div', { class: 'verdict' + (ok ? '' : ' off') }, 'convnet\'s decode_cell: box ' + boxText(Array.from(stored.subarray(0, 4))) + ', σ(objectness) ' +
    fmt(stored[4], 7) + '; the largest relative difference from the numbers here ' + fmt(worst, 2) + (ok ? ' (float32 rounding)' : ' — does not match')));
  panel.dataset.ok = String(ok);
  // The cell outlined in both pictures and its box drawn on the image.
  for (const id of ['detection-boxes', 'objectness-grid']) {
    const svg = document.getElementById(id);
    if (!svg) continue;
    svg.querySelectorAll('.chosen').forEach((node) => node.remove());
    svg.append(svgElement('rect', { class: 'chosen', x: column * g.cellWidth, y: row * g.cellHeight, width: g.cellWidth, height: g.cellHeight, fill: 'rgba(255,255,0,0.25)',
      stroke: '#ff0', 'stroke-width': 1, 'vector-effect': 'non-scaling-stroke' }));
    if (id === 'detection-boxes')
      svg.append(svgElement('rect', { class: 'chosen', id: 'cell-box', x: stored[0], y: stored[1], width: stored[2] - stored[0], height: stored[3] - stored[1], fill: 'none',
        stroke: '#ff0', 'stroke-width': 2, 'stroke-dasharray': '2 2', 'vector-effect': 'non-scaling-stroke' }));
  }
  return { image: current, row, column, ok, worst, kept, box: Array.from(stored.subarray(0, 4)), objectness: stored[4] };
}

// ---- probabilities, accuracy, curves ----
const probabilityBlock = el('div', { id: 'probabilities' });
function probabilities() {
  const image = D.images[current];
  const table = el('table', {}, el('tr', {}, el('th', { class: 'text' }, 'class'), el('th', {}, 'score z'), el('th', {}, 'probability'), el('th', { class: 'text' }, '')));
  image.probabilities.forEach((p, c) => table.append(el('tr', { class: 'clickable', onclick: () => explainProbability(c) },
    el('td', { class: 'text' }, className(c) + (image.true_label === c ? ' (true)' : '')), el('td', {}, fmt(image.logits[c], 6)),
    el('td', { 'data-image': current, 'data-class': c, 'data-probability': String(p) }, p.toFixed(7)),
    el('td', { class: 'text' }, el('span', { class: 'bar', style: 'width:' + Math.round(200 * p) + 'px' })))));
  const best = image.probabilities.indexOf(Math.max(...image.probabilities));
  probabilityBlock.replaceChildren(el('p', {}, image.label + ': most likely ', el('b', {}, className(best)),
    ' (softmax of the last layer\'s scores; click a row for the exponentials and their sum)'), table);
}
function allProbabilities() {
  const table = el('table', { id: 'all-probabilities' }, el('tr', {}, el('th', { class: 'text' }, 'image'), ...D.images[0].probabilities.map((p, c) => el('th', {}, className(c)))));
  D.images.forEach((image, i) => table.append(el('tr', {}, el('td', { class: 'text' }, image.label),
    ...image.probabilities.map((p, c) => el('td', { 'data-image': i, 'data-class': c, 'data-probability': String(p) }, p.toFixed(7))))));
  return el('details', {}, el('summary', {}, 'Every image\'s probabilities'), table);
}
function accuracy() {
  if (!D.confusion) return;
  const counts = D.confusion.counts, n = counts.length;
  const correct = counts.reduce((a, row, i) => a + row[i], 0);
  page.append(el('h2', {}, 'Accuracy on the test set'));
  page.append(el('p', {}, D.confusion.images.toLocaleString('en') + ' test images, ' + (100 * correct / D.confusion.images).toFixed(2) + ' % classified correctly.'));
  const table = el('table', { id: 'confusion' }, el('tr', {}, el('th', { class: 'text' }, 'true \\ predicted'), ...counts.map((_, c) => el('th', {}, className(c))), el('th', {}, 'accuracy')));
  const peak = Math.max(...counts.flat());
  counts.forEach((row, t) => {
    const total = row.reduce((a, v) => a + v, 0);
    table.append(el('tr', {}, el('th', { class: 'text' }, className(t)), ...row.map((v, p) => {
      const cell = el('td', {}, String(v));
      if (v) cell.style.background = (p === t ? 'rgba(40,160,60,' : 'rgba(220,50,50,') + (0.12 + 0.6 * Math.sqrt(v / peak)).toFixed(2) + ')';
      return cell;
    }), el('td', {}, total ? (100 * row[t] / total).toFixed(1) + ' %' : '—')));
  });
  page.append(table, el('p', { class: 'note' }, 'Rows: the true class; columns: the predicted one; the last column is each class\'s accuracy.'));
}
function curve(title, keys) {
  const points = keys.map((key) => D.metrics.map((m, i) => [m.epoch || i + 1, m[key]]).filter((p) => typeof p[1] === 'number'));
  const all = points.flat();
  if (!all.length) return null;
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  let [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  if (y0 === y1) { y0 -= 0.5; y1 += 0.5; }
  const W = 380, H = 200, left = 48, bottom = 28, X = (x) => left + (x - x0) / (x1 - x0) * (W - left - 10), Y = (y) => H - bottom - (y - y0) / (y1 - y0) * (H - bottom - 10);
  const ns = 'http://www.w3.org/2000/svg', svg = document.createElementNS(ns, 'svg');
  const add = (tag, attributes, text) => { const n = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attributes)) n.setAttribute(k, v); if (text) n.textContent = text; svg.append(n); return n; };
  svg.setAttribute('width', W); svg.setAttribute('height', H); svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
  add('line', { x1: left, y1: H - bottom, x2: W - 10, y2: H - bottom, stroke: '#888' });
  add('line', { x1: left, y1: 10, x2: left, y2: H - bottom, stroke: '#888' });
  add('text', { x: 2, y: Y(y1) + 4 }, fmt(y1, 4)); add('text', { x: 2, y: Y(y0) + 4 }, fmt(y0, 4));
  add('text', { x: X(x0) - 4, y: H - 12 }, String(x0)); add('text', { x: X(x1) - 8, y: H - 12 }, String(x1));
  add('text', { x: W / 2 - 16, y: H - 1 }, 'epoch');
  const colours = ['#d33', '#36c', '#393', '#c90'];
  points.forEach((series, k) => {
    if (!series.length) return;
    const colour = colours[k % colours.length];
    add('polyline', { points: series.map((p) => X(p[0]) + ',' + Y(p[1])).join(' '), fill: 'none', stroke: colour, 'stroke-width': 2 });
    for (const p of series) add('circle', { cx: X(p[0]), cy: Y(p[1]), r: 3, fill: colour });
    add('text', { x: W - 120, y: 20 + 14 * k, fill: colour, style: 'fill:' + colour }, keys[k]);
  });
  return el('div', { class: 'curve', 'data-keys': keys.join(','), style: 'display:inline-block;margin-right:12px' }, el('h3', {}, title), svg);
}
function curves() {
  if (!D.metrics.length) return;
  const keys = [...new Set(D.metrics.flatMap((m) => Object.keys(m)))];
  page.append(el('h2', {}, 'Training curves'), el('p', { class: 'note' }, D.metrics.length + ' epochs from the metrics file.'));
  page.append(el('div', {}, curve('Loss', keys.filter((k) => k.endsWith('loss'))), curve('Accuracy', keys.filter((k) => k.endsWith('accuracy'))),
    curve('mAP', keys.filter((k) => /(^|_)map(50)?$/.test(k)))));
}

// Per image: the class maps read back from their canvases (colour → class by the palette) against
// the embedded maps and against the argmax recomputed here from the last layer's scores; then
// real clicks on the maps, each opening a pixel's probabilities.
function segmentationSelfTest() {
  const [classes, height, width] = D.layers[scoreLayer].output, result = { maps: [], pixels: [] };
  const byColour = new Map(D.palette.map((colour, c) => [colour.join(','), c]));
  const readBack = (canvas, expected) => {
    const data = canvas.getContext('2d').getImageData(0, 0, width, height).data, counts = new Array(256).fill(0);
    let unknown = 0, differ = 0;
    for (let i = 0; i < width * height; ++i) {
      const c = byColour.get(data[4 * i] + ',' + data[4 * i + 1] + ',' + data[4 * i + 2]);
      if (c === undefined) ++unknown; else ++counts[c];
      if (c !== expected[i]) ++differ;
    }
    return { width: canvas.width, height: canvas.height, shown_width: canvas.getBoundingClientRect().width, unknown_colours: unknown, differ,
      counts: Object.fromEntries(counts.map((n, c) => [c, n]).filter(([, n]) => n)) };
  };
  const click = (canvas, y, x) => {
    const box = canvas.getBoundingClientRect();
    canvas.dispatchEvent(new MouseEvent('click', { bubbles: true, clientX: box.left + canvas.clientLeft + (x + 0.5) * canvas.clientWidth / width,
      clientY: box.top + canvas.clientTop + (y + 0.5) * canvas.clientHeight / height }));
    const sum = document.getElementById('pixel-sum'), cells = [...panel.querySelectorAll('#pixel-probabilities td[data-probability]')];
    result.pixels.push({ image: current, map: canvas.id, y, x, expected_index: y * width + x, index: Number(panel.dataset.index), open: !panel.hidden,
      layer: panel.dataset.layer, classes: cells.length, truth: truthMask(current) ? truthMask(current)[y * width + x] : null, sum: sum ? Number(sum.dataset.value) : null,
      probabilities: cells.map((cell) => Number(cell.dataset.probability)), ok: panel.dataset.ok });
  };
  D.images.forEach((image, i) => {
    show(i);
    const predicted = classMap(i), truth = truthMask(i), scores = activation(i, scoreLayer);
    let argmaxDiffer = 0;
    for (let at = 0; at < width * height; ++at)
      if (argmax(Array.from({ length: classes }, (_, k) => scores[k * width * height + at])) !== predicted[at]) ++argmaxDiffer;
    const mapCanvas = document.getElementById('class-map'), truthCanvas = document.getElementById('truth-map');
    result.maps.push({ image: i, predicted: mapCanvas ? readBack(mapCanvas, predicted) : null, argmax_differ: argmaxDiffer,
      has_truth: truth !== null, truth: truthCanvas && truth ? readBack(truthCanvas, truth) : null,
      legend_rows: document.querySelectorAll('#class-legend tr').length - 1 });
    if (!mapCanvas) return;
    // The middle, the first pixel predicted as a class other than 0, the first labelled so and the first without a class.
    click(mapCanvas, Math.floor(height / 2), Math.floor(width / 2));
    const object = predicted.findIndex((c) => c !== 0);
    if (object >= 0) click(mapCanvas, Math.floor(object / width), object % width);
    if (truthCanvas && truth) {
      const labelled = truth.findIndex((c) => c !== 0 && c !== 255), ignored = truth.indexOf(255);
      click(truthCanvas, labelled >= 0 ? Math.floor(labelled / width) : Math.floor(height / 2), labelled >= 0 ? labelled % width : Math.floor(width / 2));
      if (ignored >= 0) click(truthCanvas, Math.floor(ignored / width), ignored % width);
    }
  });
  show(0);
  return result;
}

// Per image: the boxes as drawn against the embedded detections and true boxes, the heat map
// against σ of the raw objectness recomputed here, the overlay's toggle; then real clicks: on the
// heat map at the surest cell and on the picture at each of the first two detections' centres,
// each opening that cell's decoding and drawing its box.
function detectionSelfTest() {
  const g = detectionGeometry(), cells = g.rows * g.columns, result = { images: [], cells: [] };
  const click = (id, target, y, x, detection) => {
    const svg = document.getElementById(id), box = svg.getBoundingClientRect();
    svg.dispatchEvent(new MouseEvent('click', { bubbles: true, clientX: box.left + x / g.width * box.width, clientY: box.top + y / g.height * box.height }));
    const drawn = document.getElementById('cell-box'), text = document.getElementById('cell-box-text');
    const at = Number(panel.dataset.index), stored = decodedCells(current).subarray(at * g.channels, at * g.channels + 5);
    const kept = detectionOfCell(current, Number(panel.dataset.row), Number(panel.dataset.column));
    result.cells.push({ image: current, target, expected_row: Math.min(g.rows - 1, Math.floor(y / g.cellHeight)), expected_column: Math.min(g.columns - 1, Math.floor(x / g.cellWidth)),
      row: Number(panel.dataset.row), column: Number(panel.dataset.column), open: !panel.hidden, layer: panel.dataset.layer, ok: panel.dataset.ok,
      drawn_box: drawn ? ['x', 'y', 'width', 'height'].map((a) => Number(drawn.getAttribute(a))) : null, box: text ? JSON.parse(text.dataset.box) : null,
      objectness: document.getElementById('cell-objectness') ? Number(document.getElementById('cell-objectness').dataset.value) : null,
      stored_objectness: stored[4], classes_shown: panel.querySelectorAll('#cell-classes td[data-probability]').length, kept,
      detection: detection === undefined ? null : detection });
  };
  D.images.forEach((image, i) => {
    show(i);
    const values = objectness(i), raw = activation(i, scoreLayer);
    let sigmoidDiffer = 0, best = 0;
    for (let k = 0; k < cells; ++k) {
      if (!(Math.abs(sigmoid(raw[4 * cells + k]) - values[k]) <= 1e-6)) ++sigmoidDiffer;
      if (values[k] > values[best]) best = k;
    }
    const heat = document.getElementById('objectness-map'), pixels = heat.getContext('2d').getImageData(0, 0, g.columns, g.rows).data;
    let heatDiffer = 0;
    for (let k = 0; k < cells; ++k) if (heatColour(values[k]).some((v, c) => v !== pixels[4 * k + c])) ++heatDiffer;
    const overlay = document.getElementById('objectness-overlay'), toggle = document.getElementById('heat-toggle'), hiddenBefore = overlay.hidden;
    toggle.click();
    const toggled = document.getElementById('objectness-overlay').hidden !== hiddenBefore;
    toggle.click();
    const drawnBoxes = [...document.querySelectorAll('#detection-boxes rect.detection')].reverse().map((r) => ['x', 'y', 'width', 'height'].map((a) => Number(r.getAttribute(a))));
    result.images.push({ image: i, detections: image.detections.length, drawn_detections: drawnBoxes.length,
      drawn_match: drawnBoxes.every((r, k) => { const b = image.detections[k].box; return r[0] === b[0] && r[1] === b[1] && Math.abs(r[2] - (b[2] - b[0])) < 1e-9 && Math.abs(r[3] - (b[3] - b[1])) < 1e-9; }),
      listed: document.getElementById('detection-list') ? document.querySelectorAll('#detection-list tr').length - 1 : 0, truths: image.truth_boxes ? image.truth_boxes.length : null,
      drawn_truths: document.querySelectorAll('#detection-boxes rect.truth').length, cells: values.length, grid: [heat.height, heat.width],
      shown_width: heat.getBoundingClientRect().width, sigmoid_differ: sigmoidDiffer, heat_differ: heatDiffer, toggled, best_objectness: values[best],
      scores: image.detections.map((d) => d.score) });
    click('objectness-grid', 'heat map', (Math.floor(best / g.columns) + 0.5) * g.cellHeight, (best % g.columns + 0.5) * g.cellWidth);
    // At the centre of the cell each detection came from (a box clipped at the edge has its centre elsewhere).
    image.detections.slice(0, 2).forEach((d, k) => { const c = cellOfDetection(d); click('detection-boxes', 'picture', (c.row + 0.5) * g.cellHeight, (c.column + 0.5) * g.cellWidth, k); });
  });
  show(0);
  return result;
}

// ---- the self-test (#selftest): what the browser test reads back ----
function selfTest() {
  const report = { errors: pageErrors, resources: performance.getEntriesByType('resource').map((e) => e.name), images: [], neurons: [], clicks: [], probabilities: [] };
  for (const image of document.images) report.images.push({ alt: image.alt, complete: image.complete, naturalWidth: image.naturalWidth });
  D.images.forEach((_, i) => {
    show(i);
    D.layers.forEach((layer, l) => {
      const values = activation(i, l);
      let pick = 0;
      for (let k = 1; k < values.length; ++k) if (Math.abs(values[k]) > Math.abs(values[pick])) pick = k;
      const result = explain(l, pick);
      report.neurons.push({ image: i, layer: layer.name, type: layer.type, index: pick, explained: result !== null,
        computed: result ? Number(document.getElementById('arith-computed').dataset.value) : null,
        stored: Number(document.getElementById('arith-stored').dataset.value), ok: panel.dataset.ok === 'true' });
    });
    if (D.classifies) D.images[i].probabilities.forEach((_, c) => {
      const result = explainProbability(c);
      report.neurons.push({ image: i, layer: 'softmax', type: 'softmax', index: c, explained: true, computed: result.computed, stored: result.stored, ok: panel.dataset.ok === 'true' });
    });
  });
  // Real clicks, as a person makes them: the middle of each layer's first map, for the first image.
  show(0);
  for (const canvas of flow.querySelectorAll('canvas[data-channel="0"]')) {
    const box = canvas.getBoundingClientRect();
    canvas.dispatchEvent(new MouseEvent('click', { bubbles: true, clientX: box.left + box.width / 2, clientY: box.top + box.height / 2 }));
    const computed = document.getElementById('arith-computed'), stored = document.getElementById('arith-stored');
    report.clicks.push({ layer: panel.dataset.layer, index: Number(panel.dataset.index), open: !panel.hidden,
      computed: computed ? Number(computed.dataset.value) : null, shown: computed ? computed.textContent : null,
      stored: stored ? Number(stored.dataset.value) : null, ok: panel.dataset.ok });
  }
  if (D.segments) report.segmentation = segmentationSelfTest();
  if (D.detects) report.detection = detectionSelfTest();
  for (const cell of document.querySelectorAll('#all-probabilities td[data-probability]'))
    report.probabilities.push({ image: Number(cell.dataset.image), class: Number(cell.dataset.class), probability: Number(cell.dataset.probability) });
  report.curves = [...document.querySelectorAll('div.curve')].map((curve) => ({ title: curve.querySelector('h3').textContent, keys: curve.dataset.keys.split(',') }));
  report.canvases = document.querySelectorAll('canvas').length;
  report.errors = pageErrors.slice();
  // Leave a convolution's arithmetic open for the screenshot.
  const convolution = D.layers.findIndex((layer, l) => layer.type === 'conv2d' && l > 0);
  if (convolution >= 0) explain(convolution, Math.floor(activation(0, convolution).length / 2) + Math.floor(D.layers[convolution].output[2] / 2));
  page.append(el('pre', { id: 'selftest' }, JSON.stringify(report)));
}

header();
architecture();
filters();
picker();
page.append(el('h2', {}, D.segments ? 'Predicted classes, pixel by pixel' : D.detects ? 'Objects found, cell by cell' : 'Probabilities'), probabilityBlock);
if (D.classifies) page.append(allProbabilities());
show(0);
accuracy();
if (D.segments) page.append(el('p', { class: 'note' }, 'The test split\'s pixel accuracy, IoU per class and pixel confusion matrix: ',
  el('code', {}, 'convnet eval --weights W --data DIR --confusion confusion.svg'), '.'));
if (D.detects) page.append(el('p', { class: 'note' }, 'The test split\'s mAP@0.5, COCO mAP and each class\'s AP, precision and recall: ',
  el('code', {}, 'convnet eval --weights W --data DIR'), '.'));
curves();
if (location.hash === '#selftest') window.addEventListener('load', selfTest);
)JS";

}  // namespace convnet
