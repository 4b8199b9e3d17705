package ledger_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/chargegate/chargegate/ledger"
)

// TestEventTableComplete: every code declared in events.go appears in the auditors' table in
// doc.go, and no two constants of one group share a value by accident.
func TestEventTableComplete(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "events.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	n := 0
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok {
					t.Fatalf("%s is not a string literal", name.Name)
				}
				v, _ := strconv.Unquote(lit.Value)
				n++
				if !strings.Contains(string(doc), v) {
					t.Errorf("%s = %q is missing from doc.go", name.Name, v)
				}
				prefix := name.Name[:3]
				if other, dup := seen[prefix+v]; dup && !(prefix == "End" || strings.HasPrefix(other, "End")) {
					t.Errorf("%s and %s share the code %q", name.Name, other, v)
				}
				seen[prefix+v] = name.Name
				if len(v) > ledger.MaxEvent {
					t.Errorf("%s = %q is longer than MaxEvent", name.Name, v)
				}
			}
		}
	}
	if n < 30 {
		t.Fatalf("only %d codes parsed", n)
	}
}

func TestClosing(t *testing.T) {
	for _, tc := range []struct {
		r    ledger.Record
		want bool
	}{
		{ledger.Record{Kind: ledger.KindReading}, false},
		{ledger.Record{Kind: ledger.KindSessionBegin}, false},
		{ledger.Record{Kind: ledger.KindSessionEnd, Event: ledger.EndDiskFull}, true},
		{ledger.Record{Kind: ledger.KindGap, Event: ledger.EventPollMissed}, true},
		{ledger.Record{Kind: ledger.KindEvent, Event: ledger.EventDiskBudget}, true},
		{ledger.Record{Kind: ledger.KindEvent, Event: ledger.EventEntriesLost}, true},
		{ledger.Record{Kind: ledger.KindEvent, Event: ledger.EventTamper}, false},
		{ledger.Record{Kind: ledger.KindEvent, Event: ledger.EventStarted}, false},
	} {
		if got := tc.r.Closing(); got != tc.want {
			t.Errorf("%s %q: Closing = %v, want %v", tc.r.Kind, tc.r.Event, got, tc.want)
		}
	}
}
