// Package access decides who may charge: the operator's local allow-list, the authorization
// cache, an online check, and signed capability tokens verified offline — one decision path for
// every channel (MQTT, OCPP, the local UI, RFID), with an explicit offline policy.
//
// # Order of the sources
//
// A presented capability token (Request.Token) is checked by itself. An id_token goes through:
//
//  1. the local allow-list (operator-managed, groups, optional expiry and limits);
//  2. the authorization cache (online answers, keyed by token hash, until they expire);
//  3. the online check (OnlineChecker: OCPP Authorize, MQTT authorize), bounded by
//     Policy.OnlineTimeout; its answer is cached;
//  4. the offline policy, when the link is down or the check failed: an unknown id_token is
//     refused ("offline") unless Policy.OfflineUnknown.
//
// While online, the allow-list and the cache pre-authorize without a round trip (OCPP's
// LocalPreAuthorize). While offline each of them, and signed tokens, counts only if the policy
// says so (OCPP's LocalAuthorizeOffline); a known token whose source does not count is refused
// with "not_offline".
//
// # Capability tokens
//
// A token is a JWS (RFC 7515) in compact serialization, signed with EdDSA over Ed25519 (RFC
// 8037). JWS rather than COSE/CWT because it is what operators' tooling already speaks (any JWT
// library, jwt.io, step-cli, OpenSSL keys in PEM), the compact form is plain base64url text that
// fits a QR code (about 400 characters for a typical token, alphanumeric-safe apart from '-', '_'
// and '.') and an MQTT or OCPP DataTransfer string field without a second encoding, and
// github.com/go-jose/go-jose/v4 is a well-kept, audited library. CWT would save about a third of
// the bytes, which does not matter at these sizes.
//
// Protected header, exactly:
//
//	{"alg":"EdDSA","kid":"<issuer key ID>","typ":"chargegate-cap+jwt"}
//
// The verifier accepts only alg EdDSA (the allow-list is passed to the parser, so "none", HS256
// and RS256 never reach a key), requires kid and looks it up among the configured issuers (several
// at once: rotate by adding the new key ID, issuing with it, then removing the old), requires the
// typ above (a token minted for another purpose does not charge), refuses a "crit" header, and
// refuses tokens longer than MaxTokenSize bytes before parsing.
//
// Claims (JSON, RFC 7519 names where one exists):
//
//	iss       string   issuer's name, informational (trust comes from kid)
//	sub       string   id_token the token is bound to (RFID UID in upper-case hex, eMAID)
//	hk        string   holder key: base64url Ed25519 public key (RFC 8037 "x"); the presenter
//	                   signs HolderChallenge(token, nonce) with it. sub or hk is required.
//	evse      []string EVSE IDs where the token is valid
//	evse_grp  string   EVSE group (site) where it is valid; with neither evse nor evse_grp
//	                   the token is valid at every EVSE that trusts the issuer
//	grp       string   driver's group: a token of the same group may stop the session
//	nbf, exp  int      Unix seconds; exp is required; both checked with DefaultSkew (5 min)
//	iat       int      Unix seconds, informational
//	jti       string   token ID, required with once
//	once      bool     single-use: kid/jti is remembered in used-tokens.json until exp + skew
//	max_wh    int      energy limit of the session, Wh
//	max_s     int      duration limit of the session, seconds
//	max_w     int      power limit of the session, W
//
// Unknown claims are ignored (RFC 7519 §4). Refusal reasons, each a sentinel error and the
// Decision.Reason text: too_large, malformed, bad_algorithm, no_key_id, bad_type,
// unknown_issuer, bad_signature, no_expiry, no_subject, no_token_id, expired, not_yet_valid,
// wrong_evse, wrong_id_token, bad_holder_proof, replayed.
//
// Golden vector: testdata/golden.jws is Issue(key, "k1", claims) for the Ed25519 key whose seed
// is the bytes 0x00..0x1f (testdata/k1.pub.pem), claims {iss "Example eMSP", sub "04A1B2C3D4E5F6",
// evse ["DE*CGT*E0001*1"], grp "fleet-7", nbf 1767225600, exp 1798761600, iat 1767225600,
// jti "t-0001", once, max_wh 20000, max_s 7200, max_w 11000}. Ed25519 is deterministic and the
// header keys are sorted, so the vector is byte-exact.
//
// # Decision detail
//
// Decision.Detail is what the session-begin entry (and a refusal event) records, far under the
// ledger's 1,024-byte Detail limit — free-text values are clipped to 64 bytes:
//
//	auth=<source> tok=<hex SHA-256 of id_token> [kid=<key ID>] [jti=<token ID>] [grp=<group>]
//	[max_wh=N] [max_s=N] [max_w=N] [refused=<reason>]
//
// The id_token itself is never recorded, only its hash.
//
// # At the box: channels and evidence
//
// The appliance (gateway/cmd/chargegate) runs every channel through one Authorizer:
//
//   - RFID (access.rfid: hal/mfrc522 or hal/sim's reader): a card's UID, as upper-case hex, is
//     an id_token. A tap while a session runs stops it when MayStop allows (the same card, or an
//     accepted card of the session's group; the end reason is "local"); otherwise the card is
//     authorized (allow-list, cache, online check, offline policy) and starts a session whose
//     begin entry records the Decision's detail.
//   - MQTT start/authorize with a token: verified by the Operator (gateway/operator.go), the
//     Decision handed to the session. An MQTT start with only an id_token is the operator's own
//     decision: its begin entry says "auth=operator tok=<hash>" (SourceOperator); a free-mode
//     start without one says "auth=free".
//   - Every refusal (an unknown card, a card that may not stop the session, a refused token) is a
//     signed ledger event "auth_refused" whose detail is Decision.Detail plus "via=<channel>",
//     at most RefusalGate's burst per window (the appliance: 10 a minute), the dropped ones
//     counted in the next ("suppressed=N"). Each allow-list change by the operator is an
//     "allow_list" event (operation, version, sizes).
//   - With OCPP on, the online check (OnlineChecker) is OCPP Authorize while the CSMS is
//     connected (its answer cached by both), and the allow-list is OCPP's Local Authorization
//     List (SendLocalList and GetLocalListVersion act on it, gateway/ocpp LocalList).
//
// # Files
//
// Three JSON documents in the access directory, each replaced whole by an atomic write
// (temporary file, fsync, rename, fsync of the directory), mode 0600:
//
//	allow-list.json   {"version":1,"list_version":N,"entries":[{"id_token","group","note","expires",
//	                   "limits","status"}]}
//	auth-cache.json   {"<token hash>":{"allowed","group","reason","expires"}}  (at most 1,000)
//	used-tokens.json  {"<kid>/<jti>":<exp, Unix seconds>}  (pruned after exp + 5 min)
//
// Times are RFC 3339. The allow-list is the operator's (Authorizer.AllowList: Apply from the
// MQTT allow_list command, Update from OCPP SendLocalList when the list is shared with OCPP,
// Put, Remove, List); the other two are the box's. version is the file format's (1);
// list_version the content's, set by every Apply or Update: a differential change (add,
// remove) must carry a version above it, a full replace may set any (OCPP 1.6 §5.15). status is
// the OCPP AuthorizationStatus ("" = Accepted); a Blocked, Expired or Invalid entry is a known
// token refused with that reason in lower case, whatever the link. At most 1,000 entries.
package access
