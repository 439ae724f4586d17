// What `npm pack` ships and how systemd runs it, checked without installing: the files the
// package lists hold everything the installed command loads (no require reaches the tests or
// the bench scripts, which stay out of the tarball), and packaging/mamori.service carries the
// hardening docs/runbook-consortium.md promises. `scripts/check-package.sh` (CI) installs the
// tarball for real and runs `systemd-analyze verify` on the unit.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../../..');
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');

/** The unit's settings: every `Key=value` line, by key (a key may repeat). */
function unitSettings(text: string): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) settings.set(m[1] as string, [...(settings.get(m[1] as string) ?? []), m[2] as string]);
  }
  return settings;
}

function jsFilesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? jsFilesUnder(p) : e.name.endsWith('.js') ? [p] : [];
  });
}

describe('unit: packaging (npm pack contents, systemd unit)', () => {
  const pkg = JSON.parse(read('package.json')) as { files: string[]; bin: Record<string, string>; main: string; exports: Record<string, { default: string }> };
  const packaged = (file: string) => pkg.files.some((entry) => file === entry || file.startsWith(`${entry}/`));

  it('lists the command, the library entry points and the unit in the package files', () => {
    expect(packaged(pkg.bin.mamori as string)).to.equal(true);
    expect(packaged(pkg.main)).to.equal(true);
    for (const entry of Object.values(pkg.exports).filter((e) => typeof e === 'object')) expect(packaged(entry.default.replace(/^\.\//, '')), entry.default).to.equal(true);
    expect(packaged('packaging/mamori.service')).to.equal(true);
    expect(packaged('dist/test/unit/packaging.test.js')).to.equal(false);
    expect(packaged('dist/scripts/bench.js')).to.equal(false);
  });

  it('ships every module the packaged code requires', () => {
    const roots = pkg.files.filter((f) => f.startsWith('dist/')).map((f) => path.join(ROOT, f));
    const outside: string[] = [];
    for (const file of roots.flatMap(jsFilesUnder)) {
      for (const m of fs.readFileSync(file, 'utf8').matchAll(/require\("(\.{1,2}\/[^"]+)"\)/g)) {
        const base = path.resolve(path.dirname(file), m[1] as string);
        const target = [base, `${base}.js`, `${base}.json`, path.join(base, 'index.js')].find((c) => fs.existsSync(c) && fs.statSync(c).isFile());
        const relative = target && path.relative(ROOT, target);
        if (!relative || !packaged(relative)) outside.push(`${path.relative(ROOT, file)} → ${m[1]}`);
      }
    }
    expect(outside).to.deep.equal([]);
  });

  it('runs the node as a dedicated user with a hardened sandbox, writable only in its directory', () => {
    const unit = unitSettings(read('packaging/mamori.service'));
    const one = (key: string) => (unit.get(key) ?? []).join(' | ');
    expect(one('User')).to.equal('mamori');
    expect(one('Group')).to.equal('mamori');
    expect(one('ExecStart')).to.equal('/usr/local/bin/mamori start --config /var/lib/mamori/node.json');
    expect(one('NoNewPrivileges')).to.equal('yes');
    expect(one('ProtectSystem')).to.equal('strict');
    expect(one('ReadWritePaths')).to.equal('/var/lib/mamori');
    expect(one('PrivateTmp')).to.equal('yes');
    expect(one('ProtectHome')).to.equal('yes');
    expect(one('PrivateDevices')).to.equal('yes');
    expect(unit.get('CapabilityBoundingSet')).to.deep.equal(['']);
    expect(one('RestrictAddressFamilies')).to.equal('AF_INET AF_INET6 AF_UNIX');
    expect(one('Restart')).to.equal('on-failure');
    expect(one('KillSignal')).to.equal('SIGTERM');
    // V8 compiles to writable executable memory: this setting would stop node at start.
    expect(unit.has('MemoryDenyWriteExecute')).to.equal(false);
    // The member directory of the runbook is the unit's writable path, and the config inside it.
    expect(read('docs/runbook-consortium.md')).to.contain('--dir /var/lib/mamori').and.to.contain('packaging/mamori.service');
  });
});
