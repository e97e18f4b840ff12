// ONNX Runtime side of bench/compare: one long-lived process per session,
// driven by JSON lines on stdin, answering one JSON line per command on
// stdout. Session: CPU, 1 intra-op thread, 1 inter-op thread, sequential
// execution, graph optimisation level "all" (ORT_ENABLE_ALL).
//
// Commands:
//   {"op":"load","model":PATH,"input":NCHW_F32_PATH}
//       -> {"ok":true,"version":V,"load_ms":T,"input_dims":[...]}
//   {"op":"latency","runs":N,"warmup":W}   -> {"ok":true,"samples_ms":[...]}
//   {"op":"logits","output":PATH}          -> {"ok":true}  (raw float32)
//   {"op":"throughput","start_at_ms":EPOCH_MS,"duration_s":D}
//       -> {"ok":true,"count":N,"t_start_ms":A,"t_end_ms":B}
//      Runs inferences back to back from the wall-clock instant start_at_ms
//      until start_at_ms + D (finishing the one in flight), so that two
//      processes given the same instant run side by side.
//   {"op":"quit"}
//
// Why separate processes for the parallel run: in onnxruntime-node
// session.run() does its work on the JavaScript thread, so two sessions in
// one process awaited with Promise.all run one after the other (measured
// here: 2 x 10 runs took 2.0x the time of 10), not in parallel.
import { createInterface } from 'node:readline';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as ort from 'onnxruntime-node';

const require = createRequire(import.meta.url);
const version = require('onnxruntime-node/package.json').version;

let session = null;
let feeds = null;
let outputName = null;

const nowMs = () => performance.timeOrigin + performance.now();
const send = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

async function load(cmd) {
  const t0 = performance.now();
  session = await ort.InferenceSession.create(cmd.model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const loadMs = performance.now() - t0;
  const buf = readFileSync(cmd.input);
  const data = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const n = data.length;
  const res = Math.round(Math.sqrt(n / 3));
  if (res * res * 3 !== n) throw new Error(`input ${cmd.input}: ${n} floats is not 3xRxR`);
  const dims = [1, 3, res, res];
  feeds = { [session.inputNames[0]]: new ort.Tensor('float32', Float32Array.from(data), dims) };
  outputName = session.outputNames[0];
  return { version, load_ms: loadMs, input_dims: dims };
}

async function latency(cmd) {
  for (let i = 0; i < (cmd.warmup ?? 5); i++) await session.run(feeds);
  const samples = [];
  for (let i = 0; i < cmd.runs; i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return { samples_ms: samples };
}

async function logits(cmd) {
  const out = await session.run(feeds);
  const t = out[outputName];
  writeFileSync(cmd.output, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  return {};
}

async function throughput(cmd) {
  await session.run(feeds); // warm
  // Sleep most of the wait, then spin the last few milliseconds.
  const wait = cmd.start_at_ms - nowMs() - 5;
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  while (nowMs() < cmd.start_at_ms) { /* spin */ }
  const tStart = nowMs();
  const deadline = cmd.start_at_ms + cmd.duration_s * 1000;
  let count = 0;
  let t = tStart;
  while (t < deadline) {
    await session.run(feeds);
    count++;
    t = nowMs();
  }
  return { count, t_start_ms: tStart, t_end_ms: t };
}

const ops = { load, latency, logits, throughput };

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    send({ ok: false, error: `bad command: ${e.message}` });
    continue;
  }
  if (cmd.op === 'quit') break;
  const fn = ops[cmd.op];
  if (!fn || (cmd.op !== 'load' && !session)) {
    send({ ok: false, error: fn ? 'no model loaded' : `unknown op ${cmd.op}` });
    continue;
  }
  try {
    send({ ok: true, ...(await fn(cmd)) });
  } catch (e) {
    send({ ok: false, error: String(e && e.message ? e.message : e) });
  }
}
process.exit(0);
