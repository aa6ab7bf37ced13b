'use strict';
/*
 * iam.js — identity-based policies for the stand-in's role keys.
 *
 * A role key is an access key the keys file maps to a role; every request it signs
 * (Authorization header or presigned URL) is evaluated against the role's policy
 * document, DIR/<role>.json (scripts/iam-policies.py writes them from the template's
 * instance roles). Keys of the credentials file that no role claims stay unrestricted
 * (the operator's and the tests' admin key).
 *
 *   keys file   one "ACCESS_KEY_ID SECRET_ACCESS_KEY ROLE" per line ('#' comments)
 *   DIR/R.json  {"Version": ..., "Statement": [...]} with everything resolved
 *
 * Both are read again when they change (checked on each request), so the stack can
 * write the policies once it knows its secrets' ARNs.
 *
 * Evaluation, as IAM does it for one account without resource policies, boundaries or
 * SCPs: an explicit Deny that applies wins; else an Allow that applies is needed; else
 * the request is denied. A statement applies when its Action/NotAction, its
 * Resource/NotResource and every condition match. Conditions: the String*, Arn*,
 * Numeric*, Bool and Null operators, with IfExists, on the context keys in MODELED
 * (absent from a request when it does not carry them, as in AWS). Anything else — an
 * unknown operator, a set operator (ForAnyValue:/ForAllValues:), a key not modeled, a
 * policy variable — cannot be evaluated: such a statement never allows, and a Deny
 * with it denies; each case is logged. A request the stand-in cannot map to an action
 * is denied too. The bucket policy of the template is not evaluated: its only
 * statement denies requests without TLS, which every request to this loopback
 * stand-in is (aws:SecureTransport is false here, and so a role policy sees it).
 */

const fs = require('fs');
const path = require('path');

const MODELED = new Set([
  'aws:securetransport',
  'aws:requestedregion',
  'aws:principalarn',
  's3:prefix',
  's3:delimiter',
  's3:max-keys',
  'cloudwatch:namespace',
]);

const OPERATORS = {
  StringEquals: (v, p) => v === p,
  StringNotEquals: (v, p) => v === p,
  StringEqualsIgnoreCase: (v, p) => v.toLowerCase() === p.toLowerCase(),
  StringNotEqualsIgnoreCase: (v, p) => v.toLowerCase() === p.toLowerCase(),
  StringLike: (v, p) => globMatch(p, v, false),
  StringNotLike: (v, p) => globMatch(p, v, false),
  ArnEquals: (v, p) => v === p,
  ArnNotEquals: (v, p) => v === p,
  ArnLike: (v, p) => globMatch(p, v, false),
  ArnNotLike: (v, p) => globMatch(p, v, false),
  Bool: (v, p) => String(v).toLowerCase() === String(p).toLowerCase(),
  NumericEquals: (v, p) => Number(v) === Number(p),
  NumericNotEquals: (v, p) => Number(v) === Number(p),
  NumericLessThan: (v, p) => Number(v) < Number(p),
  NumericLessThanEquals: (v, p) => Number(v) <= Number(p),
  NumericGreaterThan: (v, p) => Number(v) > Number(p),
  NumericGreaterThanEquals: (v, p) => Number(v) >= Number(p),
};
/* operators true when no policy value matches (and when the key is absent) */
const NEGATED = new Set([
  'StringNotEquals',
  'StringNotEqualsIgnoreCase',
  'StringNotLike',
  'ArnNotEquals',
  'ArnNotLike',
  'NumericNotEquals',
]);

function globMatch(pattern, value, ignoreCase) {
  const re = String(pattern)
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${re}$`, ignoreCase ? 'is' : 's').test(String(value));
}

const list = (x) => (x === undefined ? [] : Array.isArray(x) ? x : [x]);

let cfg = null;
let state = { keys: new Map(), roles: new Map(), stamp: '' };

/* opts: { dir, keysFile, accountId, log(msg), makeError(status, code, message), secretArn(id) } */
function configure(opts) {
  cfg = opts;
  refresh();
}

function stampOf(file) {
  try {
    const s = fs.statSync(file);
    return `${file}:${s.mtimeMs}:${s.size}`;
  } catch (e) {
    return `${file}:-`;
  }
}

/* read the keys and the policies again when a file of them changed */
function refresh() {
  if (!cfg || (!cfg.dir && !cfg.keysFile)) return;
  let files = [];
  if (cfg.dir) {
    try {
      files = fs.readdirSync(cfg.dir).filter((f) => f.endsWith('.json')).sort();
    } catch (e) {
      files = [];
    }
  }
  const stamp = [cfg.keysFile ? stampOf(cfg.keysFile) : '', ...files.map((f) => stampOf(path.join(cfg.dir, f)))].join('|');
  if (stamp === state.stamp) return;
  const keys = new Map();
  if (cfg.keysFile) {
    let text = '';
    try {
      text = fs.readFileSync(cfg.keysFile, 'utf8');
    } catch (e) {
      if (e.code !== 'ENOENT') cfg.log(`iam: cannot read ${cfg.keysFile}: ${e.message}`);
    }
    for (const line of text.split('\n')) {
      const l = line.replace(/#.*/, '').trim();
      if (!l) continue;
      const [id, secret, role] = l.split(/\s+/);
      if (!id || !secret || !role) {
        cfg.log(`iam: bad line in ${cfg.keysFile} (want ACCESS_KEY_ID SECRET ROLE)`);
        continue;
      }
      keys.set(id, { secret, token: null, role });
    }
  }
  const roles = new Map();
  for (const f of files) {
    const role = f.slice(0, -5);
    try {
      const doc = JSON.parse(fs.readFileSync(path.join(cfg.dir, f), 'utf8'));
      roles.set(role, list(doc.Statement));
    } catch (e) {
      /* a role whose policy cannot be read may do nothing */
      cfg.log(`iam: cannot read the policy of ${role}: ${e.message}; the role is denied everything`);
      roles.set(role, []);
    }
  }
  state = { keys, roles, stamp };
  cfg.log(`iam: ${keys.size} role key(s), policies of ${[...roles.keys()].join(', ') || 'no role'}`);
}

/* credentials of a role key ({ secret, token }), or undefined */
function credentials(accessKeyId) {
  refresh();
  return state.keys.get(accessKeyId);
}

/* the role a key is mapped to, or null (unrestricted) */
function roleOf(accessKeyId) {
  const k = state.keys.get(accessKeyId);
  return k ? k.role : null;
}

function principalArn(role) {
  return `arn:aws:sts::${cfg.accountId}:assumed-role/${role}/spool-local`;
}

/* ------------------------------------------------------------------ evaluation */

function actionMatches(stmt, action) {
  if (stmt.Action !== undefined) return list(stmt.Action).some((p) => globMatch(p, action, true));
  if (stmt.NotAction !== undefined) return !list(stmt.NotAction).some((p) => globMatch(p, action, true));
  return false;
}

/* true, false, or a string: why it cannot be evaluated */
function resourceMatches(stmt, resource) {
  const pats = stmt.Resource !== undefined ? list(stmt.Resource) : list(stmt.NotResource);
  if (pats.some((p) => /\$\{/.test(String(p)))) return 'policy variables in Resource are not evaluated';
  const hit = pats.some((p) => globMatch(p, resource, false));
  if (stmt.Resource !== undefined) return hit;
  if (stmt.NotResource !== undefined) return !hit;
  return false;
}

function conditionsMatch(cond, context) {
  if (cond === undefined) return true;
  if (!cond || typeof cond !== 'object') return 'a Condition that is not an object';
  for (const [opRaw, block] of Object.entries(cond)) {
    let op = opRaw;
    const ifExists = op.endsWith('IfExists') && op !== 'Null';
    if (ifExists) op = op.slice(0, -'IfExists'.length);
    if (op !== 'Null' && !OPERATORS[op]) return `the condition operator ${opRaw} is not evaluated by the stand-in`;
    if (!block || typeof block !== 'object') return `a ${opRaw} block that is not an object`;
    for (const [keyRaw, want] of Object.entries(block)) {
      const key = keyRaw.toLowerCase();
      if (!MODELED.has(key)) return `the condition key ${keyRaw} is not modeled by the stand-in`;
      const have = context[key];
      const present = have !== undefined;
      let ok;
      if (op === 'Null') {
        ok = list(want).some((w) => String(w).toLowerCase() === String(!present));
      } else if (!present) {
        ok = ifExists || NEGATED.has(op);
      } else {
        const any = list(want).some((w) => OPERATORS[op](String(have), String(w)));
        ok = NEGATED.has(op) ? !any : any;
      }
      if (!ok) return false;
    }
  }
  return true;
}

/* { decision: 'allow' | 'implicit' | 'explicit' } for the role on (action, resource) */
function evaluate(role, action, resource, context) {
  const stmts = state.roles.get(role);
  if (!stmts) {
    cfg.log(`iam: no policy for role ${role}: ${action} denied`);
    return { decision: 'implicit' };
  }
  let allowed = false;
  for (const s of stmts) {
    if (!s || (s.Effect !== 'Allow' && s.Effect !== 'Deny')) continue;
    if (!actionMatches(s, action)) continue;
    const r = resourceMatches(s, resource);
    const c = r === true ? conditionsMatch(s.Condition, context) : r;
    if (typeof c === 'string') {
      cfg.log(`iam: ${role} statement ${s.Sid || '(no Sid)'}: ${c}: taken as ${s.Effect === 'Deny' ? 'denying' : 'not allowing'} ${action}`);
      if (s.Effect === 'Deny') return { decision: 'explicit' };
      continue;
    }
    if (c !== true) continue;
    if (s.Effect === 'Deny') return { decision: 'explicit' };
    allowed = true;
  }
  return { decision: allowed ? 'allow' : 'implicit' };
}

function baseContext(ctx, role) {
  return {
    'aws:securetransport': 'false',
    'aws:requestedregion': ctx.region,
    'aws:principalarn': principalArn(role),
  };
}

/* AccessDenied in the words of each service */
function denied(ctx, role, action, resource, explicit) {
  const why = explicit ? 'with an explicit deny in an identity-based policy' : `because no identity-based policy allows the ${action} action`;
  const on = resource === '*' ? '' : ` on resource: ${resource}`;
  const message = `User: ${principalArn(role)} is not authorized to perform: ${action}${on} ${why}`;
  ctx.iamDenied = `${action} ${resource}`;
  if (ctx.service === 's3') return cfg.makeError(403, 'AccessDenied', 'Access Denied');
  if (ctx.service === 'monitoring') return cfg.makeError(403, 'AccessDenied', message);
  return cfg.makeError(400, 'AccessDeniedException', message);
}

/* Throws the service's AccessDenied unless the role may do every (action, resource). */
function enforce(ctx, role, checks, context) {
  for (const [action, resource] of checks) {
    const r = evaluate(role, action, resource, context);
    if (r.decision !== 'allow') throw denied(ctx, role, action, resource, r.decision === 'explicit');
  }
}

function cannotMap(ctx, role, what) {
  cfg.log(`iam: ${role}: ${what}: no action known to the stand-in, denied`);
  return denied(ctx, role, `${ctx.service}:unknown`, '*', false);
}

/* ------------------------------------------------------------------ per service */

/* a JSON request body as an object ({} when it is not one: the handler answers that) */
function jsonBody(body) {
  try {
    const v = body && body.length ? JSON.parse(body.toString('utf8')) : {};
    return v && typeof v === 'object' ? v : {};
  } catch (e) {
    return {};
  }
}

/* Secrets Manager, CloudWatch and CloudWatch Logs: after authentication, before the handler */
function authorize(ctx, req, body) {
  const role = roleOf(ctx.accessKeyId);
  if (!role) return;
  ctx.role = role;
  const context = baseContext(ctx, role);
  const arnBase = (svc) => `arn:aws:${svc}:${ctx.region}:${cfg.accountId}`;
  if (ctx.service === 'secretsmanager') {
    const m = /^secretsmanager\.(\w+)$/.exec(req.headers['x-amz-target'] || '');
    if (!m) throw cannotMap(ctx, role, 'a Secrets Manager request without its operation');
    ctx.op = m[1];
    const input = jsonBody(body);
    const id = input.SecretId || input.Name;
    let resource = '*';
    if (typeof id === 'string' && id) resource = cfg.secretArn(id) || (id.startsWith('arn:') ? id : `${arnBase('secretsmanager')}:secret:${id}`);
    return enforce(ctx, role, [[`secretsmanager:${m[1]}`, resource]], context);
  }
  if (ctx.service === 'monitoring') {
    const p = new URLSearchParams(req.method === 'POST' ? (body || Buffer.alloc(0)).toString('utf8') : ctx.rawQuery);
    const action = p.get('Action');
    if (!action || !/^\w+$/.test(action)) throw cannotMap(ctx, role, 'a CloudWatch request without its Action');
    ctx.op = action;
    if (p.get('Namespace') !== null) context['cloudwatch:namespace'] = p.get('Namespace');
    return enforce(ctx, role, [[`cloudwatch:${action}`, '*']], context);
  }
  if (ctx.service === 'logs') {
    const m = /^Logs_\d+\.(\w+)$/.exec(req.headers['x-amz-target'] || '');
    if (!m) throw cannotMap(ctx, role, 'a CloudWatch Logs request without its operation');
    ctx.op = m[1];
    const input = jsonBody(body);
    let resource = '*';
    if (typeof input.logGroupName === 'string') {
      resource = `${arnBase('logs')}:log-group:${input.logGroupName}`;
      resource += typeof input.logStreamName === 'string' ? `:log-stream:${input.logStreamName}` : ':*';
    }
    return enforce(ctx, role, [[`logs:${m[1]}`, resource]], context);
  }
  throw cannotMap(ctx, role, `service ${ctx.service}`);
}

const OBJECT_READ_QUERY = new Set(['partNumber', 'response-content-type', 'response-content-disposition', 'response-content-language', 'response-expires', 'response-cache-control', 'response-content-encoding']);
const LIST_QUERY = new Set(['list-type', 'prefix', 'delimiter', 'max-keys', 'continuation-token', 'start-after', 'encoding-type', 'fetch-owner', 'marker']);

function onlyQuery(q, allowed) {
  return Object.keys(q).every((k) => allowed.has(k) || /^x-amz-/i.test(k));
}

/* the (action, resource) pairs an S3 request needs, or null when it is not modeled */
function s3Checks(req, q, t) {
  const m = req.method;
  const bucketArn = `arn:aws:s3:::${t.bucket}`;
  if (!t.bucket) return m === 'GET' && onlyQuery(q, new Set()) ? [['s3:ListAllMyBuckets', '*']] : null;
  if (!t.key) {
    if (m === 'HEAD' && onlyQuery(q, new Set())) return [['s3:ListBucket', bucketArn]];
    if (m === 'GET' && 'uploads' in q) return [['s3:ListBucketMultipartUploads', bucketArn]];
    if (m === 'GET' && 'location' in q) return [['s3:GetBucketLocation', bucketArn]];
    if (m === 'GET' && onlyQuery(q, LIST_QUERY)) return [['s3:ListBucket', bucketArn]];
    if (m === 'PUT' && onlyQuery(q, new Set())) return [['s3:CreateBucket', bucketArn]];
    if (m === 'DELETE' && onlyQuery(q, new Set())) return [['s3:DeleteBucket', bucketArn]];
    return null;
  }
  const objArn = `${bucketArn}/${t.key}`;
  const uploadId = 'uploadId' in q;
  const copy = req.headers['x-amz-copy-source'];
  const copyCheck = () => {
    let src = String(copy).split('?')[0];
    try {
      src = decodeURIComponent(src);
    } catch (e) {
      return null;
    }
    return ['s3:GetObject', `arn:aws:s3:::${src.replace(/^\//, '')}`];
  };
  if ((m === 'GET' || m === 'HEAD') && uploadId) return [['s3:ListMultipartUploadParts', objArn]];
  if ((m === 'GET' || m === 'HEAD') && onlyQuery(q, OBJECT_READ_QUERY)) return [['s3:GetObject', objArn]];
  if (m === 'PUT' && (onlyQuery(q, new Set()) || (uploadId && 'partNumber' in q && onlyQuery(q, new Set(['uploadId', 'partNumber']))))) {
    const c = copy ? copyCheck() : undefined;
    if (c === null) return null;
    return c ? [['s3:PutObject', objArn], c] : [['s3:PutObject', objArn]];
  }
  if (m === 'POST' && ('uploads' in q || uploadId) && onlyQuery(q, new Set(['uploads', 'uploadId']))) return [['s3:PutObject', objArn]];
  if (m === 'DELETE' && uploadId && onlyQuery(q, new Set(['uploadId']))) return [['s3:AbortMultipartUpload', objArn]];
  if (m === 'DELETE' && onlyQuery(q, new Set())) return [['s3:DeleteObject', objArn]];
  return null;
}

/* S3: t = { bucket, key } of the request; throws AccessDenied */
function authorizeS3(ctx, req, t) {
  const role = roleOf(ctx.accessKeyId);
  if (!role) return;
  ctx.role = role;
  const q = ctx.query;
  const checks = s3Checks(req, q, t);
  if (!checks) throw cannotMap(ctx, role, `S3 ${req.method} ${t.key ? 'object' : 'bucket'} with ?${Object.keys(q).filter((k) => !/^x-amz-/i.test(k)).join('&')}`);
  const context = baseContext(ctx, role);
  if (checks[0][0] === 's3:ListBucket') {
    for (const k of ['prefix', 'delimiter', 'max-keys']) {
      const v = q[k];
      if (v !== undefined) context[`s3:${k}`] = Array.isArray(v) ? v[0] : v;
    }
  }
  enforce(ctx, role, checks, context);
}

/*
 * S3 answers a GET or HEAD of a missing object 404 NoSuchKey only to a caller with
 * s3:ListBucket on the bucket (evaluated without s3:prefix: the request lists
 * nothing), else 403 AccessDenied, so that object names cannot be probed. Returns
 * the error to answer instead of the 404, or null.
 */
function missingObject(ctx, req, t) {
  const role = roleOf(ctx.accessKeyId);
  if (!role || !t.key || (req.method !== 'GET' && req.method !== 'HEAD')) return null;
  const bucketArn = `arn:aws:s3:::${t.bucket}`;
  const r = evaluate(role, 's3:ListBucket', bucketArn, baseContext(ctx, role));
  if (r.decision === 'allow') return null;
  return denied(ctx, role, 's3:ListBucket', bucketArn, r.decision === 'explicit');
}

module.exports = { configure, credentials, roleOf, authorize, authorizeS3, missingObject, evaluate };
