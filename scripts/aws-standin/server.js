#!/usr/bin/env node
'use strict';
/*
 * aws-standin — a local stand-in for the AWS APIs Spool uses, for the local stack.
 *
 * One HTTP server on loopback. Every request must carry a valid AWS Signature V4
 * (Authorization header or presigned query); the signature is checked by signing the
 * received request again with AWS's own @smithy/signature-v4 and comparing. Requests
 * are routed by the credential scope's service:
 *
 *   secretsmanager  JSON 1.1 protocol (X-Amz-Target): CreateSecret, PutSecretValue,
 *                   GetSecretValue, DescribeSecret, ListSecrets, UpdateSecret,
 *                   DeleteSecret, RestoreSecret. Stored in DATA/secrets.json.
 *   monitoring      CloudWatch Query protocol: PutMetricData, GetMetricData,
 *                   GetMetricStatistics, ListMetrics. Stored in memory + DATA/metrics.jsonl.
 *   logs            CloudWatch Logs, JSON 1.1 protocol (X-Amz-Target Logs_20140328.*):
 *                   CreateLogGroup, CreateLogStream, PutLogEvents (with its limits:
 *                   10,000 events, 1,048,576 bytes counting 26 per event, chronological
 *                   order, a 24-hour span, 256 KiB per event). Each stream's events are
 *                   appended to DATA/logs/<group>/<stream>.jsonl (names URI-encoded),
 *                   one {"timestamp","message","ingestionTime"} object per line.
 *   s3              checked, then forwarded unchanged to s3rver, which checks no
 *                   signature. A request body is received whole before it is sent on
 *                   (and its x-amz-content-sha256 checked), so that, as with S3, a body
 *                   cut short stores nothing. Signed headers, Content-Length included,
 *                   are checked like any other. Multipart uploads are tracked here,
 *                   because s3rver lacks ListMultipartUploads, ListParts and
 *                   AbortMultipartUpload.
 *
 * Usage: node server.js --port N [--listen 127.0.0.1] --data DIR --s3-upstream URL
 * Credentials: env STANDIN_CREDENTIALS="AKID:SECRET[:SESSIONTOKEN],..." and/or
 *              --credentials-file FILE (same format, one or more per line).
 * Roles:       --iam-keys FILE maps more keys to roles, --iam-dir DIR holds the roles'
 *              policies; requests signed by those keys are evaluated (iam.js).
 * GET /__standin/health answers 200 without a signature (for start-up checks).
 * One log line per request on stderr; never secret values nor the Authorization header.
 */

const http = require('http');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { SignatureV4 } = require('@smithy/signature-v4');
const { Hash } = require('@smithy/hash-node');
const iam = require('./iam');

/* SHA-256 for the signer, on node's crypto (as the AWS SDK for JavaScript does it) */
const Sha256 = Hash.bind(null, 'sha256');

/* ------------------------------------------------------------------ options */

function parseArgs(argv) {
  const o = {
    listen: '127.0.0.1',
    port: 0,
    data: path.join(process.cwd(), 'standin-data'),
    s3Upstream: null,
    credentialsFile: null,
    iamDir: null,
    iamKeys: null,
    accountId: '000000000000',
    maxSkew: 15 * 60,
  };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) die(`missing value for ${a}`);
      return argv[++i];
    };
    if (a === '--listen') o.listen = v();
    else if (a === '--port') o.port = Number(v());
    else if (a === '--data') o.data = v();
    else if (a === '--s3-upstream') o.s3Upstream = v();
    else if (a === '--credentials-file') o.credentialsFile = v();
    else if (a === '--account-id') o.accountId = v();
    else if (a === '--iam-dir') o.iamDir = v();
    else if (a === '--iam-keys') o.iamKeys = v();
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: server.js --port N [--listen ADDR] --data DIR [--s3-upstream URL] [--credentials-file FILE] [--iam-keys FILE --iam-dir DIR]\n');
      process.exit(0);
    } else die(`unknown argument ${a}`);
  }
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) die('bad --port');
  return o;
}

function die(msg) {
  process.stderr.write(`aws-standin: ${msg}\n`);
  process.exit(2);
}

const opts = parseArgs(process.argv);
fs.mkdirSync(opts.data, { recursive: true });

/* access key id -> { secret, token } */
const credentials = new Map();
function addCredentials(text, where) {
  for (const item of String(text).split(/[\s,]+/)) {
    if (!item) continue;
    const parts = item.split(':');
    if (parts.length < 2 || !parts[0] || !parts[1]) die(`bad credential entry in ${where}`);
    credentials.set(parts[0], { secret: parts[1], token: parts[2] || null });
  }
}
if (process.env.STANDIN_CREDENTIALS) addCredentials(process.env.STANDIN_CREDENTIALS, 'STANDIN_CREDENTIALS');
if (opts.credentialsFile) addCredentials(fs.readFileSync(opts.credentialsFile, 'utf8'), opts.credentialsFile);
if (credentials.size === 0) die('no credentials (set STANDIN_CREDENTIALS or --credentials-file)');
iam.configure({
  dir: opts.iamDir,
  keysFile: opts.iamKeys,
  accountId: opts.accountId,
  log: (msg) => process.stderr.write(`aws-standin: ${msg}\n`),
  makeError: (status, code, message) => new HttpError(status, code, message),
  secretArn: (id) => {
    try {
      return findSecret(id, { includeDeleted: true }).arn;
    } catch (e) {
      return null;
    }
  },
});

/* ------------------------------------------------------------------ helpers */

function requestId() {
  return crypto.randomUUID();
}

function xmlEscape(s) {
  return String(s)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

function iso(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function isoMillis(ms) {
  return new Date(ms).toISOString();
}

function writeFileAtomic(file, text) {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, text, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

/* RFC 3986 escaping, as SigV4 wants it */
function escapeUri(s) {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

class HttpError extends Error {
  constructor(status, code, message, extra) {
    super(message);
    this.status = status;
    this.code = code;
    this.extra = extra || {};
  }
}

/* Parse a raw query string into { key: value | [values] } with percent-decoding
 * ('+' is kept literally: SigV4 clients encode spaces as %20). */
function parseQuery(raw) {
  const q = Object.create(null);
  if (!raw) return q;
  for (const part of raw.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    let k;
    let v;
    try {
      k = decodeURIComponent(eq < 0 ? part : part.slice(0, eq));
      v = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1));
    } catch (e) {
      throw new HttpError(400, 'InvalidArgument', 'Malformed percent-encoding in the query string.');
    }
    if (k in q) q[k] = Array.isArray(q[k]) ? q[k].concat([v]) : [q[k], v];
    else q[k] = v;
  }
  return q;
}

function qget(q, name) {
  const v = q[name];
  return Array.isArray(v) ? v[0] : v;
}

/* What AWS answers a request whose body ends before its Content-Length. */
function incompleteBody() {
  return new HttpError(400, 'IncompleteBody', 'You did not provide the number of bytes specified by the Content-Length HTTP header.');
}

/* The whole body in memory; rejected when the client goes away before its end. */
function readBody(req, limit) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > limit) {
        reject(new HttpError(413, 'RequestEntityTooLarge', 'Request body too large.'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('aborted', () => reject(incompleteBody()));
    req.on('error', reject);
  });
}

function sha256hex(buf) {
  return crypto.createHash('sha256').update(buf).digest('hex');
}

function timingSafeEqualHex(a, b) {
  const ba = Buffer.from(String(a));
  const bb = Buffer.from(String(b));
  return ba.length === bb.length && crypto.timingSafeEqual(ba, bb);
}

/* ------------------------------------------------------------------ error bodies */

const CW_NS = 'http://monitoring.amazonaws.com/doc/2010-08-01/';
const S3_NS = 'http://s3.amazonaws.com/doc/2006-03-01/';

function sendError(res, ctx, err) {
  const rid = ctx.requestId;
  const status = err.status || 500;
  const code = err.code || 'InternalFailure';
  const message = err.message || 'internal error';
  ctx.status = status;
  if (ctx.service === 'secretsmanager' || ctx.service === 'logs') {
    const body = JSON.stringify({ __type: code, message, Message: message });
    res.writeHead(status, {
      'content-type': 'application/x-amz-json-1.1',
      'x-amzn-requestid': rid,
      'x-amzn-errortype': code,
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  } else if (ctx.service === 'monitoring') {
    const type = status >= 500 ? 'Receiver' : 'Sender';
    const body =
      `<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse xmlns="${CW_NS}"><Error><Type>${type}</Type>` +
      `<Code>${xmlEscape(code)}</Code><Message>${xmlEscape(message)}</Message></Error>` +
      `<RequestId>${rid}</RequestId></ErrorResponse>`;
    res.writeHead(status, {
      'content-type': 'text/xml',
      'x-amzn-requestid': rid,
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  } else {
    let extra = '';
    for (const [k, v] of Object.entries(err.extra)) extra += `<${k}>${xmlEscape(v)}</${k}>`;
    const body =
      `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${xmlEscape(code)}</Code>` +
      `<Message>${xmlEscape(message)}</Message>${extra}<RequestId>${rid}</RequestId></Error>`;
    res.writeHead(status, {
      'content-type': 'application/xml',
      'x-amz-request-id': rid,
      'content-length': Buffer.byteLength(body),
    });
    res.end(ctx.method === 'HEAD' ? undefined : body);
  }
}

/* Authentication errors in each service's own words. */
function authError(service, kind, detail) {
  const table = {
    s3: {
      missing: [403, 'AccessDenied', 'Access Denied'],
      malformed: [400, 'AuthorizationHeaderMalformed', 'The authorization header is malformed.'],
      badquery: [400, 'AuthorizationQueryParametersError', 'Error parsing the X-Amz-Credential parameter.'],
      unknownkey: [403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.'],
      badtoken: [400, 'InvalidToken', 'The provided token is malformed or otherwise invalid.'],
      expiredtoken: [400, 'ExpiredToken', 'The provided token has expired.'],
      signature: [403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.'],
      skew: [403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.'],
      expired: [403, 'AccessDenied', 'Request has expired'],
    },
    monitoring: {
      missing: [403, 'MissingAuthenticationToken', 'Request is missing Authentication Token'],
      malformed: [400, 'IncompleteSignature', 'Authorization header requires Credential, SignedHeaders and Signature.'],
      badquery: [400, 'IncompleteSignature', 'Malformed query-string authentication.'],
      unknownkey: [403, 'InvalidClientTokenId', 'The security token included in the request is invalid.'],
      badtoken: [403, 'InvalidClientTokenId', 'The security token included in the request is invalid.'],
      expiredtoken: [403, 'ExpiredToken', 'The security token included in the request is expired'],
      signature: [403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.'],
      skew: [403, 'SignatureDoesNotMatch', 'Signature expired: request time is more than 15 minutes from the server time.'],
      expired: [403, 'AccessDenied', 'Request has expired'],
    },
    secretsmanager: {
      missing: [403, 'MissingAuthenticationTokenException', 'Missing Authentication Token'],
      malformed: [403, 'IncompleteSignatureException', 'Authorization header requires Credential, SignedHeaders and Signature.'],
      badquery: [403, 'IncompleteSignatureException', 'Malformed query-string authentication.'],
      unknownkey: [403, 'UnrecognizedClientException', 'The security token included in the request is invalid.'],
      badtoken: [403, 'UnrecognizedClientException', 'The security token included in the request is invalid.'],
      expiredtoken: [403, 'ExpiredTokenException', 'The security token included in the request is expired'],
      signature: [403, 'InvalidSignatureException', 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.'],
      skew: [403, 'InvalidSignatureException', 'Signature expired: request time is more than 15 minutes from the server time.'],
      expired: [403, 'AccessDeniedException', 'Request has expired'],
    },
  };
  table.logs = table.secretsmanager;
  const t = table[service] || table.s3;
  const [status, code, message] = t[kind];
  return new HttpError(status, code, detail ? `${message} (${detail})` : message);
}

/* ------------------------------------------------------------------ SigV4 check */

const AUTH_QUERY_PARAMS = new Set([
  'x-amz-algorithm',
  'x-amz-credential',
  'x-amz-date',
  'x-amz-expires',
  'x-amz-signedheaders',
  'x-amz-signature',
  'x-amz-security-token',
]);

function parseAmzDate(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s || '');
  if (!m) return null;
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}

/* Which service a request is for, guessed before authentication (for error bodies). */
function guessService(req, q) {
  const auth = req.headers.authorization || '';
  const m = /Credential=[^/,\s]*\/\d{8}\/[^/]*\/([^/]+)\//.exec(auth);
  if (m) return m[1];
  const qc = qget(q, 'X-Amz-Credential');
  if (qc) {
    const p = qc.split('/');
    if (p.length >= 5) return p[3];
  }
  if (/^Logs_/.test(req.headers['x-amz-target'] || '')) return 'logs';
  if (req.headers['x-amz-target']) return 'secretsmanager';
  if (req.method === 'POST' && /x-www-form-urlencoded/.test(req.headers['content-type'] || '')) return 'monitoring';
  return 's3';
}

/* Canonical S3 path: each segment decoded and re-encoded the RFC 3986 way (as S3 does). */
function canonicalS3Path(rawPath) {
  return rawPath
    .split('/')
    .map((seg) => {
      try {
        return escapeUri(decodeURIComponent(seg));
      } catch (e) {
        return seg;
      }
    })
    .join('/');
}

/*
 * Authenticate. Returns { accessKeyId, service, region, presigned }.
 * `body` is the buffered body (non-S3 services) or undefined (S3: payload hash from header).
 */
async function authenticate(req, ctx, body) {
  const q = ctx.query;
  const authz = req.headers.authorization;
  const presigned = qget(q, 'X-Amz-Algorithm') !== undefined;
  const svcGuess = ctx.service;
  if (!authz && !presigned) throw authError(svcGuess, 'missing');
  if (authz && presigned) throw new HttpError(400, 'InvalidArgument', 'Only one auth mechanism allowed.');

  let accessKeyId, shortDate, region, service, signedHeaders, signature, amzDate, expires;
  if (authz) {
    const m = /^AWS4-HMAC-SHA256\s+(.*)$/s.exec(authz);
    if (!m) throw authError(svcGuess, 'malformed', 'unsupported algorithm');
    const parts = {};
    for (const p of m[1].split(',')) {
      const eq = p.indexOf('=');
      if (eq < 0) continue;
      parts[p.slice(0, eq).trim()] = p.slice(eq + 1).trim();
    }
    if (!parts.Credential || !parts.SignedHeaders || !parts.Signature) throw authError(svcGuess, 'malformed');
    const c = parts.Credential.split('/');
    if (c.length !== 5 || c[4] !== 'aws4_request') throw authError(svcGuess, 'malformed', 'bad credential scope');
    [accessKeyId, shortDate, region, service] = c;
    signedHeaders = parts.SignedHeaders.split(';').map((h) => h.trim().toLowerCase()).filter(Boolean);
    signature = parts.Signature;
    amzDate = req.headers['x-amz-date'];
  } else {
    if (qget(q, 'X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') throw authError(svcGuess, 'badquery', 'X-Amz-Algorithm');
    const cred = qget(q, 'X-Amz-Credential') || '';
    const c = cred.split('/');
    if (c.length !== 5 || c[4] !== 'aws4_request') throw authError(svcGuess, 'badquery', 'X-Amz-Credential');
    [accessKeyId, shortDate, region, service] = c;
    const sh = qget(q, 'X-Amz-SignedHeaders');
    signature = qget(q, 'X-Amz-Signature');
    amzDate = qget(q, 'X-Amz-Date');
    expires = qget(q, 'X-Amz-Expires');
    if (!sh || !signature || !amzDate || !expires) throw authError(svcGuess, 'badquery', 'missing parameters');
    signedHeaders = sh.split(';').map((h) => h.trim().toLowerCase()).filter(Boolean);
    if (!/^\d+$/.test(expires) || Number(expires) < 1 || Number(expires) > 604800)
      throw authError(svcGuess, 'badquery', 'X-Amz-Expires must be between 1 and 604800');
  }
  ctx.service = service;
  ctx.accessKeyId = accessKeyId;
  if (!['s3', 'secretsmanager', 'monitoring', 'logs'].includes(service)) {
    ctx.service = svcGuess;
    throw new HttpError(400, 'InvalidAction', `The stand-in does not serve the service '${service}'.`);
  }

  const known = credentials.get(accessKeyId) || iam.credentials(accessKeyId);
  if (!known) throw authError(service, 'unknownkey');
  const token = authz ? req.headers['x-amz-security-token'] : qget(q, 'X-Amz-Security-Token');
  if (token !== undefined || known.token) {
    if (!known.token) throw authError(service, 'badtoken');
    if (token !== known.token) throw authError(service, 'expiredtoken');
  }

  const date = parseAmzDate(amzDate);
  if (!date) throw authError(service, authz ? 'malformed' : 'badquery', 'X-Amz-Date');
  if (amzDate.slice(0, 8) !== shortDate) throw authError(service, 'signature', 'credential scope date differs from X-Amz-Date');
  if (!signedHeaders.includes('host')) throw authError(service, 'signature', 'host must be signed');
  const now = Date.now();
  if (authz && Math.abs(now - date.getTime()) > opts.maxSkew * 1000) throw authError(service, 'skew');

  /* the request as received, with only the signed headers */
  const headers = {};
  for (const h of signedHeaders) {
    const v = req.headers[h];
    if (v === undefined) throw authError(service, 'signature', `signed header '${h}' missing`);
    headers[h] = Array.isArray(v) ? v.join(',') : String(v);
  }
  const unsignable = new Set();
  let payloadHash;
  if (service === 's3') {
    payloadHash = authz ? req.headers['x-amz-content-sha256'] : 'UNSIGNED-PAYLOAD';
    if (authz && !payloadHash) throw new HttpError(400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
  } else {
    const claimed = req.headers['x-amz-content-sha256'];
    payloadHash = sha256hex(body || Buffer.alloc(0));
    if (claimed && claimed !== payloadHash && claimed !== 'UNSIGNED-PAYLOAD')
      throw authError(service, 'signature', 'x-amz-content-sha256 does not match the body');
    if (claimed === 'UNSIGNED-PAYLOAD') payloadHash = claimed;
  }
  if (!('x-amz-content-sha256' in headers)) {
    headers['x-amz-content-sha256'] = payloadHash;
    unsignable.add('x-amz-content-sha256');
  }

  const query = {};
  for (const [k, v] of Object.entries(q)) {
    if (!authz && AUTH_QUERY_PARAMS.has(k.toLowerCase())) continue;
    query[k] = v;
  }
  const hostHeader = req.headers.host || '';
  const request = {
    method: req.method,
    protocol: 'http:',
    hostname: hostHeader.replace(/:\d+$/, ''),
    path: service === 's3' ? canonicalS3Path(ctx.rawPath) : ctx.rawPath,
    query,
    headers,
    body: undefined,
  };
  const signer = new SignatureV4({
    credentials: { accessKeyId, secretAccessKey: known.secret, sessionToken: authz ? undefined : token },
    region,
    service,
    sha256: Sha256,
    uriEscapePath: service !== 's3',
    applyChecksum: false,
  });
  const signable = new Set(signedHeaders);
  let expected;
  if (authz) {
    const signed = await signer.sign(request, {
      signingDate: date,
      signingRegion: region,
      signingService: service,
      signableHeaders: signable,
      unsignableHeaders: unsignable,
    });
    const m = /Signature=([0-9a-f]+)/.exec(signed.headers.authorization || '');
    expected = m && m[1];
    const sh = /SignedHeaders=([^,]+)/.exec(signed.headers.authorization || '');
    if (sh && sh[1] !== signedHeaders.slice().sort().join(';')) expected = null;
  } else {
    const unhoistable = new Set(signedHeaders);
    unhoistable.add('x-amz-content-sha256');
    unsignable.add('x-amz-content-sha256');
    if (signable.has('x-amz-content-sha256')) unsignable.delete('x-amz-content-sha256');
    const signed = await signer.presign(request, {
      signingDate: date,
      expiresIn: Number(expires),
      signingRegion: region,
      signingService: service,
      signableHeaders: signable,
      unsignableHeaders: unsignable,
      unhoistableHeaders: unhoistable,
    });
    expected = signed.query['X-Amz-Signature'];
    if (signed.query['X-Amz-SignedHeaders'] !== signedHeaders.slice().sort().join(';')) expected = null;
  }
  if (!expected || !timingSafeEqualHex(expected, signature)) throw authError(service, 'signature');
  if (!authz) {
    const until = date.getTime() + Number(expires) * 1000;
    if (now > until) {
      const e = authError(service, 'expired');
      e.extra = { Expires: iso(until), ServerTime: iso(now), 'X-Amz-Expires': expires };
      throw e;
    }
    if (date.getTime() - now > opts.maxSkew * 1000) throw authError(service, 'signature', 'X-Amz-Date is in the future');
  }
  return { accessKeyId, service, region, presigned: !authz };
}

/* ------------------------------------------------------------------ Secrets Manager */

const SECRETS_FILE = path.join(opts.data, 'secrets.json');
let secretsDb = { secrets: {} };
try {
  secretsDb = JSON.parse(fs.readFileSync(SECRETS_FILE, 'utf8'));
  if (!secretsDb.secrets) secretsDb.secrets = {};
} catch (e) {
  if (e.code !== 'ENOENT') die(`cannot read ${SECRETS_FILE}: ${e.message}`);
}
function saveSecrets() {
  writeFileAtomic(SECRETS_FILE, JSON.stringify(secretsDb, null, 1));
}

const ARN_SUFFIX_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
function randomSuffix() {
  const b = crypto.randomBytes(6);
  let s = '';
  for (const x of b) s += ARN_SUFFIX_CHARS[x % ARN_SUFFIX_CHARS.length];
  return s;
}

function smError(code, message, status) {
  return new HttpError(status || 400, code, message);
}

function findSecret(id, { includeDeleted } = {}) {
  if (typeof id !== 'string' || id === '') throw smError('InvalidParameterException', 'SecretId is required.');
  let found = secretsDb.secrets[id];
  if (!found && id.startsWith('arn:')) {
    for (const s of Object.values(secretsDb.secrets)) {
      if (s.arn === id || s.arn.replace(/-[A-Za-z0-9]{6}$/, '') === id) {
        found = s;
        break;
      }
    }
  }
  if (!found) throw smError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
  if (found.deletedDate && !includeDeleted)
    throw smError(
      'InvalidRequestException',
      "You can't perform this operation on the secret because it was marked for deletion.",
    );
  return found;
}

function secretValueFields(input) {
  const hasString = typeof input.SecretString === 'string';
  const hasBinary = typeof input.SecretBinary === 'string';
  if (hasString && hasBinary) throw smError('InvalidParameterException', 'You must provide either SecretString or SecretBinary, not both.');
  if (input.SecretString !== undefined && !hasString) throw smError('InvalidParameterException', 'SecretString must be a string.');
  if (hasString && Buffer.byteLength(input.SecretString) > 65536) throw smError('InvalidParameterException', 'SecretString is too long (65536 bytes maximum).');
  if (!hasString && !hasBinary) return null;
  return hasString ? { string: input.SecretString } : { binary: input.SecretBinary };
}

function addVersion(s, value, token) {
  const vid = token || crypto.randomUUID();
  if (s.versions[vid]) {
    const old = s.versions[vid];
    if (old.string === value.string && old.binary === value.binary) return { vid, stages: old.stages, idempotent: true };
    throw smError('ResourceExistsException', `A version with VersionId ${vid} already exists with different contents.`);
  }
  for (const [id, v] of Object.entries(s.versions)) {
    v.stages = v.stages.filter((st) => st !== 'AWSPREVIOUS');
    if (v.stages.includes('AWSCURRENT')) v.stages = v.stages.filter((st) => st !== 'AWSCURRENT').concat(['AWSPREVIOUS']);
    if (v.stages.length === 0) delete s.versions[id];
  }
  const now = Date.now();
  s.versions[vid] = { ...value, stages: ['AWSCURRENT'], created: now };
  s.lastChanged = now;
  return { vid, stages: ['AWSCURRENT'] };
}

function stagesMap(s) {
  const m = {};
  for (const [id, v] of Object.entries(s.versions)) m[id] = v.stages;
  return m;
}

function describe(s) {
  const d = {
    ARN: s.arn,
    Name: s.name,
    LastChangedDate: s.lastChanged / 1000,
    CreatedDate: s.created / 1000,
    VersionIdsToStages: stagesMap(s),
  };
  if (s.description) d.Description = s.description;
  if (s.lastAccessed) d.LastAccessedDate = s.lastAccessed / 1000;
  if (s.deletedDate) d.DeletedDate = s.deletedDate / 1000;
  if (s.tags && s.tags.length) d.Tags = s.tags;
  return d;
}

const secretsOps = {
  CreateSecret(input, ctx) {
    const name = input.Name;
    if (typeof name !== 'string' || !/^[A-Za-z0-9/_+=.@-]{1,512}$/.test(name))
      throw smError('InvalidParameterException', 'Name must be 1-512 characters of A-Z a-z 0-9 /_+=.@-.');
    if (secretsDb.secrets[name]) {
      const e = secretsDb.secrets[name].deletedDate
        ? smError('InvalidRequestException', "You can't create this secret because a secret with this name is already scheduled for deletion.")
        : smError('ResourceExistsException', `The operation failed because the secret ${name} already exists.`);
      throw e;
    }
    const value = secretValueFields(input);
    const now = Date.now();
    const s = {
      name,
      arn: `arn:aws:secretsmanager:${ctx.region}:${opts.accountId}:secret:${name}-${randomSuffix()}`,
      description: typeof input.Description === 'string' ? input.Description : undefined,
      tags: Array.isArray(input.Tags) ? input.Tags : [],
      created: now,
      lastChanged: now,
      versions: {},
    };
    const out = { ARN: s.arn, Name: s.name };
    if (value) out.VersionId = addVersion(s, value, input.ClientRequestToken).vid;
    secretsDb.secrets[name] = s;
    saveSecrets();
    return out;
  },
  PutSecretValue(input) {
    const s = findSecret(input.SecretId);
    const value = secretValueFields(input);
    if (!value) throw smError('InvalidParameterException', 'You must provide either SecretString or SecretBinary.');
    const r = addVersion(s, value, input.ClientRequestToken);
    saveSecrets();
    return { ARN: s.arn, Name: s.name, VersionId: r.vid, VersionStages: r.stages };
  },
  UpdateSecret(input) {
    const s = findSecret(input.SecretId);
    if (typeof input.Description === 'string') s.description = input.Description;
    const value = secretValueFields(input);
    const out = { ARN: s.arn, Name: s.name };
    if (value) out.VersionId = addVersion(s, value, input.ClientRequestToken).vid;
    else s.lastChanged = Date.now();
    saveSecrets();
    return out;
  },
  GetSecretValue(input) {
    const s = findSecret(input.SecretId);
    let vid;
    if (input.VersionId) {
      vid = input.VersionId;
      if (!s.versions[vid]) throw smError('ResourceNotFoundException', "Secrets Manager can't find the specified secret value for VersionId: " + vid);
      if (input.VersionStage && !s.versions[vid].stages.includes(input.VersionStage))
        throw smError('InvalidRequestException', 'The VersionId and VersionStage do not match.');
    } else {
      const stage = input.VersionStage || 'AWSCURRENT';
      vid = Object.keys(s.versions).find((id) => s.versions[id].stages.includes(stage));
      if (!vid) throw smError('ResourceNotFoundException', `Secrets Manager can't find the specified secret value for staging label: ${stage}`);
    }
    const v = s.versions[vid];
    s.lastAccessed = Date.now();
    const out = { ARN: s.arn, Name: s.name, VersionId: vid, VersionStages: v.stages, CreatedDate: v.created / 1000 };
    if (v.string !== undefined) out.SecretString = v.string;
    if (v.binary !== undefined) out.SecretBinary = v.binary;
    return out;
  },
  DescribeSecret(input) {
    return describe(findSecret(input.SecretId, { includeDeleted: true }));
  },
  ListSecrets(input) {
    const max = Math.min(Math.max(Number(input.MaxResults) || 100, 1), 100);
    let list = Object.values(secretsDb.secrets).filter((s) => input.IncludePlannedDeletion || !s.deletedDate);
    for (const f of Array.isArray(input.Filters) ? input.Filters : []) {
      const values = Array.isArray(f.Values) ? f.Values : [];
      if (f.Key === 'name') list = list.filter((s) => values.some((v) => s.name.startsWith(v)));
      else if (f.Key === 'description') list = list.filter((s) => values.some((v) => (s.description || '').startsWith(v)));
      else if (f.Key === 'all') list = list.filter((s) => values.some((v) => s.name.includes(v) || (s.description || '').includes(v)));
    }
    list.sort((a, b) => a.created - b.created || (a.name < b.name ? -1 : 1));
    if (input.SortOrder === 'desc') list.reverse();
    let start = 0;
    if (input.NextToken) {
      start = Number(Buffer.from(String(input.NextToken), 'base64').toString());
      if (!Number.isInteger(start) || start < 0) throw smError('InvalidNextTokenException', 'The NextToken value is invalid.');
    }
    const page = list.slice(start, start + max);
    const out = {
      SecretList: page.map((s) => {
        const d = describe(s);
        d.SecretVersionsToStages = d.VersionIdsToStages;
        delete d.VersionIdsToStages;
        return d;
      }),
    };
    if (start + max < list.length) out.NextToken = Buffer.from(String(start + max)).toString('base64');
    return out;
  },
  DeleteSecret(input) {
    const s = findSecret(input.SecretId, { includeDeleted: true });
    const now = Date.now();
    if (input.ForceDeleteWithoutRecovery) {
      delete secretsDb.secrets[s.name];
      saveSecrets();
      return { ARN: s.arn, Name: s.name, DeletionDate: now / 1000 };
    }
    const days = input.RecoveryWindowInDays === undefined ? 30 : Number(input.RecoveryWindowInDays);
    if (!(days >= 7 && days <= 30)) throw smError('InvalidParameterException', 'RecoveryWindowInDays must be between 7 and 30.');
    s.deletedDate = now + days * 86400000;
    saveSecrets();
    return { ARN: s.arn, Name: s.name, DeletionDate: s.deletedDate / 1000 };
  },
  RestoreSecret(input) {
    const s = findSecret(input.SecretId, { includeDeleted: true });
    delete s.deletedDate;
    saveSecrets();
    return { ARN: s.arn, Name: s.name };
  },
};

/*
 * A call of a JSON 1.1 protocol service: X-Amz-Target "PREFIX.Operation" picks one of
 * `ops`, which takes the parsed body and returns the answer's object; `error` makes
 * the service's errors.
 */
async function handleJson11(req, res, ctx, body, prefix, ops, error) {
  const target = req.headers['x-amz-target'] || '';
  const m = new RegExp(`^${prefix.replace(/\./g, '\\.')}\\.(\\w+)$`).exec(target);
  ctx.op = m ? m[1] : target || '-';
  if (req.method !== 'POST') throw error('InvalidAction', 'Calls of this service are POSTs.');
  if (!m || !Object.prototype.hasOwnProperty.call(ops, m[1]))
    throw error('UnknownOperationException', `Unknown operation '${target}'.`);
  let input;
  try {
    input = body.length ? JSON.parse(body.toString('utf8')) : {};
  } catch (e) {
    throw error('SerializationException', 'The request body is not valid JSON.');
  }
  if (!input || typeof input !== 'object' || Array.isArray(input)) throw error('SerializationException', 'The request body must be a JSON object.');
  const out = ops[m[1]](input, ctx);
  const text = JSON.stringify(out);
  ctx.status = 200;
  res.writeHead(200, {
    'content-type': 'application/x-amz-json-1.1',
    'x-amzn-requestid': ctx.requestId,
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

async function handleSecrets(req, res, ctx, body) {
  return handleJson11(req, res, ctx, body, 'secretsmanager', secretsOps, smError);
}

/* ------------------------------------------------------------------ CloudWatch */

const METRICS_FILE = path.join(opts.data, 'metrics.jsonl');
const datums = [];
try {
  for (const line of fs.readFileSync(METRICS_FILE, 'utf8').split('\n')) {
    if (!line) continue;
    try {
      datums.push(JSON.parse(line));
    } catch (e) {
      /* a torn last line after a crash: skip it */
    }
  }
} catch (e) {
  if (e.code !== 'ENOENT') die(`cannot read ${METRICS_FILE}: ${e.message}`);
}

const STATS = new Set(['Sum', 'Average', 'Minimum', 'Maximum', 'SampleCount']);
const UNITS = new Set([
  'Seconds', 'Microseconds', 'Milliseconds', 'Bytes', 'Kilobytes', 'Megabytes', 'Gigabytes', 'Terabytes',
  'Bits', 'Kilobits', 'Megabits', 'Gigabits', 'Terabits', 'Percent', 'Count', 'Bytes/Second',
  'Kilobytes/Second', 'Megabytes/Second', 'Gigabytes/Second', 'Terabytes/Second', 'Bits/Second',
  'Kilobits/Second', 'Megabits/Second', 'Gigabits/Second', 'Terabits/Second', 'Count/Second', 'None',
]);

function cwError(code, message, status) {
  return new HttpError(status || 400, code, message);
}

/* Collect "Prefix.member.N" (or "Prefix.member.N.Field") entries into an array. */
function members(p, prefix) {
  const out = [];
  const re = new RegExp(`^${prefix.replace(/\./g, '\\.')}\\.member\\.(\\d+)(?:\\.(.*))?$`);
  for (const [k, v] of p) {
    const m = re.exec(k);
    if (!m) continue;
    const i = Number(m[1]);
    if (i < 1) throw cwError('InvalidParameterValue', `Bad member index in ${k}`);
    if (m[2] === undefined) out[i - 1] = v;
    else {
      if (typeof out[i - 1] !== 'object' || out[i - 1] === null) out[i - 1] = new Map();
      out[i - 1].set(m[2], v);
    }
  }
  return out.filter((x) => x !== undefined);
}

function parseNumber(s, what) {
  if (s === undefined) return undefined;
  const n = Number(s);
  if (s === '' || !Number.isFinite(n)) throw cwError('InvalidParameterValue', `The value ${s} for parameter ${what} is not a valid number.`);
  return n;
}

function parseTime(s, what) {
  if (s === undefined || s === '') throw cwError('MissingParameter', `The parameter ${what} is required.`);
  const t = /^\d+(\.\d+)?$/.test(s) ? Number(s) * 1000 : Date.parse(s);
  if (!Number.isFinite(t)) throw cwError('InvalidParameterValue', `The parameter ${what} must be an ISO 8601 timestamp.`);
  return t;
}

function parseDimensions(m, prefix) {
  const dims = members(m, prefix).map((d) => {
    const name = d.get ? d.get('Name') : undefined;
    const value = d.get ? d.get('Value') : undefined;
    if (!name) throw cwError('InvalidParameterValue', `Dimension name missing in ${prefix}.`);
    return { Name: name, Value: value };
  });
  if (dims.length > 30) throw cwError('InvalidParameterValue', 'At most 30 dimensions.');
  return dims.sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
}

function metricId(ns, name, dims) {
  return JSON.stringify([ns, name, dims.map((d) => [d.Name, d.Value])]);
}

function putMetricData(p) {
  const ns = p.get('Namespace');
  if (!ns) throw cwError('MissingParameter', 'The parameter Namespace is required.');
  if (/^AWS\//.test(ns)) throw cwError('InvalidParameterValue', 'The value AWS/ for parameter Namespace is invalid.');
  const data = members(p, 'MetricData');
  if (data.length === 0) throw cwError('MissingParameter', 'The parameter MetricData is required.');
  if (data.length > 1000) throw cwError('InvalidParameterValue', 'At most 1000 MetricData items.');
  const now = Date.now();
  const add = [];
  for (const d of data) {
    if (!(d instanceof Map)) throw cwError('InvalidParameterValue', 'Malformed MetricData.');
    const name = d.get('MetricName');
    if (!name) throw cwError('MissingParameter', 'The parameter MetricData.member.N.MetricName is required.');
    const dims = parseDimensions(d, 'Dimensions');
    for (const x of dims) if (x.Value === undefined) throw cwError('InvalidParameterValue', `Dimension ${x.Name} has no value.`);
    const unit = d.get('Unit') || 'None';
    if (!UNITS.has(unit)) throw cwError('InvalidParameterValue', `The value ${unit} for parameter Unit is invalid.`);
    const ts = d.has('Timestamp') ? parseTime(d.get('Timestamp'), 'Timestamp') : now;
    if (ts < now - 14 * 86400000 || ts > now + 2 * 3600000)
      throw cwError('InvalidParameterValue', 'The parameter MetricData.member.N.Timestamp must specify a time no more than two weeks in the past or two hours in the future.');
    const value = parseNumber(d.get('Value'), 'Value');
    const sc = parseNumber(d.get('StatisticValues.SampleCount'), 'StatisticValues.SampleCount');
    const values = [];
    const counts = [];
    for (const [k, v] of d) {
      let m = /^Values\.member\.(\d+)$/.exec(k);
      if (m) values[Number(m[1]) - 1] = parseNumber(v, k);
      m = /^Counts\.member\.(\d+)$/.exec(k);
      if (m) counts[Number(m[1]) - 1] = parseNumber(v, k);
    }
    const given = [value !== undefined, sc !== undefined, values.length > 0].filter(Boolean).length;
    if (given !== 1)
      throw cwError('InvalidParameterCombination', 'Exactly one of Value, StatisticValues or Values must be given per datum.');
    let rec;
    if (value !== undefined) rec = { count: 1, sum: value, min: value, max: value };
    else if (sc !== undefined) {
      const sum = parseNumber(d.get('StatisticValues.Sum'), 'StatisticValues.Sum');
      const min = parseNumber(d.get('StatisticValues.Minimum'), 'StatisticValues.Minimum');
      const max = parseNumber(d.get('StatisticValues.Maximum'), 'StatisticValues.Maximum');
      if (sum === undefined || min === undefined || max === undefined)
        throw cwError('MissingParameter', 'StatisticValues needs SampleCount, Sum, Minimum and Maximum.');
      if (sc <= 0 || min > max) throw cwError('InvalidParameterValue', 'Inconsistent StatisticValues.');
      rec = { count: sc, sum, min, max };
    } else {
      rec = { count: 0, sum: 0, min: Infinity, max: -Infinity };
      values.forEach((v, i) => {
        if (v === undefined) return;
        const c = counts[i] === undefined ? 1 : counts[i];
        rec.count += c;
        rec.sum += v * c;
        rec.min = Math.min(rec.min, v);
        rec.max = Math.max(rec.max, v);
      });
      if (rec.count <= 0) throw cwError('InvalidParameterValue', 'Values with no counts.');
    }
    add.push({ ns, name, dims, unit, ts, ...rec });
  }
  for (const x of add) datums.push(x);
  fs.appendFileSync(METRICS_FILE, add.map((x) => JSON.stringify(x)).join('\n') + '\n');
  return '';
}

function aggregate(stat, b) {
  switch (stat) {
    case 'Sum':
      return b.sum;
    case 'Average':
      return b.sum / b.count;
    case 'Minimum':
      return b.min;
    case 'Maximum':
      return b.max;
    case 'SampleCount':
      return b.count;
    default:
      return NaN;
  }
}

/* Datums of one metric between [start, end) grouped in period buckets: Map(bucketStart -> agg) */
function buckets(ns, name, dims, unit, start, end, period) {
  const id = metricId(ns, name, dims);
  const out = new Map();
  for (const d of datums) {
    if (d.ns !== ns || d.name !== name) continue;
    if (metricId(d.ns, d.name, d.dims) !== id) continue;
    if (unit && d.unit !== unit) continue;
    if (d.ts < start || d.ts >= end) continue;
    const k = Math.floor(d.ts / (period * 1000)) * period * 1000;
    let b = out.get(k);
    if (!b) out.set(k, (b = { count: 0, sum: 0, min: Infinity, max: -Infinity, unit: d.unit }));
    b.count += d.count;
    b.sum += d.sum;
    b.min = Math.min(b.min, d.min);
    b.max = Math.max(b.max, d.max);
  }
  return out;
}

function checkPeriod(period, what) {
  if (!Number.isInteger(period) || period < 1) throw cwError('InvalidParameterValue', `The parameter ${what} must be a positive integer.`);
  if (period >= 60 ? period % 60 !== 0 : ![1, 5, 10, 30].includes(period))
    throw cwError('InvalidParameterValue', `The parameter ${what} must be 1, 5, 10, 30 or a multiple of 60.`);
}

function num(x) {
  return String(x);
}

function getMetricData(p) {
  const start = parseTime(p.get('StartTime'), 'StartTime');
  const end = parseTime(p.get('EndTime'), 'EndTime');
  if (end <= start) throw cwError('InvalidParameterValue', 'The parameter StartTime must be less than the parameter EndTime.');
  const ascending = p.get('ScanBy') === 'TimestampAscending';
  const queries = members(p, 'MetricDataQueries');
  if (queries.length === 0) throw cwError('MissingParameter', 'The parameter MetricDataQueries is required.');
  if (queries.length > 500) throw cwError('InvalidParameterValue', 'At most 500 MetricDataQueries.');
  let xml = '';
  for (const q of queries) {
    if (!(q instanceof Map)) throw cwError('InvalidParameterValue', 'Malformed MetricDataQueries.');
    const id = q.get('Id');
    if (!id || !/^[a-z][a-zA-Z0-9_]*$/.test(id)) throw cwError('ValidationError', 'Each MetricDataQueries Id must start with a lower-case letter and use only letters, digits and _.');
    if (q.get('Expression') !== undefined) throw cwError('InvalidParameterValue', 'Expressions are not supported by the local stand-in.');
    const ns = q.get('MetricStat.Metric.Namespace');
    const name = q.get('MetricStat.Metric.MetricName');
    const period = parseNumber(q.get('MetricStat.Period'), 'MetricStat.Period');
    const stat = q.get('MetricStat.Stat');
    if (!ns || !name || period === undefined || !stat)
      throw cwError('MissingParameter', 'MetricStat needs Metric.Namespace, Metric.MetricName, Period and Stat.');
    checkPeriod(period, 'MetricStat.Period');
    if (!STATS.has(stat)) throw cwError('InvalidParameterValue', `The stand-in supports the statistics ${[...STATS].join(', ')}, not ${stat}.`);
    const dims = parseDimensions(q, 'MetricStat.Metric.Dimensions');
    if (q.get('ReturnData') === 'false') continue;
    const b = buckets(ns, name, dims, q.get('MetricStat.Unit'), start, end, period);
    const keys = [...b.keys()].sort((x, y) => (ascending ? x - y : y - x));
    xml +=
      `<member><Id>${xmlEscape(id)}</Id><Label>${xmlEscape(q.get('Label') || name)}</Label>` +
      `<Timestamps>${keys.map((k) => `<member>${iso(k)}</member>`).join('')}</Timestamps>` +
      `<Values>${keys.map((k) => `<member>${num(aggregate(stat, b.get(k)))}</member>`).join('')}</Values>` +
      `<StatusCode>Complete</StatusCode></member>`;
  }
  return `<GetMetricDataResult><MetricDataResults>${xml}</MetricDataResults><Messages/></GetMetricDataResult>`;
}

function getMetricStatistics(p) {
  const ns = p.get('Namespace');
  const name = p.get('MetricName');
  if (!ns || !name) throw cwError('MissingParameter', 'The parameters Namespace and MetricName are required.');
  const start = parseTime(p.get('StartTime'), 'StartTime');
  const end = parseTime(p.get('EndTime'), 'EndTime');
  const period = parseNumber(p.get('Period'), 'Period');
  if (period === undefined) throw cwError('MissingParameter', 'The parameter Period is required.');
  checkPeriod(period, 'Period');
  const stats = members(p, 'Statistics');
  if (stats.length === 0) throw cwError('MissingParameter', 'The parameter Statistics is required.');
  for (const s of stats) if (!STATS.has(s)) throw cwError('InvalidParameterValue', `Unknown statistic ${s}.`);
  const dims = parseDimensions(p, 'Dimensions');
  const b = buckets(ns, name, dims, p.get('Unit'), start, end, period);
  let xml = '';
  for (const k of [...b.keys()].sort((x, y) => x - y)) {
    const agg = b.get(k);
    xml += `<member><Timestamp>${iso(k)}</Timestamp>`;
    for (const s of stats) xml += `<${s}>${num(aggregate(s, agg))}</${s}>`;
    xml += `<Unit>${xmlEscape(agg.unit)}</Unit></member>`;
  }
  return `<GetMetricStatisticsResult><Label>${xmlEscape(name)}</Label><Datapoints>${xml}</Datapoints></GetMetricStatisticsResult>`;
}

function listMetrics(p) {
  const ns = p.get('Namespace');
  const name = p.get('MetricName');
  const filters = parseDimensions(p, 'Dimensions');
  const seen = new Map();
  for (const d of datums) {
    if (ns && d.ns !== ns) continue;
    if (name && d.name !== name) continue;
    if (!filters.every((f) => d.dims.some((x) => x.Name === f.Name && (f.Value === undefined || x.Value === f.Value)))) continue;
    const id = metricId(d.ns, d.name, d.dims);
    if (!seen.has(id)) seen.set(id, d);
  }
  let xml = '';
  for (const d of seen.values()) {
    xml +=
      `<member><Namespace>${xmlEscape(d.ns)}</Namespace><MetricName>${xmlEscape(d.name)}</MetricName><Dimensions>` +
      d.dims.map((x) => `<member><Name>${xmlEscape(x.Name)}</Name><Value>${xmlEscape(x.Value)}</Value></member>`).join('') +
      `</Dimensions></member>`;
  }
  return `<ListMetricsResult><Metrics>${xml}</Metrics></ListMetricsResult>`;
}

const cwOps = {
  PutMetricData: putMetricData,
  GetMetricData: getMetricData,
  GetMetricStatistics: getMetricStatistics,
  ListMetrics: listMetrics,
};

async function handleCloudWatch(req, res, ctx, body) {
  let p;
  if (req.method === 'POST') p = new URLSearchParams(body.toString('utf8'));
  else p = new URLSearchParams(ctx.rawQuery);
  const action = p.get('Action');
  ctx.op = action || '-';
  if (!action) throw cwError('MissingAction', 'The request must contain the parameter Action.');
  if (!Object.prototype.hasOwnProperty.call(cwOps, action)) throw cwError('InvalidAction', `The action ${action} is not valid for this web service.`);
  if (p.get('Version') !== '2010-08-01') throw cwError('InvalidParameterValue', 'The parameter Version must be 2010-08-01.');
  const result = cwOps[action](p);
  const text =
    `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${CW_NS}">${result}` +
    `<ResponseMetadata><RequestId>${ctx.requestId}</RequestId></ResponseMetadata></${action}Response>`;
  ctx.status = 200;
  res.writeHead(200, { 'content-type': 'text/xml', 'x-amzn-requestid': ctx.requestId, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/* ------------------------------------------------------------------ CloudWatch Logs */

const LOGS_DIR = path.join(opts.data, 'logs');
const LOGS_MAX_EVENTS = 10000;
const LOGS_MAX_BYTES = 1048576;
const LOGS_EVENT_OVERHEAD = 26;
const LOGS_MAX_EVENT = 262144 - LOGS_EVENT_OVERHEAD;
const LOGS_MAX_SPAN_MS = 24 * 3600 * 1000;
const LOGS_TOO_OLD_MS = 14 * 24 * 3600 * 1000;
const LOGS_TOO_NEW_MS = 2 * 3600 * 1000;
const LOGS_NAME = /^[.\-_/#A-Za-z0-9]{1,512}$/;
const LOGS_STREAM_NAME = /^[^:*]{1,512}$/;

function logsError(code, message, status) {
  return new HttpError(status || 400, code, message);
}

function logsGroupDir(name) {
  if (typeof name !== 'string' || !LOGS_NAME.test(name))
    throw logsError('InvalidParameterException', `Invalid log group name '${name}'.`);
  return path.join(LOGS_DIR, encodeURIComponent(name));
}

function logsStreamFile(group, stream) {
  const dir = logsGroupDir(group);
  if (!fs.existsSync(dir)) throw logsError('ResourceNotFoundException', 'The specified log group does not exist.');
  if (typeof stream !== 'string' || !LOGS_STREAM_NAME.test(stream))
    throw logsError('InvalidParameterException', `Invalid log stream name '${stream}'.`);
  return path.join(dir, `${encodeURIComponent(stream)}.jsonl`);
}

const logsOps = {
  CreateLogGroup(input) {
    const dir = logsGroupDir(input.logGroupName);
    if (fs.existsSync(dir)) throw logsError('ResourceAlreadyExistsException', 'The specified log group already exists');
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    return {};
  },
  CreateLogStream(input) {
    const file = logsStreamFile(input.logGroupName, input.logStreamName);
    if (fs.existsSync(file)) throw logsError('ResourceAlreadyExistsException', 'The specified log stream already exists');
    fs.writeFileSync(file, '', { mode: 0o600 });
    return {};
  },
  PutLogEvents(input) {
    const file = logsStreamFile(input.logGroupName, input.logStreamName);
    if (!fs.existsSync(file)) throw logsError('ResourceNotFoundException', 'The specified log stream does not exist.');
    const ev = input.logEvents;
    if (!Array.isArray(ev) || ev.length < 1 || ev.length > LOGS_MAX_EVENTS)
      throw logsError('InvalidParameterException', `logEvents must hold 1 to ${LOGS_MAX_EVENTS} events.`);
    let bytes = 0;
    for (const e of ev) {
      if (!e || typeof e.message !== 'string' || !Number.isInteger(e.timestamp) || e.timestamp < 0)
        throw logsError('InvalidParameterException', 'Each log event needs an integer timestamp and a string message.');
      if (e.message.length === 0) throw logsError('InvalidParameterException', 'A log event message cannot be empty.');
      const n = Buffer.byteLength(e.message, 'utf8');
      if (n > LOGS_MAX_EVENT) throw logsError('InvalidParameterException', `Log event too large: ${n} bytes exceeds limit of ${LOGS_MAX_EVENT}`);
      bytes += n + LOGS_EVENT_OVERHEAD;
    }
    if (bytes > LOGS_MAX_BYTES)
      throw logsError('InvalidParameterException', `Upload too large: ${bytes} bytes exceeds limit of ${LOGS_MAX_BYTES}`);
    for (let i = 1; i < ev.length; i++)
      if (ev[i].timestamp < ev[i - 1].timestamp)
        throw logsError('InvalidParameterException', 'Log events in a single PutLogEvents request must be in chronological order.');
    if (ev[ev.length - 1].timestamp - ev[0].timestamp > LOGS_MAX_SPAN_MS)
      throw logsError('InvalidParameterException', 'The batch of log events in a single PutLogEvents request cannot span more than 24 hours.');
    const now = Date.now();
    const rejected = {};
    let lines = '';
    ev.forEach((e, i) => {
      if (e.timestamp < now - LOGS_TOO_OLD_MS) rejected.tooOldLogEventEndIndex = i + 1;
      else if (e.timestamp > now + LOGS_TOO_NEW_MS) {
        if (rejected.tooNewLogEventStartIndex === undefined) rejected.tooNewLogEventStartIndex = i;
      } else lines += `${JSON.stringify({ timestamp: e.timestamp, message: e.message, ingestionTime: now })}\n`;
    });
    fs.appendFileSync(file, lines);
    const out = { nextSequenceToken: String(now) };
    if (Object.keys(rejected).length) out.rejectedLogEventsInfo = rejected;
    return out;
  },
};

async function handleLogs(req, res, ctx, body) {
  return handleJson11(req, res, ctx, body, 'Logs_20140328', logsOps, logsError);
}

/* ------------------------------------------------------------------ S3 front */

const upstream = opts.s3Upstream ? new URL(opts.s3Upstream) : null;
/* request bodies too large to hold in memory wait here until they are whole */
const BODIES_DIR = path.join(opts.data, 'bodies');
fs.rmSync(BODIES_DIR, { recursive: true, force: true });
fs.mkdirSync(BODIES_DIR, { recursive: true, mode: 0o700 });
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const MP_FILE = path.join(opts.data, 'multipart.json');
let uploads = {};
try {
  uploads = JSON.parse(fs.readFileSync(MP_FILE, 'utf8'));
} catch (e) {
  if (e.code !== 'ENOENT') die(`cannot read ${MP_FILE}: ${e.message}`);
}
function saveUploads() {
  writeFileAtomic(MP_FILE, JSON.stringify(uploads));
}

function isIPv4(h) {
  return /^\d+\.\d+\.\d+\.\d+$/.test(h);
}

/* bucket and key of a request, path-style or virtual-host style (as s3rver does it) */
function s3Target(req, rawPath) {
  const host = (req.headers.host || '').replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  const segs = rawPath.split('/');
  const dec = (s) => {
    try {
      return decodeURIComponent(s);
    } catch (e) {
      return s;
    }
  };
  if (host && !isIPv4(host) && host !== 'localhost' && !host.includes(':')) {
    return { bucket: host.split('.')[0], key: dec(segs.slice(1).join('/')) };
  }
  return { bucket: dec(segs[1] || ''), key: dec(segs.slice(2).join('/')) };
}

function sendXml(res, ctx, status, xml) {
  const text = `<?xml version="1.0" encoding="UTF-8"?>\n${xml}`;
  ctx.status = status;
  res.writeHead(status, { 'content-type': 'application/xml', 'x-amz-request-id': ctx.requestId, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const OWNER = '<ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID><DisplayName>spool-local</DisplayName>';

function listMultipartUploads(res, ctx, t) {
  const q = ctx.query;
  const prefix = qget(q, 'prefix') || '';
  const max = Math.min(Number(qget(q, 'max-uploads')) || 1000, 1000);
  const list = Object.entries(uploads)
    .filter(([, u]) => u.bucket === t.bucket && u.key.startsWith(prefix))
    .sort(([ia, a], [ib, b]) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.initiated - b.initiated));
  const page = list.slice(0, max);
  let xml =
    `<ListMultipartUploadsResult xmlns="${S3_NS}"><Bucket>${xmlEscape(t.bucket)}</Bucket><KeyMarker></KeyMarker>` +
    `<UploadIdMarker></UploadIdMarker><NextKeyMarker></NextKeyMarker><NextUploadIdMarker></NextUploadIdMarker>` +
    `<Prefix>${xmlEscape(prefix)}</Prefix><MaxUploads>${max}</MaxUploads><IsTruncated>${page.length < list.length}</IsTruncated>`;
  for (const [id, u] of page) {
    xml +=
      `<Upload><Key>${xmlEscape(u.key)}</Key><UploadId>${xmlEscape(id)}</UploadId><Initiator>${OWNER}</Initiator>` +
      `<Owner>${OWNER}</Owner><StorageClass>STANDARD</StorageClass><Initiated>${isoMillis(u.initiated)}</Initiated></Upload>`;
  }
  sendXml(res, ctx, 200, `${xml}</ListMultipartUploadsResult>`);
}

function noSuchUpload(res, ctx) {
  throw new HttpError(404, 'NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.');
}

function listParts(res, ctx, t, id) {
  const u = uploads[id];
  if (!u || u.bucket !== t.bucket || u.key !== t.key) return noSuchUpload(res, ctx);
  const parts = Object.values(u.parts || {}).sort((a, b) => a.n - b.n);
  const marker = Number(qget(ctx.query, 'part-number-marker')) || 0;
  const max = Math.min(Number(qget(ctx.query, 'max-parts')) || 1000, 1000);
  const sel = parts.filter((p) => p.n > marker);
  const page = sel.slice(0, max);
  let xml =
    `<ListPartsResult xmlns="${S3_NS}"><Bucket>${xmlEscape(t.bucket)}</Bucket><Key>${xmlEscape(t.key)}</Key>` +
    `<UploadId>${xmlEscape(id)}</UploadId><Initiator>${OWNER}</Initiator><Owner>${OWNER}</Owner><StorageClass>STANDARD</StorageClass>` +
    `<PartNumberMarker>${marker}</PartNumberMarker><NextPartNumberMarker>${page.length ? page[page.length - 1].n : 0}</NextPartNumberMarker>` +
    `<MaxParts>${max}</MaxParts><IsTruncated>${page.length < sel.length}</IsTruncated>`;
  for (const p of page)
    xml += `<Part><PartNumber>${p.n}</PartNumber><LastModified>${isoMillis(p.at)}</LastModified><ETag>${xmlEscape(p.etag)}</ETag><Size>${p.size}</Size></Part>`;
  sendXml(res, ctx, 200, `${xml}</ListPartsResult>`);
}

const SMALL_BODY = 1 << 20;

/*
 * Receive a request body into a file of BODIES_DIR; resolves { file, sha256 } once
 * it is whole, rejects (the file removed) when the client goes away first.
 */
function spoolBody(req) {
  return new Promise((resolve, reject) => {
    const file = path.join(BODIES_DIR, crypto.randomUUID());
    const out = fs.createWriteStream(file, { flags: 'wx', mode: 0o600 });
    const hash = crypto.createHash('sha256');
    let settled = false;
    const fail = (err) => {
      if (settled) return;
      settled = true;
      req.unpipe(out);
      out.destroy();
      fs.unlink(file, () => {});
      reject(err);
    };
    req.on('data', (c) => hash.update(c));
    req.on('aborted', () => fail(incompleteBody()));
    req.on('error', () => fail(incompleteBody()));
    out.on('error', (e) => fail(new HttpError(500, 'InternalError', `the stand-in cannot hold the body: ${e.message}`)));
    out.on('finish', () => {
      if (settled) return;
      if (!req.complete) return fail(incompleteBody());
      settled = true;
      resolve({ file, sha256: hash.digest('hex') });
    });
    req.pipe(out);
  });
}

async function handleS3(req, res, ctx) {
  if (!upstream) throw new HttpError(503, 'ServiceUnavailable', 'No S3 upstream configured (--s3-upstream).');
  const q = ctx.query;
  const t = s3Target(req, ctx.rawPath);
  const uploadId = qget(q, 'uploadId');
  const hasUploads = 'uploads' in q;
  ctx.op = hasUploads ? 'uploads' : uploadId !== undefined ? (qget(q, 'partNumber') ? 'UploadPart' : 'uploadId') : '-';
  iam.authorizeS3(ctx, req, t);

  /* what s3rver cannot do */
  if (req.method === 'GET' && hasUploads && t.bucket && !t.key) return listMultipartUploads(res, ctx, t);
  if (req.method === 'GET' && uploadId !== undefined && t.key) return listParts(res, ctx, t, uploadId);
  if (req.method === 'DELETE' && uploadId !== undefined && t.key) {
    const u = uploads[uploadId];
    if (!u || u.bucket !== t.bucket || u.key !== t.key) return noSuchUpload(res, ctx);
    delete uploads[uploadId];
    saveUploads();
    ctx.status = 204;
    res.writeHead(204, { 'x-amz-request-id': ctx.requestId });
    res.end();
    return;
  }
  if (req.method === 'PUT' && uploadId !== undefined && !uploads[uploadId]) return noSuchUpload(res, ctx);

  const sha = req.headers['x-amz-content-sha256'];
  if (sha && /^STREAMING-/.test(sha))
    throw new HttpError(501, 'NotImplemented', 'aws-chunked (STREAMING-*) payloads are not supported by the local stand-in.');

  /* s3rver knows only the account S3RVER: name it, the signature was checked here */
  const headers = { ...req.headers };
  delete headers.expect; /* answered here already (Node sends 100 Continue) */
  let rawQuery = ctx.rawQuery;
  if (headers.authorization) headers.authorization = headers.authorization.replace(/Credential=[^/,\s]+\//, 'Credential=S3RVER/');
  if (ctx.presigned) rawQuery = rawQuery.replace(/(^|&)(X-Amz-Credential=)[^&%/]+/i, '$1$2S3RVER');

  /*
   * S3 stores nothing of a request whose body does not arrive whole, but s3rver
   * writes an object as its body comes: so the body is received here first (in
   * memory up to SMALL_BODY, else in a file) and sent on only once it is complete.
   */
  let buffered = null;
  let spooled = null;
  const len = Number(req.headers['content-length']);
  const hasBody = req.headers['content-length'] !== undefined ? len > 0 : req.headers['transfer-encoding'] !== undefined;
  if (hasBody && Number.isFinite(len) && len <= SMALL_BODY) buffered = await readBody(req, SMALL_BODY);
  else if (hasBody) spooled = await spoolBody(req);
  const got = buffered ? sha256hex(buffered) : spooled && spooled.sha256;
  if (got && sha && /^[0-9a-f]{64}$/i.test(sha) && got !== sha.toLowerCase()) {
    if (spooled) fs.unlink(spooled.file, () => {});
    throw Object.assign(new HttpError(400, 'XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed."), {
      extra: { ClientComputedContentSHA256: sha, S3ComputedContentSHA256: got },
    });
  }

  const isCreate = req.method === 'POST' && hasUploads;
  const isComplete = req.method === 'POST' && uploadId !== undefined;
  const isPart = req.method === 'PUT' && uploadId !== undefined && qget(q, 'partNumber') !== undefined;

  const forwarded = new Promise((resolve, reject) => {
    const up = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: ctx.rawPath + (rawQuery ? `?${rawQuery}` : ''),
        headers,
        agent,
      },
      (ur) => {
        const hidden = ur.statusCode === 404 ? iam.missingObject(ctx, req, t) : null;
        if (hidden) {
          ur.resume();
          reject(hidden);
          return;
        }
        ctx.status = ur.statusCode;
        if ((isCreate || isComplete) && ur.statusCode === 200) {
          const chunks = [];
          ur.on('data', (c) => chunks.push(c));
          ur.on('error', reject);
          ur.on('end', () => {
            const buf = Buffer.concat(chunks);
            const text = buf.toString('utf8');
            if (isCreate) {
              const m = /<UploadId>([^<]+)<\/UploadId>/.exec(text);
              if (m) {
                uploads[m[1]] = { bucket: t.bucket, key: t.key, initiated: Date.now(), parts: {} };
                saveUploads();
              }
            } else if (/<CompleteMultipartUploadResult/.test(text)) {
              delete uploads[uploadId];
              saveUploads();
            }
            const h = { ...ur.headers, 'content-length': buf.length };
            delete h['transfer-encoding'];
            res.writeHead(ur.statusCode, h);
            res.end(buf);
            resolve();
          });
          return;
        }
        if (isPart && ur.statusCode === 200 && uploads[uploadId]) {
          const n = Number(qget(q, 'partNumber'));
          uploads[uploadId].parts[n] = { n, etag: ur.headers.etag || '', size: Number.isFinite(len) ? len : 0, at: Date.now() };
          saveUploads();
        }
        res.writeHead(ur.statusCode, ur.headers);
        ur.pipe(res);
        ur.on('end', resolve);
        ur.on('error', reject);
      },
    );
    up.on('error', (e) => reject(new HttpError(502, 'ServiceUnavailable', `S3 upstream: ${e.message}`)));
    /* a client gone stops a download; a body already whole is still stored, as by S3 */
    if (!buffered && !spooled) {
      res.on('close', () => {
        if (!res.writableFinished) up.destroy();
      });
    }
    if (buffered) up.end(buffered);
    else if (spooled) fs.createReadStream(spooled.file).on('error', (e) => up.destroy(e)).pipe(up);
    else up.end();
  });
  try {
    await forwarded;
  } finally {
    if (spooled) fs.unlink(spooled.file, () => {});
  }
}

/* ------------------------------------------------------------------ server */

function logLine(ctx) {
  const ms = Date.now() - ctx.t0;
  process.stderr.write(
    `${new Date().toISOString()} ${ctx.method} ${ctx.service || '-'} ${ctx.op || '-'} ${ctx.logPath} ${ctx.status || '-'} ${ms}ms` +
      `${ctx.role ? ` role=${ctx.role}` : ''}${ctx.iamDenied ? ` denied=${ctx.iamDenied}` : ''}\n`,
  );
}

const server = http.createServer(async (req, res) => {
  const ctx = { t0: Date.now(), method: req.method, requestId: requestId(), status: 0, service: 's3' };
  const url = req.url || '/';
  const qi = url.indexOf('?');
  ctx.rawPath = qi < 0 ? url : url.slice(0, qi);
  ctx.rawQuery = qi < 0 ? '' : url.slice(qi + 1);
  /* the path and the names (not values) of non-auth query parameters */
  const qnames = ctx.rawQuery
    .split('&')
    .map((p) => p.split('=')[0])
    .filter((k) => k && !/^x-amz-/i.test(k));
  ctx.logPath = ctx.rawPath + (qnames.length ? `?${qnames.join('&')}` : '');
  res.on('finish', () => logLine(ctx));
  res.on('close', () => {
    if (!res.writableFinished) {
      ctx.status = ctx.status || 499;
      logLine(ctx);
    }
  });
  try {
    if (ctx.rawPath === '/__standin/health' && (req.method === 'GET' || req.method === 'HEAD')) {
      ctx.service = 'standin';
      ctx.status = 200;
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
      return;
    }
    ctx.query = parseQuery(ctx.rawQuery);
    ctx.service = guessService(req, ctx.query);
    if (req.method === 'OPTIONS' && ctx.service === 's3' && !req.headers.authorization) {
      /* CORS preflight carries no signature */
      ctx.presigned = false;
      return await handleS3(req, res, ctx);
    }
    let body;
    if (ctx.service !== 's3') body = await readBody(req, 10 * 1024 * 1024);
    const a = await authenticate(req, ctx, body);
    ctx.region = a.region;
    ctx.presigned = a.presigned;
    if (a.service === 's3') return await handleS3(req, res, ctx);
    iam.authorize(ctx, req, body);
    if (a.service === 'secretsmanager') return await handleSecrets(req, res, ctx, body);
    if (a.service === 'monitoring') return await handleCloudWatch(req, res, ctx, body);
    if (a.service === 'logs') return await handleLogs(req, res, ctx, body);
  } catch (err) {
    if (!(err instanceof HttpError)) {
      process.stderr.write(`aws-standin: internal error: ${err && err.stack ? err.stack : err}\n`);
      err = new HttpError(500, 'InternalFailure', 'internal error in the stand-in');
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    /* drain an unread body so the client sees the answer */
    if (!req.complete) req.resume();
    sendError(res, ctx, err);
  }
});

server.keepAliveTimeout = 65000;
server.on('clientError', (err, sock) => {
  if (sock.writable) sock.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
});

server.listen(opts.port, opts.listen, () => {
  const a = server.address();
  process.stderr.write(
    `aws-standin: listening on http://${a.address}:${a.port} (data ${opts.data}, ${credentials.size} access key(s)` +
      `${upstream ? `, s3 -> ${upstream.origin}` : ''})\n`,
  );
});

function shutdown(sig) {
  process.stderr.write(`aws-standin: ${sig}, stopping\n`);
  server.close(() => process.exit(0));
  server.closeAllConnections && server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
