// The Hub protocol at the HTTP level (specs/hf-protocol.md), endpoint by endpoint, with raw
// fetch (redirects not followed): status codes, headers and bodies as the spec's tables say,
// for every revision encoding the two clients send, every X-Error-Code grove emits, the ETag
// rules, Range, HEAD, CORS, repo renames (307) and pull requests (refused with 400).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  startHub, cleanupTemp, sha256, safetensors, postCommit, ndjson, fileEntry, lfsEntry, uploadLfs, readAnswer,
} from './lib/hub.mjs';

let hub;
let alice; // write token of alice
let aliceRead; // read-only token of alice
let bob; // write token of bob
const REPO = 'alice/proto';
const files = {
  'config.json': '{"model_type":"llama","hidden_size":64}\n',
  'README.md': '---\nlicense: mit\nlibrary_name: transformers\n---\n# proto\n',
  'sub/dir/notes.txt': 'nested file\n',
  'empty.txt': '',
};
const weights = safetensors({ w: { dtype: 'F32', shape: [32, 32] } });
let c1; // first commit on main (tagged v1.0, the start of feature/x)
let c2; // head of main: config.json changed
let cf; // head of feature/x
const config2 = '{"model_type":"llama","hidden_size":128}\n';

const gitBlobSha1 = (buf) => createHash('sha1').update(`blob ${Buffer.byteLength(buf)}\0`).update(buf).digest('hex');
const HEX40 = /^[0-9a-f]{40}$/;

// fetch without following redirects; returns readAnswer()'s {status, headers, body, text}.
async function req(p, { method = 'GET', token, headers = {}, body } = {}) {
  return readAnswer(await hub.fetch(p, { method, token, headers, body, redirect: 'manual' }));
}

function assertError(a, status, code, what) {
  assert.equal(a.status, status, `${what}: status (${a.text})`);
  assert.equal(a.headers.get('x-error-code'), code, `${what}: X-Error-Code`);
  assert.ok(a.headers.get('x-error-message'), `${what}: X-Error-Message`);
  assert.match(a.headers.get('x-request-id') ?? '', /^[0-9a-f]+$/, `${what}: X-Request-Id`);
  assert.match(a.headers.get('content-type') ?? '', /^application\/json/, `${what}: JSON body`);
  assert.equal(typeof a.body.error, 'string', `${what}: {"error": ...}`);
}

function assertNoXet(headers, what) {
  for (const [k] of headers) assert.ok(!k.startsWith('x-xet'), `${what}: no Xet header (${k})`);
  assert.ok(!(headers.get('content-type') ?? '').includes('xet'), `${what}: not a Xet content type`);
  assert.ok(!/xet/.test(headers.get('link') ?? ''), `${what}: no Xet Link`);
}

before(async () => {
  hub = await startHub();
  alice = await hub.token('alice');
  aliceRead = await hub.token('alice', 'read');
  bob = await hub.token('bob');
  const made = await req('/api/repos/create', { method: 'POST', token: alice, body: JSON.stringify({ name: 'proto', organization: 'alice' }) });
  assert.equal(made.status, 200, made.text);
  const oid = await uploadLfs(hub, REPO, weights, { token: alice });
  const first = await postCommit(hub, REPO, ndjson('first', [
    ...Object.entries(files).map(([p, c]) => fileEntry(p, c)),
    lfsEntry('model.safetensors', oid, weights.length),
  ]), { token: alice });
  assert.equal(first.status, 200, first.text);
  c1 = first.body.commitOid;
  for (const [kind, name, body] of [['branch', 'feature%2Fx', { startingPoint: c1 }], ['tag', c1, { tag: 'v1.0' }]]) {
    const a = await req(`/api/models/${REPO}/${kind}/${name}`, { method: 'POST', token: alice, body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
    assert.equal(a.status, 200, `create ${kind}: ${a.text}`);
  }
  const second = await postCommit(hub, REPO, ndjson('second', [fileEntry('config.json', config2)]), { token: alice });
  assert.equal(second.status, 200, second.text);
  c2 = second.body.commitOid;
  const onBranch = await postCommit(hub, REPO, ndjson('on feature/x', [fileEntry('branch.txt', 'only here\n')]), { token: alice, branch: 'feature/x' });
  assert.equal(onBranch.status, 200, onBranch.text);
  cf = onBranch.body.commitOid;
});

after(async () => {
  if (hub) await hub.stopOk();
  await cleanupTemp();
});

// Every way a revision reaches the server (§2.3): [label, as sent in the URL, commit it names].
function revisions() {
  return [
    ['branch', 'main', c2],
    ['HEAD', 'HEAD', c2],
    ['branch with "/" encoded (%2F)', 'feature%2Fx', cf],
    ['branch with "/" raw', 'feature/x', cf],
    ['tag', 'v1.0', c1],
    ['40-hex commit', c1, c1],
    // Abbreviated commits as git takes them (grove's decision, §2.3 leaves it open): 7 to 39
    // lowercase hex digits naming one commit of the repo.
    ['7-hex short commit', c1.slice(0, 7), c1],
    ['12-hex short commit', cf.slice(0, 12), cf],
  ];
}

test('resolve and raw: every revision encoding gives the content with X-Repo-Commit', async () => {
  for (const [label, rev, commit] of revisions()) {
    for (const route of ['resolve', 'raw']) {
      const a = await req(`/${REPO}/${route}/${rev}/sub/dir/notes.txt`);
      assert.equal(a.status, 200, `${route} ${label}: ${a.text}`);
      assert.equal(a.text, files['sub/dir/notes.txt'], `${route} ${label}`);
      assert.equal(a.headers.get('x-repo-commit'), commit, `${route} ${label}: X-Repo-Commit`);
    }
    // Python quotes the path keeping '/', JS sends it raw; an encoded path segment works too.
    const enc = await req(`/${REPO}/resolve/${rev}/sub%2Fdir%2Fnotes.txt`);
    assert.equal(enc.status, 200, `resolve ${label} with an encoded path`);
  }
  const main = await req(`/${REPO}/resolve/main/config.json`);
  assert.equal(main.text, config2, 'main has the second config');
  const tagged = await req(`/${REPO}/resolve/v1.0/config.json`);
  assert.equal(tagged.text, files['config.json'], 'the tag has the first config');
});

test('model info, tree, paths-info and commits accept every revision encoding', async () => {
  for (const [label, rev, commit] of revisions()) {
    const info = await req(`/api/models/${REPO}/revision/${rev}`);
    assert.equal(info.status, 200, `info ${label}: ${info.text}`);
    assert.equal(info.body.sha, commit, `info ${label}`);
    // JS sends the tree revision raw, Python encodes it and the path with '/' as %2F.
    for (const tree of [`tree/${rev}/sub/dir`, `tree/${encodeURIComponent(decodeURIComponent(rev))}/sub%2Fdir`]) {
      const a = await req(`/api/models/${REPO}/${tree}`);
      assert.equal(a.status, 200, `${tree} (${label}): ${a.text}`);
      assert.deepEqual(a.body.map((e) => e.path), ['sub/dir/notes.txt'], `${tree} (${label})`);
      assert.equal(a.headers.get('x-repo-commit'), commit);
    }
    const pi = await req(`/api/models/${REPO}/paths-info/${encodeURIComponent(decodeURIComponent(rev))}`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ paths: ['config.json'], expand: false }),
    });
    assert.equal(pi.status, 200, `paths-info ${label}: ${pi.text}`);
    assert.equal(pi.body.length, 1);
    const commits = await req(`/api/models/${REPO}/commits/${rev}`);
    assert.equal(commits.status, 200, `commits ${label}: ${commits.text}`);
    assert.equal(commits.body[0].id, commit, `commits ${label}`);
    assert.equal(commits.headers.get('x-total-count'), String(commits.body.length), `commits ${label}: X-Total-Count`);
  }
  // Python sends no revision segment at all for the default branch.
  const bare = await req(`/api/models/${REPO}`);
  assert.equal(bare.body.sha, c2);
});

test('refs/pr/N, refs/convert/X, too short and unknown commits: 404 RevisionNotFound everywhere', async () => {
  const missing = ['refs%2Fpr%2F1', 'refs/pr/1', 'refs%2Fconvert%2Fparquet', c1.slice(0, 6), `g${c1.slice(1, 12)}`,
    '0'.repeat(12), '0'.repeat(40), 'no-such-branch'];
  for (const rev of missing) {
    for (const [method, p, body] of [
      ['GET', `/${REPO}/resolve/${rev}/config.json`],
      ['HEAD', `/${REPO}/resolve/${rev}/config.json`],
      ['GET', `/${REPO}/raw/${rev}/config.json`],
      ['GET', `/api/models/${REPO}/revision/${rev}`],
      ['GET', `/api/models/${REPO}/tree/${rev}`],
      ['GET', `/api/models/${REPO}/commits/${rev}`],
      ['POST', `/api/models/${REPO}/paths-info/${rev}`, 'paths=config.json'],
    ]) {
      const a = await req(p, { method, body, headers: body ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {} });
      assert.equal(a.status, 404, `${method} ${p}`);
      assert.equal(a.headers.get('x-error-code'), 'RevisionNotFound', `${method} ${p}`);
      if (method === 'GET' && p.includes('refs')) assert.match(a.body.error, /refs\/(pr|convert)/, `${p} names the revision`);
    }
  }
  const pr = await req(`/api/models/${REPO}/revision/refs%2Fpr%2F1`);
  assert.match(pr.body.error, /no pull requests/, 'the message says why');
});

test('create_pr and commits to refs/pr/N are refused with 400 and a clear message, nothing committed', async () => {
  const preupload = await req(`/api/models/${REPO}/preupload/main?create_pr=1`, {
    method: 'POST', token: alice, headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ files: [{ path: 'x.txt', size: 2, sample: Buffer.from('hi').toString('base64') }] }),
  });
  assertError(preupload, 400, 'BadRequest', 'preupload create_pr=1');
  assert.match(preupload.body.error, /[Pp]ull requests are not supported/);
  for (const q of ['create_pr=1', 'create_pr=true', 'create_pr=True']) {
    const a = await req(`/api/models/${REPO}/commit/main?${q}`, {
      method: 'POST', token: alice, headers: { 'Content-Type': 'application/x-ndjson' }, body: ndjson('pr', [fileEntry('x.txt', 'hi')]),
    });
    assert.equal(a.status, 400, `commit ${q}: ${a.text}`);
    assert.equal(a.headers.get('x-error-code'), 'BadRequest');
    assert.match(a.body.error, /[Pp]ull requests are not supported/, q);
  }
  const toPr = await req(`/api/models/${REPO}/commit/refs%2Fpr%2F1`, {
    method: 'POST', token: alice, headers: { 'Content-Type': 'application/x-ndjson' }, body: ndjson('pr', [fileEntry('x.txt', 'hi')]),
  });
  assertError(toPr, 400, 'BadRequest', 'commit to refs/pr/1');
  assert.match(toPr.body.error, /refs\/pr\/1/);
  assert.equal((await hub.json(`/api/models/${REPO}`)).sha, c2, 'main did not move');
  const refs = await hub.json(`/api/models/${REPO}/refs?include_prs=1`);
  assert.deepEqual(refs.pullRequests, []);
});

test('resolve headers: ETag rules, X-Linked-*, Content-Length, Accept-Ranges, no Xet', async () => {
  const lfs = sha256(weights);
  for (const method of ['GET', 'HEAD']) {
    const st = await req(`/${REPO}/resolve/main/model.safetensors`, { method });
    assert.equal(st.status, 200, method);
    assert.equal(st.headers.get('etag'), `"${lfs}"`, `${method}: LFS ETag is the content's SHA-256, quoted`);
    assert.equal(st.headers.get('x-linked-etag'), `"${lfs}"`);
    assert.equal(st.headers.get('x-linked-size'), String(weights.length));
    assert.equal(st.headers.get('content-length'), String(weights.length), `${method}: full length, also on HEAD`);
    assert.equal(st.headers.get('accept-ranges'), 'bytes');
    assert.equal(st.headers.get('content-encoding'), null, 'never compressed');
    assert.equal(st.headers.get('x-repo-commit'), c2);
    assertNoXet(st.headers, `${method} resolve`);
    if (method === 'HEAD') assert.equal(st.text, '');

    const cfg = await req(`/${REPO}/resolve/main/config.json`, { method });
    assert.equal(cfg.headers.get('etag'), `"${gitBlobSha1(config2)}"`, `${method}: regular file ETag is the git blob SHA-1`);
    assert.equal(cfg.headers.get('x-linked-etag'), null);
    assert.equal(cfg.headers.get('x-linked-size'), null);
    assert.equal(cfg.headers.get('content-length'), String(config2.length));
  }
  // The ETag names content: unchanged files keep it across revisions, changed ones do not.
  const notesMain = await req(`/${REPO}/resolve/main/sub/dir/notes.txt`, { method: 'HEAD' });
  const notesTag = await req(`/${REPO}/resolve/v1.0/sub/dir/notes.txt`, { method: 'HEAD' });
  assert.equal(notesMain.headers.get('etag'), notesTag.headers.get('etag'));
  assert.notEqual(notesMain.headers.get('x-repo-commit'), notesTag.headers.get('x-repo-commit'));
  const cfgTag = await req(`/${REPO}/resolve/v1.0/config.json`, { method: 'HEAD' });
  assert.equal(cfgTag.headers.get('etag'), `"${gitBlobSha1(files['config.json'])}"`);
  // /raw of an LFS file is the pointer, whose git blob id is the tree's oid.
  const raw = await req(`/${REPO}/raw/main/model.safetensors`);
  assert.equal(raw.text, `version https://git-lfs.github.com/spec/v1\noid sha256:${lfs}\nsize ${weights.length}\n`);
  assert.equal(raw.headers.get('etag'), `"${gitBlobSha1(raw.text)}"`);
  const tree = await hub.json(`/api/models/${REPO}/tree/main`);
  const entry = tree.find((e) => e.path === 'model.safetensors');
  assert.equal(entry.oid, gitBlobSha1(raw.text));
  assert.deepEqual(entry.lfs, { oid: lfs, size: weights.length, pointerSize: raw.text.length });
});

test('Range: bytes=0-0 → 206, suffix and open ranges, 416 past the end, empty files, multi-range', async () => {
  const p = `/${REPO}/resolve/main/model.safetensors`;
  const n = weights.length;
  for (const [range, first, last] of [['bytes=0-0', 0, 0], ['bytes=5-', 5, n - 1], ['bytes=-10', n - 10, n - 1], [`bytes=${n - 1}-${n + 100}`, n - 1, n - 1], ['bytes=100-199', 100, 199]]) {
    for (const method of ['GET', 'HEAD']) {
      const res = await hub.fetch(p, { method, headers: { Range: range } });
      const body = Buffer.from(await res.arrayBuffer());
      assert.equal(res.status, 206, `${method} ${range}`);
      assert.equal(res.headers.get('content-range'), `bytes ${first}-${last}/${n}`, `${method} ${range}`);
      assert.equal(res.headers.get('content-length'), String(last - first + 1), `${method} ${range}`);
      assert.equal(res.headers.get('etag'), `"${sha256(weights)}"`, `${method} ${range}: same ETag as the whole`);
      assert.equal(res.headers.get('x-repo-commit'), c2);
      if (method === 'GET') assert.deepEqual(body, weights.subarray(first, last + 1), range);
    }
  }
  for (const range of [`bytes=${n}-`, `bytes=${n + 5}-${n + 9}`]) {
    const a = await req(p, { headers: { Range: range } });
    assert.equal(a.status, 416, range);
    assert.equal(a.headers.get('content-range'), `bytes */${n}`, range);
    assert.equal(a.headers.get('x-repo-commit'), c2, `${range}: 416 still names the commit`);
  }
  // A zero-byte file: bytes=0-0 is answered 200 with its size, as the JS probe needs (§3.6).
  const empty = await req(`/${REPO}/resolve/main/empty.txt`, { headers: { Range: 'bytes=0-0' } });
  assert.equal(empty.status, 200);
  assert.equal(empty.headers.get('content-range'), 'bytes */0');
  assert.equal(empty.text, '');
  // Multi-range and other units are not ranges: the whole file (RFC 9110 allows it).
  for (const range of ['bytes=0-1,5-6', 'items=0-1']) {
    const res = await hub.fetch(p, { headers: { Range: range } });
    assert.equal(res.status, 200, range);
    assert.equal(Buffer.from(await res.arrayBuffer()).length, n, range);
  }
});

test('errors: RepoNotFound, RevisionNotFound, EntryNotFound (+X-Repo-Commit), 401, 403', async () => {
  for (const method of ['GET', 'HEAD']) {
    for (const p of [`/alice/nope/resolve/main/config.json`, `/alice/nope/raw/main/config.json`]) {
      // §2.5: RepoNotFound is 404 to a signed-in caller, 401 to an anonymous one.
      for (const [token, status] of [[alice, 404], [undefined, 401]]) {
        const a = await req(p, { method, token });
        assert.equal(a.status, status, `${method} ${p} ${token ? 'signed in' : 'anonymous'}`);
        assert.equal(a.headers.get('x-error-code'), 'RepoNotFound', `${method} ${p}`);
      }
    }
    for (const route of ['resolve', 'raw']) {
      const a = await req(`/${REPO}/${route}/main/no/such.bin`, { method });
      assert.equal(a.status, 404, `${method} ${route}`);
      assert.equal(a.headers.get('x-error-code'), 'EntryNotFound', `${method} ${route}`);
      assert.equal(a.headers.get('x-repo-commit'), c2, `${method} ${route}: EntryNotFound carries X-Repo-Commit`);
      // By commit and by tag, the commit named is that revision's.
      const t = await req(`/${REPO}/${route}/v1.0/branch.txt`, { method });
      assert.equal(t.headers.get('x-error-code'), 'EntryNotFound');
      assert.equal(t.headers.get('x-repo-commit'), c1);
    }
    // A folder is not a file.
    const dir = await req(`/${REPO}/resolve/main/sub/dir`, { method });
    assert.equal(dir.headers.get('x-error-code'), 'EntryNotFound', `${method} folder`);
  }
  for (const p of [`/api/models/alice/nope`, `/api/models/alice/nope/revision/main`, `/api/models/alice/nope/tree/main`,
    `/api/models/alice/nope/refs`, `/api/models/alice/nope/commits/main`]) {
    assertError(await req(p, { token: alice }), 404, 'RepoNotFound', p);
    assertError(await req(p), 401, 'RepoNotFound', `${p} anonymous`);
  }
  assertError(await req(`/api/models/${REPO}/tree/main/no/such/dir`), 404, 'EntryNotFound', 'tree of a missing folder');
  // Datasets and spaces are not served: a clean RepoNotFound (§5).
  for (const p of ['/api/datasets/alice/proto', '/api/datasets/alice/proto/revision/main', '/api/spaces/alice/proto/tree/main'])
    assertError(await req(p, { token: alice }), 404, 'RepoNotFound', p);
  // Python sends no X-Error-Code expectations for a bad token, only this exact message.
  for (const p of [`/api/models/${REPO}`, `/${REPO}/resolve/main/config.json`, '/api/whoami-v2']) {
    const a = await req(p, { token: 'hf_not_a_real_token_000000000000000' });
    assert.equal(a.status, 401, p);
    assert.equal(a.headers.get('x-error-message'), 'Invalid credentials in Authorization header', p);
  }
  assertError(await req('/api/whoami-v2'), 401, 'Unauthorized', 'whoami without a token');
  const commit = (token) => postCommit(hub, REPO, ndjson('x', [fileEntry('x.txt', 'x')]), { token });
  assert.equal((await commit(undefined)).status, 401, 'commit without a token');
  const readOnly = await commit(aliceRead);
  assert.equal(readOnly.status, 403, 'commit with a read token');
  assert.equal(readOnly.headers.get('x-error-code'), 'Forbidden');
  assert.equal((await commit(bob)).status, 403, 'commit to another namespace');
});

test('private repos: RepoNotFound (404, 401 anonymous) to others on every route, 200 to the owner', async () => {
  const made = await req('/api/repos/create', { method: 'POST', token: alice, body: JSON.stringify({ name: 'secret', organization: 'alice', visibility: 'private' }) });
  assert.equal(made.status, 200, made.text);
  for (const p of ['/api/models/alice/secret', '/api/models/alice/secret/tree/main', '/alice/secret/resolve/main/.gitattributes', '/api/models/alice/secret/refs']) {
    for (const token of [undefined, bob]) assertError(await req(p, { token }), token ? 404 : 401, 'RepoNotFound', `${p} as ${token ? 'bob' : 'anonymous'}`);
  }
  assert.equal((await req('/api/models/alice/secret', { token: alice })).status, 200);
  const listed = await hub.json('/api/models?author=alice', { token: bob });
  assert.ok(!listed.some((m) => m.id === 'alice/secret'), 'not listed to others');
  assert.ok((await hub.json('/api/models?author=alice', { token: alice })).some((m) => m.id === 'alice/secret'));
});

test('CORS: preflight on any path, and every answer exposes the headers clients read', async () => {
  const pre = await req(`/api/models/${REPO}/paths-info/main`, {
    method: 'OPTIONS',
    headers: { Origin: 'http://example.test', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization,content-type' },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), '*');
  for (const m of ['GET', 'HEAD', 'POST', 'PUT', 'DELETE']) assert.match(pre.headers.get('access-control-allow-methods'), new RegExp(`\\b${m}\\b`));
  for (const h of ['Authorization', 'Content-Type', 'Range']) assert.match(pre.headers.get('access-control-allow-headers'), new RegExp(h, 'i'));
  for (const [p, opts] of [[`/${REPO}/resolve/main/config.json`, {}], ['/api/models/alice/nope', {}], [`/api/models/${REPO}`, {}]]) {
    const a = await req(p, opts);
    assert.equal(a.headers.get('access-control-allow-origin'), '*', p);
    const exposed = (a.headers.get('access-control-expose-headers') ?? '').toLowerCase();
    for (const h of ['x-repo-commit', 'x-request-id', 'x-error-code', 'x-error-message', 'x-total-count', 'etag', 'link', 'accept-ranges', 'content-range', 'x-linked-size', 'x-linked-etag'])
      assert.ok(exposed.includes(h), `${p}: ${h} exposed`);
  }
});

test('listings: absolute Link rel="next" from the public URL, X-Total-Count, expand selection', async () => {
  for (let i = 0; i < 3; i++) {
    const a = await req('/api/repos/create', { method: 'POST', token: bob, body: JSON.stringify({ name: `list-${i}` }) });
    assert.equal(a.status, 200, a.text);
  }
  const seen = [];
  let next = `/api/models?author=bob&limit=2&sort=id&direction=1`;
  while (next) {
    const res = await hub.fetch(next);
    assert.equal(res.status, 200);
    seen.push(...(await res.json()).map((m) => m.id));
    const link = res.headers.get('link');
    next = null;
    if (link) {
      const m = link.match(/^<(https?:\/\/[^>]+)>; rel="next"$/);
      assert.ok(m, `Link is absolute with rel="next": ${link}`);
      assert.ok(m[1].startsWith(hub.url + '/api/models?'), `built from the public URL: ${m[1]}`);
      next = m[1];
    }
  }
  assert.deepEqual(seen, ['bob/list-0', 'bob/list-1', 'bob/list-2']);
  // The JS client may send hubUrl with a trailing slash: "//api/..." is the same route, and
  // the next link is canonical.
  const dbl = await hub.fetch('//api/models?author=bob&limit=1');
  assert.equal(dbl.status, 200);
  assert.match(dbl.headers.get('link'), new RegExp(`^<${hub.url}/api/models\\?`));

  const commits = await req(`/api/models/${REPO}/commits/main?limit=1`);
  assert.equal(commits.body.length, 1);
  assert.equal(commits.headers.get('x-total-count'), '3', 'initial, first, second');
  assert.match(commits.headers.get('link'), /^<http:\/\/127\.0\.0\.1:\d+\/api\/models\/alice\/proto\/commits\/main\?.*cursor=.*>; rel="next"$/);
  for (const c of commits.body) {
    assert.match(c.id, HEX40);
    assert.match(c.date, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(Array.isArray(c.authors) && c.authors[0].user === 'alice');
  }

  // expand (and expand[]) returns only the named fields plus _id and id.
  for (const q of ['expand=sha&expand=private', 'expand[]=sha&expand[]=private']) {
    const info = await hub.json(`/api/models/${REPO}?${q}`);
    assert.deepEqual(Object.keys(info).sort(), ['_id', 'id', 'private', 'sha'], q);
    assert.equal(info.sha, c2);
  }
  const listed = await hub.json(`/api/models?author=alice&expand=sha&expand=siblings&expand=lastModified`);
  const item = listed.find((m) => m.id === REPO);
  assert.deepEqual(Object.keys(item).sort(), ['_id', 'id', 'lastModified', 'sha', 'siblings'].sort());
  assert.equal(item.sha, c2);
  assert.deepEqual(item.siblings.map((s) => s.rfilename).sort(), [...Object.keys(files), 'model.safetensors'].sort());
  const defaults = (await hub.json(`/api/models?author=alice`)).find((m) => m.id === REPO);
  for (const k of ['_id', 'id', 'likes', 'trendingScore', 'private', 'downloads', 'tags', 'createdAt', 'modelId']) assert.ok(k in defaults, `default list field ${k}`);
  assert.equal(defaults.library_name, 'transformers');
});

test('tree: directories, LFS entries, recursion, expand=true with lastCommit for files and folders', async () => {
  const top = await hub.json(`/api/models/${REPO}/tree/main`);
  assert.deepEqual(top.map((e) => [e.type, e.path]), [['file', 'README.md'], ['file', 'config.json'],
    ['file', 'empty.txt'], ['file', 'model.safetensors'], ['directory', 'sub']]);
  const sub = top.find((e) => e.path === 'sub');
  assert.match(sub.oid, HEX40);
  assert.equal(sub.size, 0);
  const all = await hub.json(`/api/models/${REPO}/tree/main?recursive=true`);
  assert.ok(all.some((e) => e.type === 'directory' && e.path === 'sub/dir'), 'recursive listings include folders');
  for (const e of all) assert.ok(!('xetHash' in e) && !('securityFileStatus' in e), `${e.path}: no xetHash, no securityFileStatus`);

  const expanded = await hub.json(`/api/models/${REPO}/tree/main?expand=true&recursive=true`);
  const byPath = Object.fromEntries(expanded.map((e) => [e.path, e]));
  assert.equal(byPath['config.json'].lastCommit.id, c2, 'config.json last changed by the second commit');
  assert.equal(byPath['config.json'].lastCommit.title, 'second');
  assert.equal(byPath['README.md'].lastCommit.id, c1);
  assert.equal(byPath.sub.lastCommit.id, c1, 'folders have a lastCommit too');
  assert.equal(byPath['sub/dir'].lastCommit.id, c1);
  assert.match(byPath.sub.lastCommit.date, /Z$/);
  const pi = await req(`/api/models/${REPO}/paths-info/main`, {
    method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'paths=sub&paths=config.json&paths=nope&expand=True',
  });
  assert.deepEqual(pi.body.map((e) => [e.path, e.lastCommit?.id]), [['sub', c1], ['config.json', c2]]);
});

test('refs: branches, tags and converts; whoami; validate-yaml', async () => {
  const refs = await hub.json(`/api/models/${REPO}/refs`);
  assert.deepEqual(refs.branches.map((b) => [b.name, b.ref, b.targetCommit]), [['feature/x', 'refs/heads/feature/x', cf], ['main', 'refs/heads/main', c2]]);
  assert.deepEqual(refs.tags.map((t) => [t.name, t.ref, t.targetCommit]), [['v1.0', 'refs/tags/v1.0', c1]]);
  assert.deepEqual(refs.converts, []);
  assert.ok(!('pullRequests' in refs), 'pullRequests only with include_prs');
  const me = await hub.json('/api/whoami-v2', { token: aliceRead });
  assert.equal(me.name, 'alice');
  assert.equal(me.auth.accessToken.role, 'read');
  const ok = await req('/api/validate-yaml', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ content: '---\nlicense: mit\n---\n', repoType: 'model' }) });
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.body, { errors: [], warnings: [] });
  const bad = await req('/api/validate-yaml', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ content: '---\n[: nope\n---\n', repoType: 'model' }) });
  assert.equal(bad.status, 400);
  assert.ok(Array.isArray(bad.body.errors) && bad.body.errors.length > 0, 'errors as JSON even on 400');
});

test('create repo 409 carries the url; delete takes a JSON body; no Xet anywhere', async () => {
  const again = await req('/api/repos/create', { method: 'POST', token: alice, body: JSON.stringify({ name: 'proto', organization: 'alice', type: 'model' }) });
  assertError(again, 409, 'AlreadyExists', 'create again');
  assert.equal(again.body.url, `${hub.url}/${REPO}`);
  assert.ok(!/conflicting operation/.test(again.text), 'never the text Python retries forever');
  const info = await hub.json(`/api/models/${REPO}?expand=xetEnabled`);
  assert.equal(info.xetEnabled, false);
  const batch = await req(`/${REPO}.git/info/lfs/objects/batch`, {
    method: 'POST', token: alice, headers: { 'Content-Type': 'application/vnd.git-lfs+json' },
    body: JSON.stringify({ operation: 'upload', transfers: ['basic', 'multipart', 'xet'], hash_algo: 'sha_256', objects: [{ oid: sha256(weights), size: weights.length }] }),
  });
  assert.equal(batch.status, 200, batch.text);
  assert.equal(batch.body.transfer, 'basic');
  assert.ok(!('actions' in batch.body.objects[0]), 'a stored object gets no actions');
  await req('/api/repos/create', { method: 'POST', token: bob, body: JSON.stringify({ name: 'gone' }) });
  const del = await req('/api/repos/delete', { method: 'DELETE', token: bob, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'gone', organization: 'bob', type: 'model' }) });
  assert.equal(del.status, 200, del.text);
  assertError(await req('/api/repos/delete', { method: 'DELETE', token: bob, body: JSON.stringify({ name: 'gone', organization: 'bob' }) }), 404, 'RepoNotFound', 'delete again');
});

test('move: old names answer 307 with a relative Location on API, file and LFS routes', async () => {
  const mk = await req('/api/repos/create', { method: 'POST', token: alice, body: JSON.stringify({ name: 'before' }) });
  assert.equal(mk.status, 200, mk.text);
  const put = await postCommit(hub, 'alice/before', ndjson('content', [fileEntry('a.txt', 'moved content\n')]), { token: alice });
  assert.equal(put.status, 200, put.text);
  const move = (token, body) => req('/api/repos/move', { method: 'POST', token, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  // Refusals first: nothing moves.
  assertError(await move(bob, { fromRepo: 'alice/before', toRepo: 'bob/stolen', type: 'model' }), 403, 'Forbidden', 'move by another user');
  assertError(await move(alice, { fromRepo: 'alice/before', toRepo: 'bob/mine', type: 'model' }), 403, 'Forbidden', 'move into a namespace not yours');
  assertError(await move(alice, { fromRepo: 'alice/before', toRepo: REPO, type: 'model' }), 409, 'AlreadyExists', 'move onto an existing repo');
  assertError(await move(alice, { fromRepo: 'alice/nope', toRepo: 'alice/x', type: 'model' }), 404, 'RepoNotFound', 'move a missing repo');
  assertError(await move(alice, { fromRepo: 'alice/before', toRepo: 'after', type: 'model' }), 400, 'BadRequest', 'toRepo without namespace');
  assertError(await move(alice, { fromRepo: 'alice/before', toRepo: 'alice/bad--name', type: 'model' }), 400, 'BadRequest', 'bad new name');
  assert.equal((await move(undefined, { fromRepo: 'alice/before', toRepo: 'alice/after' })).status, 401);

  const moved = await move(alice, { fromRepo: 'alice/before', toRepo: 'alice/after', type: 'model' });
  assert.equal(moved.status, 200, moved.text);
  assert.equal(moved.body.url, `${hub.url}/alice/after`);
  const commit = put.body.commitOid;
  assert.equal((await hub.json('/api/models/alice/after')).sha, commit, 'history moved with the repo');

  for (const [method, from, to] of [
    ['GET', '/api/models/alice/before', '/api/models/alice/after'],
    ['GET', '/api/models/alice/before/revision/main?expand=sha', '/api/models/alice/after/revision/main?expand=sha'],
    ['GET', '/api/models/alice/before/tree/main?recursive=true', '/api/models/alice/after/tree/main?recursive=true'],
    ['GET', '/api/models/alice/before/commits/main', '/api/models/alice/after/commits/main'],
    ['GET', '/api/models/alice/before/refs', '/api/models/alice/after/refs'],
    ['GET', '/alice/before/resolve/main/a.txt', '/alice/after/resolve/main/a.txt'],
    ['HEAD', '/alice/before/resolve/main/a.txt', '/alice/after/resolve/main/a.txt'],
    ['GET', '/Alice/BEFORE/raw/main/a.txt', '/alice/after/raw/main/a.txt'],
    ['POST', '/alice/before.git/info/lfs/objects/batch', '/alice/after.git/info/lfs/objects/batch'],
  ]) {
    const a = await req(from, { method, token: method === 'POST' ? alice : undefined, body: method === 'POST' ? '{}' : undefined });
    assert.equal(a.status, 307, `${method} ${from}: ${a.text}`);
    assert.equal(a.headers.get('location'), to, `${method} ${from}`);
    // Following the relative Location gives the real answer.
    const followed = await req(to, { method: method === 'POST' ? 'GET' : method });
    if (method !== 'POST') assert.equal(followed.status, 200, `${to}`);
  }
  // fetch's default (follow) lands on the content, as JS clients do.
  const res = await hub.fetch('/alice/before/resolve/main/a.txt');
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'moved content\n');
  assert.equal(res.headers.get('x-repo-commit'), commit);
  // A missing file under the old name redirects too; the new name says EntryNotFound.
  assert.equal((await req('/alice/before/resolve/main/missing.txt')).status, 307);
  // A repo named in a body (delete) is not redirected: the old name is simply not there.
  assertError(await req('/api/repos/delete', { method: 'DELETE', token: alice, body: JSON.stringify({ name: 'before', organization: 'alice' }) }), 404, 'RepoNotFound', 'delete by old name');
  // Listings show the new name only.
  const names = (await hub.json('/api/models?author=alice')).map((m) => m.id);
  assert.ok(names.includes('alice/after') && !names.includes('alice/before'));

  // A new repo created under the old name takes it over.
  const taken = await req('/api/repos/create', { method: 'POST', token: alice, body: JSON.stringify({ name: 'before' }) });
  assert.equal(taken.status, 200, taken.text);
  const fresh = await req('/api/models/alice/before');
  assert.equal(fresh.status, 200);
  assert.notEqual(fresh.body.sha, commit);
  assertError(await req('/alice/before/resolve/main/a.txt'), 404, 'EntryNotFound', 'the new repo has no a.txt');
  // And deleting the moved repo leaves its other old names plain 404s.
  assert.equal((await move(alice, { fromRepo: 'alice/after', toRepo: 'alice/final' })).status, 200);
  assert.equal((await req('/api/models/alice/after')).headers.get('location'), '/api/models/alice/final');
  const del = await req('/api/repos/delete', { method: 'DELETE', token: alice, body: JSON.stringify({ name: 'final', organization: 'alice' }) });
  assert.equal(del.status, 200, del.text);
  assertError(await req('/api/models/alice/after', { token: alice }), 404, 'RepoNotFound', 'old name of a deleted repo');
  assertError(await req('/api/models/alice/after'), 401, 'RepoNotFound', 'old name of a deleted repo, anonymous');
});

test('move of a private repo reveals nothing to others', async () => {
  assert.equal((await req('/api/repos/create', { method: 'POST', token: alice, body: JSON.stringify({ name: 'hidden-a', private: true }) })).status, 200);
  const moved = await req('/api/repos/move', { method: 'POST', token: alice, body: JSON.stringify({ fromRepo: 'alice/hidden-a', toRepo: 'alice/hidden-b' }) });
  assert.equal(moved.status, 200, moved.text);
  assertError(await req('/api/models/alice/hidden-a', { token: bob }), 404, 'RepoNotFound', 'old private name to bob');
  assertError(await req('/api/models/alice/hidden-a'), 401, 'RepoNotFound', 'old private name to anonymous');
  const own = await req('/api/models/alice/hidden-a', { token: alice });
  assert.equal(own.status, 307);
  assert.equal(own.headers.get('location'), '/api/models/alice/hidden-b');
});
