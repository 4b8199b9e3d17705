package ocpp

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
	"testing"
)

// Every end reason the ledger defines has a deliberate 2.0.1 trigger and stopped reason.
func TestEveryEndReasonMapped201(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "../../ledger/events.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	ast.Inspect(f, func(node ast.Node) bool {
		vs, ok := node.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || !strings.HasPrefix(vs.Names[0].Name, "End") || len(vs.Values) != 1 {
			return true
		}
		lit, ok := vs.Values[0].(*ast.BasicLit)
		if !ok {
			return true
		}
		v, _ := strconv.Unquote(lit.Value)
		n++
		if _, ok := endReasons201[v]; !ok {
			t.Errorf("ledger.%s (%q) has no OCPP 2.0.1 reason in endReasons201", vs.Names[0].Name, v)
		}
		return true
	})
	if n < 15 {
		t.Errorf("found %d End* constants in ledger/events.go; the parser missed them", n)
	}
}

// Every default in the device model passes its own type check, and the keys are unique.
func TestDeviceModelDefaults(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range deviceModel {
		if seen[v.key()] {
			t.Errorf("%s twice", v.key())
		}
		seen[v.key()] = true
		if d := v.def(Config{Vendor: "v", Identity: "id", URL: "ws://x"}); v.dataType != "string" && d != "" && v.checkValue(d) != nil {
			t.Errorf("%s default %q: %v", v.key(), d, v.checkValue(d))
		}
	}
}
