// A strict OCPP 1.6J or 2.0.1 CSMS for gateway/ocpp's tests. ocpp-rpc's strictMode validates
// every call and reply, in both directions, against the official OCPP 1.6 (or, with --ocpp 2.0.1,
// the OCPP 2.0.1) JSON schemas bundled with ocpp-rpc.
//
// Usage: node csms.js --port N [--ocpp 1.6|2.0.1] [--boot Accepted|Pending|Rejected[,...]] [--interval S]
//                     [--txid-start N] [--auth Accepted|Blocked|Invalid] [--auth-parent P]
//                     [--fail Action:N]
//                     [--password P] [--tls-cert F --tls-key F [--tls-client-ca F]]
//   --auth-parent P answers every Authorize with parentIdTag P (the idTag's group).
//   --fail Action:N answers the first N calls of Action with a CALLERROR InternalError.
//   --password P requires HTTP Basic auth with the identity as user (security profile 1).
//   --tls-cert/--tls-key serve wss:// with that PEM certificate and key (security profile 2);
//   --tls-client-ca F also requires a client certificate signed by the CA in F (profile 3).
//
// stdout: one JSON object per line:
//   {"type":"listening","port":N}
//   {"type":"connected","identity":..,"protocol":..}  {"type":"disconnected","identity":..}
//   {"type":"call","action":..,"id":..,"params":{..}}     a call from the charge point
//   {"type":"reply","action":..,"id":..,"result":{..}}    what this CSMS answered
//   {"type":"result","ref":..,"action":..,"result":{..}} / {"type":"error","ref":..,"error":".."}
//                                                         the answer to a call sent on request
//   {"type":"violation","detail":{..}}                    a schema violation, either way
//   {"type":"tls_error","error":".."}                     a TLS handshake the server refused
//   {"type":"client_cert","identity":..,"detail":{"subject":".."}}  the client certificate's CN
// stdin: one JSON object per line, a call to send to the connected charge point:
//   {"ref":"r1","action":"RemoteStartTransaction","params":{"idTag":"TAG"}}
'use strict';
const { RPCServer, createRPCError } = require('ocpp-rpc');
const readline = require('readline');
const fs = require('fs');
const https = require('https');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const port = Number(args.port || 0);
const bootSeq = (args.boot || 'Accepted').split(',');
const interval = Number(args.interval || 60);
let txid = Number(args['txid-start'] || 1);
const authStatus = args.auth || 'Accepted';
const authInfo = args['auth-parent'] ? { status: authStatus, parentIdTag: args['auth-parent'] } : { status: authStatus };
const [failAction, failCount] = (args.fail || ':0').split(':');
let failsLeft = Number(failCount);

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const now = () => new Date().toISOString();

const protocol = args.ocpp === '2.0.1' ? 'ocpp2.0.1' : 'ocpp1.6';
const server = new RPCServer({ protocols: [protocol], strictMode: true });
server.auth((accept, reject, handshake) => {
  if (args.password !== undefined && (!handshake.password || handshake.password.toString() !== args.password)) {
    out({ type: 'refused', identity: handshake.identity });
    reject(401, 'bad credentials');
    return;
  }
  const sock = handshake.request && handshake.request.socket;
  if (sock && typeof sock.getPeerCertificate === 'function') {
    const pc = sock.getPeerCertificate();
    if (pc && pc.subject) out({ type: 'client_cert', identity: handshake.identity, detail: { subject: pc.subject.CN } });
  }
  accept({}, protocol);
});

let current = null;
let boots = 0;

const answer = {
  BootNotification: () => ({ status: bootSeq[Math.min(boots++, bootSeq.length - 1)], currentTime: now(), interval }),
  Heartbeat: () => ({ currentTime: now() }),
  StatusNotification: () => ({}),
  Authorize: () => ({ idTagInfo: authInfo }),
  StartTransaction: () => ({ transactionId: txid++, idTagInfo: { status: authStatus } }),
  StopTransaction: () => ({ idTagInfo: { status: 'Accepted' } }),
  MeterValues: () => ({}),
  DataTransfer: (p) => ({ status: p.vendorId === 'org.chargegate' ? 'Accepted' : 'UnknownVendorId' }),
  DiagnosticsStatusNotification: () => ({}),
  FirmwareStatusNotification: () => ({}),
  SecurityEventNotification: () => ({}),
  SignedFirmwareStatusNotification: () => ({}),
  LogStatusNotification: () => ({}),
  SignCertificate: () => ({ status: 'Accepted' }),
};

// The 2.0.1 answers (OCPP 2.0.1 Part 3 schemas).
const answer201 = {
  BootNotification: () => ({ status: bootSeq[Math.min(boots++, bootSeq.length - 1)], currentTime: now(), interval }),
  Heartbeat: () => ({ currentTime: now() }),
  StatusNotification: () => ({}),
  Authorize: () => ({ idTokenInfo: { status: authStatus } }),
  TransactionEvent: (p) => (p.idToken ? { idTokenInfo: { status: authStatus } } : {}),
  NotifyReport: () => ({}),
  DataTransfer: (p) => ({ status: p.vendorId === 'org.chargegate' ? 'Accepted' : 'UnknownVendorId' }),
  SecurityEventNotification: () => ({}),
  FirmwareStatusNotification: () => ({}),
  LogStatusNotification: () => ({}),
  SignCertificate: () => ({ status: 'Accepted' }),
  MeterValues: () => ({}),
  ReservationStatusUpdate: () => ({}),
  ReportChargingProfiles: () => ({}),
};

server.on('client', (client) => {
  current = client;
  out({ type: 'connected', identity: client.identity, protocol: client.protocol });
  client.on('strictValidationFailure', (ev) => out({ type: 'violation', detail: { ...ev, error: String(ev.error && ev.error.message || ev.error) } }));
  client.on('close', () => { out({ type: 'disconnected', identity: client.identity }); if (current === client) current = null; });
  client.handle(({ method, params, messageId }) => {
    out({ type: 'call', action: method, id: messageId, params });
    if (method === failAction && failsLeft > 0) {
      failsLeft--;
      out({ type: 'reply', action: method, id: messageId, error: 'InternalError' });
      throw createRPCError('InternalError', 'failing on request of the test');
    }
    const f = (protocol === 'ocpp2.0.1' ? answer201 : answer)[method];
    if (!f) throw new Error('not handled by the test CSMS: ' + method);
    const result = f(params);
    out({ type: 'reply', action: method, id: messageId, result });
    return result;
  });
});

readline.createInterface({ input: process.stdin }).on('line', async (line) => {
  let req;
  try { req = JSON.parse(line); } catch (e) { out({ type: 'error', ref: null, error: 'bad control line: ' + e.message }); return; }
  if (!current) { out({ type: 'error', ref: req.ref, action: req.action, error: 'no charge point connected' }); return; }
  try {
    const result = await current.call(req.action, req.params || {});
    out({ type: 'result', ref: req.ref, action: req.action, result });
  } catch (e) {
    out({ type: 'error', ref: req.ref, action: req.action, error: String(e.message || e) });
  }
});

if (args['tls-cert']) {
  const opts = { cert: fs.readFileSync(args['tls-cert']), key: fs.readFileSync(args['tls-key']) };
  if (args['tls-client-ca']) Object.assign(opts, { ca: fs.readFileSync(args['tls-client-ca']), requestCert: true, rejectUnauthorized: true });
  const hs = https.createServer(opts, (req, res) => { res.statusCode = 404; res.end(); });
  hs.on('upgrade', server.handleUpgrade);
  hs.on('tlsClientError', (err) => out({ type: 'tls_error', error: String(err.message || err) }));
  hs.listen(port, '127.0.0.1', () => out({ type: 'listening', port, tls: true }));
} else {
  server.listen(port, '127.0.0.1').then(() => out({ type: 'listening', port }));
}
process.on('SIGTERM', () => server.close({ force: true }).then(() => process.exit(0)));
