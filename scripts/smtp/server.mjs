// A real SMTP server on loopback for the SMTP adapter's tests
// (internal/notify/smtpmail, internal/notify): nodemailer's smtp-server,
// started by scripts/smtp-server.sh. Nothing it accepts leaves the machine:
// every message is kept in memory, to be read back over HTTP.
//
// Three SMTP listeners, each on a free port of 127.0.0.1:
//   starttls  submission as on port 587: STARTTLS offered, AUTH PLAIN or
//             LOGIN required (offered only after STARTTLS)
//   tls       submission as on port 465: TLS from the first byte, AUTH LOGIN
//             required
//   plain     a relay on this machine: no TLS, no AUTH
// The certificate is TLS_CERT/TLS_KEY (scripts/smtp-server.sh makes a
// self-signed one for 127.0.0.1 and localhost); the account is USERNAME and
// PASSWORD below.
//
// Recipients by their local part, on every listener:
//   refuse…@    550 5.1.1 mailbox unavailable (refused for good)
//   busy…@      451 4.2.1 mailbox busy, every time (a temporary failure)
//   greylist…@  450 4.7.1 the first time for that address, accepted after
//   anything else is accepted.
//
// HTTP on PORT (127.0.0.1):
//   GET /info                 {"starttls":"127.0.0.1:P","tls":…,"plain":…,"username":…,"password":…,"ca":"<PEM>"}
//   GET /messages[?to=ADDR]   [{"id","listener","user","secure","mail_from","rcpt_to":[…],"raw","at"}], oldest first
//   GET /refusals[?to=ADDR]   [{"listener","address","code"}]: every recipient refused, oldest first
//   GET /health               200
// READY_FILE gets the HTTP base URL once everything listens.
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// smtp-server is found from the directory npm installed it into
// (SMTP_SERVER_FROM, default .tools/smtp): ESM ignores NODE_PATH.
const here = path.dirname(fileURLToPath(import.meta.url));
const from = process.env.SMTP_SERVER_FROM || path.join(here, '..', '..', '.tools', 'smtp');
const { SMTPServer } = createRequire(path.join(from, 'package.json'))('smtp-server');

const HOST = '127.0.0.1';
const USERNAME = 'countersign';
const PASSWORD = 'smtp-test-password-0123456789';
const key = readFileSync(process.env.TLS_KEY);
const cert = readFileSync(process.env.TLS_CERT);

const messages = [];
const refusals = [];
const greylisted = new Set();
let nextID = 1;

function fail(code, message) {
  const err = new Error(message);
  err.responseCode = code;
  return err;
}

function smtp(listener, options) {
  return new SMTPServer({
    name: 'smtp-test.countersign.localhost',
    banner: `countersign test server (${listener})`,
    logger: false,
    size: 10 * 1024 * 1024,
    key,
    cert,
    ...options,
    onAuth(auth, session, callback) {
      if (auth.username === USERNAME && auth.password === PASSWORD) {
        callback(null, { user: auth.username });
        return;
      }
      callback(fail(535, '5.7.8 Authentication credentials invalid'));
    },
    onRcptTo(address, session, callback) {
      const addr = address.address.toLowerCase();
      const local = addr.split('@')[0];
      let err = null;
      if (local.startsWith('refuse')) {
        err = fail(550, `5.1.1 <${addr}>: mailbox unavailable`);
      } else if (local.startsWith('busy')) {
        err = fail(451, `4.2.1 <${addr}>: mailbox busy, try again later`);
      } else if (local.startsWith('greylist') && !greylisted.has(addr)) {
        greylisted.add(addr);
        err = fail(450, `4.7.1 <${addr}>: greylisted, try again later`);
      }
      if (err) {
        refusals.push({ listener, address: addr, code: err.responseCode });
      }
      callback(err);
    },
    onData(stream, session, callback) {
      const chunks = [];
      stream.on('data', (c) => chunks.push(c));
      stream.on('end', () => {
        if (stream.sizeExceeded) {
          callback(fail(552, '5.3.4 message too big'));
          return;
        }
        const id = `m${nextID++}`;
        messages.push({
          id,
          listener,
          user: session.user || '',
          secure: !!session.secure,
          mail_from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          rcpt_to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
          at: new Date().toISOString(),
        });
        callback(null, `2.0.0 queued as ${id}`);
      });
    },
  });
}

const servers = {
  starttls: smtp('starttls', { secure: false, authMethods: ['PLAIN', 'LOGIN'], authOptional: false }),
  tls: smtp('tls', { secure: true, authMethods: ['LOGIN'], authOptional: false }),
  plain: smtp('plain', { secure: false, authOptional: true, disabledCommands: ['AUTH', 'STARTTLS'] }),
};
const addrs = {};
for (const [name, server] of Object.entries(servers)) {
  server.on('error', (err) => console.error(`${name}:`, err.message));
  server.listen(0, HOST);
  await once(server.server, 'listening');
  addrs[name] = `${HOST}:${server.server.address().port}`;
}

const matches = (to) => (addr) => !to || addr.toLowerCase() === to.toLowerCase();

const api = http.createServer((req, res) => {
  const url = new URL(req.url, `http://${HOST}`);
  const json = (v) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(v));
  };
  if (req.method !== 'GET') {
    res.writeHead(405).end();
    return;
  }
  const to = url.searchParams.get('to');
  switch (url.pathname) {
    case '/health':
      res.writeHead(200).end('ok');
      return;
    case '/info':
      json({ ...addrs, username: USERNAME, password: PASSWORD, ca: cert.toString('utf8') });
      return;
    case '/messages':
      json(messages.filter((m) => m.rcpt_to.some(matches(to))));
      return;
    case '/refusals':
      json(refusals.filter((r) => matches(to)(r.address)));
      return;
  }
  res.writeHead(404).end();
});
api.listen(Number(process.env.PORT || 0), HOST);
await once(api, 'listening');
const base = `http://${HOST}:${api.address().port}`;
console.log(`countersign SMTP test server: HTTP ${base}, SMTP ${JSON.stringify(addrs)}`);
if (process.env.READY_FILE) {
  writeFileSync(process.env.READY_FILE, base);
}

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => process.exit(0));
}
