// Package ocmf produces and verifies records in the Open Charge Metering Format for calibration-law tools.
//
// # Record format
//
// A record is three sections separated by '|': the literal OCMF, the payload JSON and the
// signature JSON. The signature is ECDSA over SHA-256 of the payload bytes exactly as
// transmitted (for every curve, also 384-bit ones), DER-encoded, hex (SE "hex", the default) or
// base64. The public key travels out of band as a DER SubjectPublicKeyInfo.
//
// # Gateway-signed records (Signer)
//
// Only for meters that do not sign themselves; such records name the gateway in GI/GS/GV. The
// payload is written byte by byte in this order (optional fields omitted when empty):
//
//	FV "1.0", GI, GS, GV?, PG "T<n>", MV?, MM?, MF?, MS, IS, IL?, IF [..], IT, ID?, CT?, CI?,
//	RD [{TM, TX, RV, RI "01-00:01.08.00*FF", RU "kWh", RT, EF, ST}]
//
// A reading whose Reading.OBIS is OBISExport carries RI "01-00:02.08.00*FF" (exported active
// energy): the gateway adds the export register at begin and end for a session whose meter
// counted export (bidirectional, V2G), after the import readings.
//
// TM is "2006-01-02T15:04:05,000-0700 S" with the OCMF time status letter (U, I, S, R); RV is
// rendered from integer milliwatt-hours with a fixed number of decimals, truncated (never a
// float); every string must be printable ASCII without '|', so the signed bytes are the stored
// bytes on every platform. The signature is ECDSA-secp256r1-SHA256 with the device's P-256 key
// (ledger.Keys.OCMF, never the entry key), DER in upper-case hex. The pagination counter
// (PaginationKey in the StateStore) is incremented and durably stored before the record exists,
// so it never repeats across power cuts; TX "P" marks a session closed after a power failure.
//
// # Verification (Verify, Parse)
//
// Any vendor's record: the payload span is taken exactly as received (never re-serialised),
// SA may name secp256r1 and secp384r1 (standard library), secp256k1 (decred's dcrec/secp256k1),
// brainpool256r1/brainpoolP256r1, brainpool384r1, secp192r1 and secp192k1 (a small verify-only
// implementation in this package, checked against OpenSSL-signed vectors in testdata/), SE hex
// or base64, keys as DER SPKI in hex (spaces allowed), base64 or PEM. The key must be on the
// curve SA names. Verify checks the signature only; Record.CheckTransaction adds the reading
// rules the Transparenzsoftware enforces for a whole transaction (one begin, one end, status G,
// values and times in order). Pagination continuity across records is for the backend.
package ocmf
