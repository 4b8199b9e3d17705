// Package config reads and checks chargegate's configuration file, the one place where the
// gateway's settings are parsed and validated.
//
// # The file
//
// One YAML file (/etc/chargegate/config.yaml on the box). images/chargegate.yaml is the
// reference: every field with its default, unit and bounds; a test holds it equal to Default.
// The file is read strictly, so that a typo never falls back to a default in silence:
//
//   - at most MaxFileSize (1 MiB) and exactly one YAML document: a second document after
//     "---" is an error, not ignored;
//   - the top level and every section are mappings whose keys are the documented field names;
//     an unknown key is an error, and so is a key given twice;
//   - omitted fields keep their defaults; a section written as nothing ("mqtt:") keeps all of
//     them; nothing (an empty value, "~" or "null") is allowed where it means empty — text,
//     lists, and the optional hal pins (not wired) — and is an error for numbers, durations
//     and booleans;
//   - durations use Go's syntax and need a unit ("500ms", "1s", "5m", "720h"); whole numbers
//     are YAML integers (a quoted "5" or 1.5 is not one); booleans are true or false (YAML 1.2:
//     yes/no/on/off are text);
//   - aliases (*name), merge keys (<<) and custom tags (!x) are refused: a configuration is
//     read by people, and what it says must stand where it is written.
//
// After decoding, Validate checks every field:
//
//   - every duration and number has bounds (for example meter.poll_interval 100ms..1m,
//     meter.unit 1..247, http.max_concurrent 1..1024); see durationRules and intRules in
//     validate.go, and the [min..max] in images/chargegate.yaml. Cross-field rules: the record
//     intervals, reset_confirm, identity_interval, meter_loss_limit and max_duration are not
//     shorter than meter.poll_interval; hal.debounce is shorter than hal.feedback_timeout;
//   - every string is valid UTF-8, printable (no control or format characters: a NUL or an
//     escape sequence would end up in logs, MQTT payloads or signed records) and bounded in
//     length: 48 bytes for device.evse_id (OCPI's EVSE.evse_id is CiString(48)), 128 for
//     names, 2048 for URLs, 4096 for paths; lists hold at most 16 items;
//   - device.evse_id, when set, is an EVSE ID: ISO 15118 / eMI3 ("DE*CGT*E0001*1",
//     country, operator, E, outlet, "*" optional) or DIN SPEC 91286 ("+49*810*000*438");
//   - URLs have one of the field's schemes and a host (rtu:// a device path), and never a
//     password: secrets live in the *_file fields, files of mode 0600;
//   - choices (meter.model, hal.backend, sessions.mode, update.slots, log.*) are one of
//     their documented values; update.maintenance_window is read by ParseWindow.
//
// # Several EVSEs and load management
//
// The evses: list (a list of mappings, the only one in the file) describes a box with several
// charging points; without it the box has one, as before, and its entries name no EVSE. Each
// item's defaults (phases 3, min_current 6, max_current 16, current_control none) are filled
// in before Validate. Amperes are numbers (16 or 6.5). Validate refuses, naming the item's
// path (evses[1].id, ...): a missing or repeated EVSE ID; a meter unit missing or used twice
// on one bus (the same URL, the meter: section's when the item gives none — the grid meter
// counts too); min_current above max_current or outside 6..80 A; phases other than 1 or 3; a
// pilot without pwm and adc on real hardware; a Heidelberg without url and unit; a contactor
// pin used twice in the box, or missing on real hardware (and given on the simulated board,
// which has its own); hal.relay beside the list; a site limit or PV mode without a grid
// meter; load management without the list, or with no EVSE that can follow a limit.
//
// # Errors
//
// Load and Parse report every problem at once, joined with errors.Join: first what could not
// be decoded, then what Validate refuses among the rest (a value that could not be decoded is
// not judged again). Only a file that is not YAML, or holds a second document, stops at the
// first problem. Each problem is a *FieldError whose text is
//
//	path: message (line N); hint
//
// Path is the YAML path (sections and keys joined by dots, list items as [i]); the line is
// left out when the value did not come from the file (a default rejected by a cross-field
// rule), the hint when there is none. Messages say what is expected in the file's words,
// never Go's:
//
//	meter.urll: unknown field (line 3); did you mean "url"?
//	meter.poll_interval: expected a duration like "1s" or "500ms", got "fast" (line 4)
//	meter.poll_interval: 1ns is too short; the minimum is 100ms (line 4)
//	device.evse_id: contains the unprintable character U+0007 at byte 6; only printable text is allowed (line 2)
//	a second YAML document starts here; the file must hold exactly one (line 7); remove the "---" line and what follows, or merge it into the first document
//	not valid YAML: could not find expected ':' (line 5)
//
// Values quoted in messages are escaped and clipped to 40 characters. The hint after an
// unknown key names the closest known key of the same section when it is within a typo's
// distance (Levenshtein distance at most 1, or a third of the key's length).
package config
