// Validates a request file against the official OCPP 1.6 JSON schema as shipped with ocpp-rpc.
// Usage: node validate.js Action file.json   (exit status 1 and the errors when invalid)
'use strict';
const fs = require('fs');
const { createValidator } = require('ocpp-rpc');
const schema = require('ocpp-rpc/lib/schemas/ocpp1_6.json');
const [action, file] = process.argv.slice(2);
const v = createValidator('ocpp1.6', schema);
try {
  v.validate(`urn:${action}.req`, JSON.parse(fs.readFileSync(file, 'utf8')));
} catch (e) {
  console.error(e.message, JSON.stringify(e.details || {}));
  process.exit(1);
}
