// bench/tokenizer/hf_anchor.js — the anchor of the tokenizer benchmark: Hugging Face
// tokenizers (npm package `tokenizers`, the Rust library through its Node binding) measured
// on the same inputs and in the same way as tokenizer_bench.cpp:
//   load_s            Tokenizer.fromFile(tokenizer.json), seconds
//   encode_cold_mb_s  one encode of long_text.txt on a freshly loaded tokenizer
//   encode_warm_mb_s  the same text again on the same tokenizer
//   batch_mb_s        encodeBatch of long_text.txt cut after each "\n\n" (all threads: rayon)
// Each figure is the median of `--repeats` runs; MB = 10^6 bytes of UTF-8 input; encodes use
// addSpecialTokens: false, as dsv4 encode does. Prints one JSON object on stdout.
//
//   node hf_anchor.js --tokenizer tokenizer.json --text long_text.txt [--repeats 7]
// `tokenizers` is resolved from NODE_PATH (report.sh installs it into the build folder).
'use strict';

const fs = require('fs');
const os = require('os');

function parse_args(argv) {
  const args = { repeats: 7 };
  for (let i = 2; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    if (i + 1 >= argv.length) throw new Error(`missing value for ${argv[i]}`);
    args[key] = key === 'repeats' ? Number(argv[i + 1]) : argv[i + 1];
  }
  if (!args.tokenizer || !args.text) throw new Error('usage: hf_anchor.js --tokenizer FILE --text FILE [--repeats N]');
  return args;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function seconds_since(t0) {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

// The documents of the batch, cut as tokenizer_bench.cpp cuts them (the text is ASCII, so
// JavaScript string indices are byte offsets; each document keeps its "\n\n").
function documents(text) {
  const docs = [];
  let begin = 0;
  while (begin < text.length) {
    const cut = text.indexOf('\n\n', begin);
    const end = cut < 0 ? text.length : cut + 2;
    docs.push(text.slice(begin, end));
    begin = end;
  }
  return docs;
}

async function main() {
  const args = parse_args(process.argv);
  const { Tokenizer } = require('tokenizers');
  const version = require('tokenizers/package.json').version;
  const text = fs.readFileSync(args.text, 'utf8');
  const bytes = Buffer.byteLength(text, 'utf8');
  const options = { addSpecialTokens: false };
  const mb = (s) => bytes / s / 1e6;

  const load = [], cold = [], warm = [], batch = [];
  let ids = 0;
  for (let r = 0; r < args.repeats; ++r) {
    let t0 = process.hrtime.bigint();
    const tok = Tokenizer.fromFile(args.tokenizer);
    load.push(seconds_since(t0));
    t0 = process.hrtime.bigint();
    const enc = await tok.encode(text, null, options);
    cold.push(seconds_since(t0));
    ids = enc.getIds().length;
  }
  const tok = Tokenizer.fromFile(args.tokenizer);
  await tok.encode(text, null, options);
  for (let r = 0; r < args.repeats; ++r) {
    const t0 = process.hrtime.bigint();
    await tok.encode(text, null, options);
    warm.push(seconds_since(t0));
  }
  const docs = documents(text);
  let batch_ids = 0;
  for (const e of await tok.encodeBatch(docs, options)) batch_ids += e.getIds().length;
  for (let r = 0; r < args.repeats; ++r) {
    const t0 = process.hrtime.bigint();
    await tok.encodeBatch(docs, options);
    batch.push(seconds_since(t0));
  }
  const out = {
    library: 'tokenizers',
    version,
    node: process.version,
    bytes,
    repeats: args.repeats,
    load_s: median(load),
    encode_cold_mb_s: mb(median(cold)),
    encode_warm_mb_s: mb(median(warm)),
    batch_documents: docs.length,
    batch_threads: os.availableParallelism ? os.availableParallelism() : os.cpus().length,
    batch_mb_s: mb(median(batch)),
    ids,
    batch_ids,
  };
  process.stdout.write(JSON.stringify(out, null, 1) + '\n');
}

main().catch((e) => {
  process.stderr.write(`hf_anchor.js: ${e.message}\n`);
  process.exit(1);
});
