// Classifies PNG images with an ONNX model exported by `convnet export`, in ONNX Runtime: the
// README's walk-through, and a check that the export needs nothing from convnet at run time.
//   node tests/onnx/classify.js MODEL.onnx [--classes classes.txt] IMAGE.png ...
// A PNG must have the model's input size and be 8-bit grey, grey+alpha, RGB or RGBA without
// interlacing (convnet predict takes any size and format); pixels are prepared as convnet
// prepares them: value / 255, colour to grey by BT.601 luma in PIL's fixed point, alpha over
// black. Prints the top 3 classes with softmax probabilities, as convnet predict does.
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const ort = require(path.join(__dirname, 'node_modules', 'onnxruntime-node'));

// Unfiltered 8-bit samples of a non-interlaced PNG: {width, height, channels, samples}.
function decodePng(file) {
  const bytes = fs.readFileSync(file);
  if (bytes.subarray(0, 8).toString('latin1') !== '\x89PNG\r\n\x1a\n') throw new Error(`${file}: not a PNG`);
  let offset = 8, header = null;
  const compressed = [];
  while (offset + 8 <= bytes.length) {
    const length = bytes.readUInt32BE(offset), type = bytes.toString('latin1', offset + 4, offset + 8);
    const data = bytes.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') header = {width: data.readUInt32BE(0), height: data.readUInt32BE(4), depth: data[8], colour: data[9], interlace: data[12]};
    if (type === 'IDAT') compressed.push(data);
    offset += 12 + length;
  }
  const channels = {0: 1, 4: 2, 2: 3, 6: 4}[header && header.colour];
  if (!header || header.depth !== 8 || !channels || header.interlace !== 0)
    throw new Error(`${file}: this example reads 8-bit grey or RGB PNGs without interlacing (convnet predict reads any)`);
  const raw = zlib.inflateSync(Buffer.concat(compressed));
  const stride = header.width * channels, samples = Buffer.alloc(stride * header.height);
  for (let y = 0; y < header.height; ++y) {
    const filter = raw[y * (stride + 1)], row = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; ++x) {
      const a = x >= channels ? samples[y * stride + x - channels] : 0, b = y > 0 ? samples[(y - 1) * stride + x] : 0;
      const c = x >= channels && y > 0 ? samples[(y - 1) * stride + x - channels] : 0;
      const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      const predictor = [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][filter];
      samples[y * stride + x] = (row[x] + predictor) & 0xff;
    }
  }
  return {width: header.width, height: header.height, channels, samples};
}

// (C, H, W) floats for the model's input, as convnet's to_network_input for an image of its size.
function toInput(image, [channels, height, width], file) {
  if (image.width !== width || image.height !== height) throw new Error(`${file}: ${image.width}x${image.height}, the model takes ${width}x${height}`);
  const input = new Float32Array(channels * height * width), colour = image.channels >= 3, alpha = image.channels % 2 === 0;
  for (let i = 0; i < height * width; ++i) {
    const pixel = image.samples.subarray(i * image.channels, (i + 1) * image.channels);
    const over = (v) => (alpha ? Math.round((v * pixel[image.channels - 1]) / 255) : v);
    const rgb = colour ? [over(pixel[0]), over(pixel[1]), over(pixel[2])] : [over(pixel[0]), over(pixel[0]), over(pixel[0])];
    const grey = (19595 * rgb[0] + 38470 * rgb[1] + 7471 * rgb[2] + 32768) >> 16;
    for (let c = 0; c < channels; ++c) input[c * height * width + i] = (channels === 1 ? grey : rgb[c]) / 255;
  }
  return input;
}

async function main() {
  const args = process.argv.slice(2);
  const classesAt = args.indexOf('--classes');
  const names = classesAt >= 0 ? fs.readFileSync(args.splice(classesAt, 2)[1], 'utf8').split(/\r?\n/).filter((n) => n) : [];
  const [modelFile, ...images] = args;
  if (!modelFile || images.length === 0 || modelFile.startsWith('-')) {
    console.error('usage: node tests/onnx/classify.js MODEL.onnx [--classes classes.txt] IMAGE.png ...');
    process.exit(2);
  }
  const session = await ort.InferenceSession.create(modelFile, {executionProviders: ['cpu']});
  const shape = session.inputMetadata[0].shape.slice(1);  // (C, H, W) after the symbolic batch
  for (const file of images) {
    const image = decodePng(file);
    const feeds = {[session.inputNames[0]]: new ort.Tensor('float32', toInput(image, shape, file), [1, ...shape])};
    const logits = (await session.run(feeds))[session.outputNames[0]].data;
    const largest = Math.max(...logits), exps = Array.from(logits, (v) => Math.exp(v - largest));
    const total = exps.reduce((a, b) => a + b, 0);
    const top = exps.map((e, c) => [c, e / total]).sort((a, b) => b[1] - a[1]).slice(0, 3);
    console.log(`${file}: ` + top.map(([c, p]) => `${names[c] || c} ${p.toFixed(4)}`).join(' | '));
  }
}

main().catch((error) => {
  console.error(`classify.js: ${error.message}`);
  process.exit(1);
});
