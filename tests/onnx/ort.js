// ONNX Runtime (onnxruntime-node, CPU execution provider) for scripts/check_onnx.py and
// bench/onnx_bench.py: float32 in and out through raw files, one JSON line on stdout.
//   node ort.js run MODEL.onnx INPUT.f32 N,C,H,W OUTPUT.f32 THREADS
//       the whole batch, then its first image alone (the symbolic batch); writes the batch's
//       output, then the single image's, one after the other
//   node ort.js bench MODEL.onnx INPUT.f32 N,C,H,W THREADS COUNT WARMUP BATCH
//       batch-1 latency (median, p99 over COUNT images after WARMUP), then the throughput of
//       one pass over the N images in batches of BATCH (after one untimed batch)
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, 'node_modules', 'onnxruntime-node'));

async function session(model, threads) {
  return ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
}

function readInput(file, dims) {
  const bytes = fs.readFileSync(file);
  const data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  const size = dims.reduce((a, b) => a * b, 1);
  if (data.length !== size) throw new Error(`${file}: ${data.length} values, expected ${size} (${dims.join('x')})`);
  return data;
}

async function infer(model, data, dims) {
  const feeds = {};
  feeds[model.inputNames[0]] = new ort.Tensor('float32', data, dims);
  const results = await model.run(feeds);
  return results[model.outputNames[0]];
}

async function main() {
  const [command, modelFile, inputFile, shape, ...rest] = process.argv.slice(2);
  const dims = shape.split(',').map(Number);
  const data = readInput(inputFile, dims);
  const one = [1, ...dims.slice(1)];
  const perImage = data.length / dims[0];
  if (command === 'run') {
    const [outputFile, threads] = rest;
    const model = await session(modelFile, Number(threads));
    const batch = await infer(model, data, dims);
    const single = await infer(model, data.slice(0, perImage), one);
    fs.writeFileSync(outputFile, Buffer.concat([Buffer.from(batch.data.buffer, batch.data.byteOffset, batch.data.byteLength),
                                                Buffer.from(single.data.buffer, single.data.byteOffset, single.data.byteLength)]));
    console.log(JSON.stringify({system: 'onnxruntime', version: ort.env.versions.node, output_dims: batch.dims, single_dims: single.dims}));
  } else if (command === 'bench') {
    const [threads, count, warmup, batch] = rest.map(Number);
    const model = await session(modelFile, threads);
    const images = dims[0];
    const times = [];
    for (let i = 0; i < warmup + count; ++i) {
      const start = (i % images) * perImage;
      const begin = process.hrtime.bigint();
      await infer(model, data.subarray(start, start + perImage), one);
      if (i >= warmup) times.push(Number(process.hrtime.bigint() - begin) / 1000);
    }
    times.sort((a, b) => a - b);
    const batchDims = [batch, ...dims.slice(1)];
    await infer(model, data.subarray(0, batch * perImage), batchDims);
    const batches = Math.floor(images / batch);
    const begin = process.hrtime.bigint();
    for (let b = 0; b < batches; ++b) await infer(model, data.subarray(b * batch * perImage, (b + 1) * batch * perImage), batchDims);
    const seconds = Number(process.hrtime.bigint() - begin) / 1e9;
    console.log(JSON.stringify({system: 'onnxruntime', version: ort.env.versions.node, threads, count, warmup,
                                median_us: times[Math.floor(0.5 * (times.length - 1))], p99_us: times[Math.floor(0.99 * (times.length - 1))],
                                batch, images: batches * batch, images_per_second: batches * batch / seconds}));
  } else {
    throw new Error(`unknown command ${command} (run or bench)`);
  }
}

main().catch((error) => {
  console.error(`ort.js: ${error.message}`);
  process.exit(1);
});
