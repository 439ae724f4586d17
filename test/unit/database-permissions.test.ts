// The node's SQLite files (database, WAL, shared memory) are created 0600 whatever the umask,
// an older node's 0644 files are narrowed, and the data directory is 0700: checked by stat.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sodiumReady } from '../../proto/ts/sodium';
import { openDatabase } from '../../node/src/store/database';
import { makeConsortium, memberOf, startInProcessNode, tempDir } from '../helpers/node-harness';

const modeOf = (file: string) => fs.statSync(file).mode & 0o777;

describe('unit: database file permissions', function () {
  let umask: number;
  before(async () => {
    await sodiumReady();
    umask = process.umask(0o022); // the usual default: files 0644 unless created otherwise
  });
  after(() => {
    process.umask(umask);
  });

  it('creates the database, its WAL and its shared-memory file 0600', () => {
    const file = path.join(tempDir(), 'mamori.db');
    const db = openDatabase(file);
    try {
      db.exec('CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);');
      for (const f of [file, `${file}-wal`, `${file}-shm`]) {
        expect(fs.existsSync(f), f).to.equal(true);
        expect(modeOf(f).toString(8), f).to.equal('600');
      }
    } finally {
      db.close();
    }
  });

  it("narrows an older node's 0644 database files to 0600 when it opens them", () => {
    const file = path.join(tempDir(), 'mamori.db');
    openDatabase(file).close();
    fs.chmodSync(file, 0o644);
    const db = openDatabase(file);
    try {
      db.exec('CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);');
      for (const f of [file, `${file}-wal`, `${file}-shm`]) expect(modeOf(f).toString(8), f).to.equal('600');
    } finally {
      db.close();
    }
  });

  it('runs a node with its data directory 0700 (narrowed if it was wider) and every SQLite file 0600', async () => {
    const layout = await makeConsortium();
    const dataDir = path.join(path.dirname(memberOf(layout, 'psp-c').nodeConfig), 'data');
    fs.mkdirSync(dataDir, { mode: 0o755 });
    fs.chmodSync(dataDir, 0o755);
    const node = await startInProcessNode(layout, 'psp-c');
    try {
      expect(modeOf(dataDir).toString(8)).to.equal('700');
      const sqlite = fs.readdirSync(dataDir).filter((f) => /^mamori\.db(-wal|-shm)?$/.test(f));
      expect(sqlite).to.include.members(['mamori.db', 'mamori.db-wal', 'mamori.db-shm']);
      for (const f of sqlite) expect(modeOf(path.join(dataDir, f)).toString(8), f).to.equal('600');
      expect(node.logLines.some((l) => l.includes('narrowed to 0700'))).to.equal(true);
    } finally {
      await node.stop();
    }
  });
});
