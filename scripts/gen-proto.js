#!/usr/bin/env node
// Generates TypeScript message types with the same loader options the runtime uses
// (proto/loader-options.json), so generated types match runtime values.
'use strict';
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const fs = require('node:fs');

const root = path.resolve(__dirname, '..');
const options = JSON.parse(fs.readFileSync(path.join(root, 'proto/loader-options.json'), 'utf8'));
const outDir = path.join(root, 'proto/gen');
fs.rmSync(outDir, { recursive: true, force: true });

const args = ['--grpcLib=@grpc/grpc-js', `--outDir=${outDir}`, `--includeDirs=${path.join(root, 'proto')}`];
for (const [name, value] of Object.entries(options)) {
  if (value === true) args.push(`--${name}`);
  else if (value !== false) args.push(`--${name}=${value}`);
}
args.push('mamori/v1/ledger.proto', 'mamori/v1/exchange.proto', 'mamori/v1/replication.proto');
execFileSync(process.execPath, [require.resolve('@grpc/proto-loader/build/bin/proto-loader-gen-types.js'), ...args], {
  cwd: path.join(root, 'proto'),
  stdio: 'inherit',
});
