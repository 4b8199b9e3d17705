package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// MaxFileSize is the largest configuration file Load and Parse accept. The example file is
// about 7 KiB; anything near a mebibyte is a mistake, not a configuration.
const MaxFileSize = 1 << 20

// FieldError is one problem with the configuration, named by its YAML path.
//
// Its text is `path: message (line N); hint`, where the line and the hint are left out when
// unknown or empty: `meter.urll: unknown field (line 3); did you mean "url"?`. Messages
// speak YAML (duration, whole number, list, mapping), never Go types.
type FieldError struct {
	// Path is the YAML path: section and keys joined by dots, list items as [i]
	// ("meter.poll_interval", "ledger.witnesses[1]"); empty for the file as a whole.
	Path string
	// Line is the 1-based line in the file, 0 when the value did not come from the file
	// (a default that a cross-field rule rejects).
	Line int
	// Msg says what is wrong and what is expected.
	Msg string
	// Hint is an optional suggestion, such as the closest known key.
	Hint string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Line > 0 {
		fmt.Fprintf(&b, " (line %d)", e.Line)
	}
	if e.Hint != "" {
		b.WriteString("; ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// Load reads the YAML file at path and returns it on top of Default, validated. Every
// problem is reported, each as a *FieldError, joined with errors.Join; only a file that
// cannot be read gives another error. `chargegate run` and `chargegate hal check --config`
// both load through here, so they accept and refuse the same files.
func Load(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	return Parse(b)
}

// Parse decodes YAML configuration bytes on top of Default and validates the result, like
// Load. An empty file means all defaults (which still must validate).
func Parse(b []byte) (Config, error) {
	cfg := Default()
	if len(b) > MaxFileSize {
		return Config{}, &FieldError{Msg: fmt.Sprintf("the file is larger than the limit of %d MiB", MaxFileSize>>20)}
	}
	d := decoder{lines: map[string]int{}, refused: map[string]bool{}}
	root, err := oneDocument(b)
	if err != nil {
		return Config{}, err
	}
	if root != nil {
		d.value(root, reflect.ValueOf(&cfg).Elem(), "")
	}
	for i := range cfg.EVSEs {
		cfg.EVSEs[i] = evseDefaults(cfg.EVSEs[i])
	}
	// Validate what could be decoded too, so that one run reports every problem; a field the
	// decoder refused kept its default, and is not reported twice.
	errs := d.errs
	if err := cfg.Validate(); err != nil {
		for _, e := range unjoin(err) {
			var fe *FieldError
			if errors.As(e, &fe) {
				if d.refusedAt(fe.Path) {
					continue
				}
				if fe.Line == 0 { // Validate knows paths, the decoder knows where they were written
					fe.Line = d.lines[fe.Path]
				}
			}
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return cfg, nil
}

// oneDocument parses b and returns the root node of its only document, nil for an empty
// file. A second document is an error: it would otherwise be silently ignored.
func oneDocument(b []byte) (*yaml.Node, error) {
	if err := plainText(b); err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxError(err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		return nil, &FieldError{Line: next.Line, Msg: "a second YAML document starts here; the file must hold exactly one",
			Hint: `remove the "---" line and what follows, or merge it into the first document`}
	case !errors.Is(err, io.EOF):
		return nil, syntaxError(err)
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return nil, nil
	}
	return doc.Content[0], nil
}

// plainText refuses bytes that are not UTF-8 text, naming the line: yaml.v3 refuses them too,
// but without saying where.
func plainText(b []byte) error {
	line := 1
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return &FieldError{Line: line, Msg: fmt.Sprintf("not valid UTF-8 (byte %d of the file)", i)}
		case r == '\n':
			line++
		case r == '\t' || r == '\r':
		case unicode.IsControl(r):
			return &FieldError{Line: line, Msg: fmt.Sprintf("the control character %U is not allowed; a configuration is printable text", r)}
		}
		i += size
	}
	return nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns yaml.v3's "yaml: line 3: could not find expected ':'" into a FieldError.
func syntaxError(err error) error {
	msg := strings.Join(strings.Fields(err.Error()), " ") // one line, whatever the parser says
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &FieldError{Line: line, Msg: "not valid YAML: " + m[2]}
	}
	return &FieldError{Msg: "not valid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// decoder walks a yaml.Node tree against the Config type, collecting every problem instead of
// stopping at the first, and remembering the line each path was written on.
type decoder struct {
	errs    []error
	lines   map[string]int
	refused map[string]bool // paths whose value was refused
}

// refusedAt reports whether the value at path, or a section or list holding it, was refused.
func (d *decoder) refusedAt(path string) bool {
	for p := range d.refused {
		if p == "" || path == p || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[") {
			return true
		}
	}
	return false
}

func (d *decoder) fail(path string, line int, hint, format string, args ...any) {
	d.errs = append(d.errs, &FieldError{Path: path, Line: line, Msg: fmt.Sprintf(format, args...), Hint: hint})
	if d.refused != nil {
		d.refused[path] = true
	}
}

var durationType = reflect.TypeFor[time.Duration]()

// value decodes n into v. Null means "empty" where empty has a meaning (a string, a list, an
// unwired pin, a section left at its defaults) and is an error for numbers, durations and
// booleans, which have no empty value.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		d.fail(path, n.Line, "write the value out", "aliases like %s are not supported", quote("*"+n.Value))
		return
	}
	if n.Tag != "" && n.Tag[0] == '!' && !strings.HasPrefix(n.Tag, "!!") {
		d.fail(path, n.Line, "", "custom tags like %s are not supported", quote(n.Tag))
		return
	}
	t := v.Type()
	switch {
	case t == durationType:
		d.duration(n, v, path)
	case t.Kind() == reflect.Struct:
		if isNull(n) {
			return
		}
		d.mapping(n, v, path)
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct:
		if isNull(n) {
			v.SetZero()
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		d.mapping(n, v.Elem(), path)
	case t.Kind() == reflect.Slice && (t.Elem().Kind() == reflect.String || t.Elem().Kind() == reflect.Struct):
		d.strings(n, v, path)
	case t.Kind() == reflect.Float64:
		f, ok := decimal(n)
		if !ok {
			d.fail(path, n.Line, "", "expected a number, got %s", show(n))
			return
		}
		v.SetFloat(f)
	case t.Kind() == reflect.String:
		d.str(n, v, path)
	case t.Kind() == reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			d.fail(path, n.Line, "", "expected true or false, got %s", show(n))
			return
		}
		b, err := strconv.ParseBool(n.Value)
		if err != nil {
			d.fail(path, n.Line, "", "expected true or false, got %s", show(n))
			return
		}
		v.SetBool(b)
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		lo, hi := int64(-1)<<(t.Bits()-1), int64(1)<<(t.Bits()-1)-1
		i, ok := wholeNumber(n)
		if !ok {
			d.fail(path, n.Line, "", "expected a whole number, got %s", show(n))
			return
		}
		if i < lo || i > hi {
			d.fail(path, n.Line, "", "expected a whole number from %d to %d, got %s", lo, hi, show(n))
			return
		}
		v.SetInt(i)
	case t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64:
		hi := int64(1)<<min(t.Bits(), 63) - 1
		i, ok := wholeNumber(n)
		if !ok {
			d.fail(path, n.Line, "", "expected a whole number, got %s", show(n))
			return
		}
		if i < 0 || i > hi {
			d.fail(path, n.Line, "", "expected a whole number from 0 to %d, got %s", hi, show(n))
			return
		}
		v.SetUint(uint64(i))
	default:
		// Only reachable if Config gains a field of a kind this decoder does not know.
		d.fail(path, n.Line, "", "this field cannot be set from the file")
	}
}

func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) {
	const want = `expected a duration like "1s" or "500ms"`
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.fail(path, n.Line, "", "%s, got %s", want, show(n))
		return
	}
	dur, err := time.ParseDuration(n.Value)
	if err != nil {
		hint := ""
		if _, ok := wholeNumber(n); ok && n.Value != "0" {
			hint = fmt.Sprintf("a duration needs a unit: %ss or %sms", n.Value, n.Value)
		}
		d.fail(path, n.Line, hint, "%s, got %s", want, show(n))
		return
	}
	v.SetInt(int64(dur))
}

func (d *decoder) str(n *yaml.Node, v reflect.Value, path string) {
	switch {
	case isNull(n):
		v.SetString("")
	case n.Kind == yaml.ScalarNode && n.ShortTag() != "!!binary":
		v.SetString(n.Value)
	default:
		d.fail(path, n.Line, "", "expected text, got %s", show(n))
	}
}

func (d *decoder) strings(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) {
		v.SetZero()
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(path, n.Line, `write a list as [a, b] or as lines starting with "- "`, "expected a list, got %s", show(n))
		return
	}
	out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		d.lines[p] = item.Line
		if isNull(item) {
			what := "text"
			if v.Type().Elem().Kind() == reflect.Struct {
				what = "a mapping of fields"
			}
			d.fail(p, item.Line, "", "expected %s, got nothing", what)
			continue
		}
		d.value(item, out.Index(i), p)
	}
	v.Set(out)
}

// mapping decodes a YAML mapping into the struct v: every key must name a field, once.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, n.Line, "", "expected a mapping of fields (key: value lines), got %s", show(n))
		return
	}
	fields := yamlFields(v.Type())
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || isNull(k) {
			d.fail(path, k.Line, "", "expected a field name, got %s", show(k))
			continue
		}
		p := join(path, k.Value)
		if k.Value == "<<" {
			d.fail(path, k.Line, "write the fields out", "merge keys (<<) are not supported")
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.fail(p, k.Line, "", "given again; the first is on line %d", first)
			continue
		}
		seen[k.Value] = k.Line
		f, ok := fields[k.Value]
		if !ok {
			d.fail(p, k.Line, suggest(k.Value, fields), "unknown field")
			continue
		}
		d.lines[p] = val.Line
		d.value(val, v.FieldByIndex(f), p)
	}
}

// yamlFields maps each YAML key of struct type t to its field index, with inline structs
// flattened.
func yamlFields(t reflect.Type) map[string][]int {
	out := map[string][]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" && opts == "inline" {
			for k, idx := range yamlFields(f.Type) {
				out[k] = append([]int{i}, idx...)
			}
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		out[name] = []int{i}
	}
	return out
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// wholeNumber reads an integer scalar (decimal, 0x, 0o or 0b, as YAML 1.2 writes them).
func wholeNumber(n *yaml.Node) (int64, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		return 0, false
	}
	i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
	return i, err == nil
}

// decimal reads a number scalar: a whole number or a decimal fraction (16, 6.5), never a
// quoted string, infinity or NaN.
func decimal(n *yaml.Node) (float64, bool) {
	if i, ok := wholeNumber(n); ok {
		return float64(i), true
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!float" {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// join appends a key to a YAML path. Keys that are not plain names are quoted, and very long
// ones clipped, so that an error message stays one readable line.
func join(path, key string) string {
	if !plainKey(key) {
		key = strconv.Quote(clip(key))
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func plainKey(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// show renders a node for an error message: a quoted, clipped scalar, or what kind of node it is.
func show(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.AliasNode:
		return "an alias"
	case isNull(n):
		return "nothing"
	}
	return strconv.Quote(clip(n.Value))
}

// clip shortens s to at most 40 runes (invalid UTF-8 counts byte by byte).
func clip(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// suggest names the known key closest to an unknown one, if one is close enough to be a typo.
func suggest(key string, fields map[string][]int) string {
	if len(key) > 64 || !utf8.ValidString(key) {
		return ""
	}
	best, bestDist := "", 0
	for name := range fields {
		dist := editDistance(key, name)
		if best == "" || dist < bestDist || dist == bestDist && name < best {
			best, bestDist = name, dist
		}
	}
	if best == "" || bestDist > max(1, len(key)/3) {
		return ""
	}
	return fmt.Sprintf("did you mean %q?", best)
}

// editDistance is the Levenshtein distance between a and b, counted in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// unjoin lists the errors inside an errors.Join result (or err itself).
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
