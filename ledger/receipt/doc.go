// Package receipt builds and verifies signed session receipts: what leaves the box for a wallet
// or a roaming partner to settle against without trusting the operator.
//
// # Content (format "chargegate-receipt/1")
//
// Both renderings carry the same evidence object (Evidence), binary values as 0x-prefixed
// lowercase hex:
//
//	format           "chargegate-receipt/1"
//	device           ledger.DeviceID of the device's entry key
//	sessionId        the session ID of both entries
//	evseId           the EVSE ID (from the configuration; not in the entries)
//	meterSerial      the end entry's meter serial
//	authorization    {"method","tokenHash":"sha256:<hex of SHA-256 of the id_token>"[,"issuerKeyId"]}
//	                 from the begin entry's detail: the access decision (gateway/access,
//	                 "auth=<source> tok=<hex> [kid=<issuer key ID>]": method is the source,
//	                 issuerKeyId the kid of a capability token), or for older entries
//	                 "id_token=…" (method "id_token", the hash of that id_token). The chain never
//	                 holds the id_token itself; the CDR's cdr_token.uid, when not empty, must be
//	                 an id_token of that hash.
//	start, end       {"seq","time","timeStatus","importMWh","exportMWh"} of the begin and end
//	                 entries: time RFC 3339 UTC with nanoseconds, timeStatus the OCMF U/I/S/R
//	energyImportMWh  end − start import register; energyExportMWh the same for export
//	endReason        the end entry's event (ledger End* reason)
//	ocmf             the session's OCMF record, verbatim; absent when the builder did not have it
//	                 (the chain keeps only its SHA-256, as the end entry's Attachment)
//	ocmfPublicKey    DER SubjectPublicKeyInfo of the OCMF signer (meter or gateway P-256 key)
//	beginEntry       the begin entry, ledger.Entry.MarshalBinary (encoding + signature)
//	endEntry         the end entry, likewise
//	anchor           once anchored: {"blockId": the end entry's anchor block,
//	                 "begin": chargegate-proof, "end": chargegate-proof} (ledger/anchor formats)
//
// # Signature: Data Integrity eddsa-jcs-2022
//
// Both renderings are JSON objects secured with a W3C Data Integrity proof (member "proof"),
// cryptosuite eddsa-jcs-2022 (W3C vc-di-eddsa 1.0 §3.3), made with the device's Ed25519 entry
// key (ledger.Keys.Entry):
//
//	proof = {"type":"DataIntegrityProof","cryptosuite":"eddsa-jcs-2022","created":…,
//	         "verificationMethod":"did:key:z6Mk…#z6Mk…","proofPurpose":"assertionMethod",
//	         "@context": the document's @context when it has one, "proofValue":"z…"}
//	hashData   = SHA-256(JCS(proof without proofValue)) ‖ SHA-256(JCS(document without proof))
//	proofValue = "z" + base58btc(Ed25519(hashData))
//
// JCS is RFC 8785 (Canonicalize). The did:key is "did:key:z" + base58btc(0xed 0x01 ‖ key). A
// receipt is emitted in its canonical (JCS) form, so its bytes are deterministic.
//
// # Rendering "vc": W3C Verifiable Credential 2.0
//
//	{"@context":["https://www.w3.org/ns/credentials/v2"],
//	 "id":"urn:chargegate:receipt:<device>:<sessionId>",
//	 "type":["VerifiableCredential","ChargingSessionReceipt"],
//	 "issuer":"did:key:z6Mk…", "validFrom": end time (RFC 3339, seconds, UTC),
//	 "credentialSubject":{"type":"ChargingSession", …evidence members…},
//	 "proof":{…}}
//
// The v2 context's @vocab (issuer-dependent terms) covers the receipt's own terms.
//
// # Rendering "cdr": OCPI 2.2.1 CDR
//
// The CDR object's members as OCPI 2.2.1 mod_cdrs names them, filled from the evidence:
// country_code, party_id (the CPO, from the configuration), id and session_id (the session ID),
// start_date_time, end_date_time, last_updated (UTC, seconds), cdr_token {country_code,
// party_id, uid and contract_id = the id_token, type "OTHER"}, auth_method "WHITELIST",
// cdr_location {id, evse_uid, evse_id, connector_id, connector_standard, connector_format,
// connector_power_type}, meter_id, currency, charging_periods (one period: ENERGY in kWh and
// TIME in hours), total_energy (kWh) and total_time (hours), both with 4 decimals, rounded half
// away from zero (OCPI numbers), and signed_data {encoding_method "OCMF", public_key (base64
// DER SPKI), signed_values [{nature "End", plain_data the OCMF payload section, signed_data
// base64 of the whole OCMF record}], url}. What the gateway does not know — address,
// coordinates, tariffs and costs — is the CPO back-end's to add. The evidence rides in the
// extension member "chargegate", and the proof signs the whole object; a platform that drops
// unknown members still gets a plain CDR.
//
// # Verification
//
// Verify checks, in order: strict parsing (unknown members refused, and the decoded document
// must encode back to the same JCS bytes, so no member a decoder ignores or rewrites rides
// along unchecked); the proof; that its key is
// the entries' device key; both entries (strict decoding, signatures, kinds, one session, end
// after begin); every evidence figure against the entries; the rendering's own members against
// the evidence; the OCMF record (its SHA-256 is the end entry's attachment, its signature holds
// under ocmfPublicKey, its begin and end import readings — RI 01-00:01.08.00*FF or none, TX B
// and E/P/L/R/A — equal the entries' import registers, and its export readings, if any (RI
// 01-00:02.08.00*FF, a V2G session), the entries' export registers, to within one step of the record's last
// decimal, since a record shows the register rounded or cut to its resolution); and both
// chargegate-proofs (each for the embedded entry), offline under the network's coordinator keys
// or against a node — against a node the proof's milestone index must be the one the node says
// referenced the block, its inclusion proof must lead from the block to that milestone and the
// milestone must be the node's byte for byte, and when the node cannot answer for the block the
// inclusion proof must still be for the block named. Verdicts: Valid, Invalid (something is proven wrong), Undecided (the proofs could not be
// checked). A receipt without OCMF record or without anchor is valid for what it carries, and
// the report says what it lacks.
//
// Limits: the proof must carry exactly the members above (no domain, challenge, nonce or
// expires); JSON numbers must be IEEE 754 doubles, so registers stay below 2^53 mWh.
//
// Golden vectors of both renderings, with and without proofs, are in testdata/ (regenerate with
// go test -update); testdata/w3c/ holds the eddsa-jcs-2022 test vector of the specification.
package receipt
