package access_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/chargegate/chargegate/gateway/access"
)

func ids(es []access.ListEntry) string {
	out := ""
	for _, e := range es {
		out += e.IDToken + ":" + e.Group + " "
	}
	return out
}

func TestAllowListApplyVersions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "allow-list.json")
	l, err := access.OpenAllowList(path)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		op      string
		version int64
		entries []access.ListEntry
		err     error
		want    string
	}{
		{access.ListAdd, 1, []access.ListEntry{{IDToken: "B", Group: "g"}, {IDToken: "A"}}, nil, "A: B:g "},
		{access.ListAdd, 1, []access.ListEntry{{IDToken: "C"}}, access.ErrListVersion, "A: B:g "},
		{access.ListAdd, 2, []access.ListEntry{{IDToken: "A", Group: "h"}}, nil, "A:h B:g "},
		{access.ListRemove, 3, []access.ListEntry{{IDToken: "B"}, {IDToken: "Z"}}, nil, "A:h "},
		{access.ListReplace, 1, []access.ListEntry{{IDToken: "D"}, {IDToken: "C"}}, nil, "C: D: "},
		{"merge", 9, nil, nil, "C: D: "},
		{access.ListAdd, 2, []access.ListEntry{{IDToken: ""}}, nil, "C: D: "},
	}
	for i, s := range steps {
		err := l.Apply(s.op, s.version, s.entries)
		if s.err != nil && !errors.Is(err, s.err) || s.err == nil && (err != nil) != (s.op == "merge" || i == 6) {
			t.Errorf("step %d %s v%d: err %v, want %v", i, s.op, s.version, err, s.err)
		}
		if got := ids(l.List("")); got != s.want {
			t.Errorf("step %d %s v%d: list %q, want %q", i, s.op, s.version, got, s.want)
		}
	}
	if l.Version() != 1 {
		t.Errorf("version %d after the replace, want 1", l.Version())
	}
	again, err := access.OpenAllowList(path)
	if err != nil {
		t.Fatal(err)
	}
	if ids(again.List("")) != "C: D: " || again.Version() != 1 {
		t.Errorf("reopened: %q v%d", ids(again.List("")), again.Version())
	}
	big := make([]access.ListEntry, access.MaxListEntries+1)
	for i := range big {
		big[i].IDToken = fmt.Sprintf("T%04d", i)
	}
	if err := l.Apply(access.ListReplace, 5, big); !errors.Is(err, access.ErrListFull) {
		t.Errorf("%d entries: %v, want ErrListFull", len(big), err)
	}
}

func TestBlockedListEntryIsRefused(t *testing.T) {
	a, err := access.New(access.Config{Dir: t.TempDir(), Policy: access.DefaultPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.AllowList().Apply(access.ListReplace, 1, []access.ListEntry{{IDToken: "04BB", Status: "Blocked", Group: "g"}, {IDToken: "04AA", Group: "g"}}); err != nil {
		t.Fatal(err)
	}
	if d := a.Authorize(context.Background(), access.Request{IDToken: "04BB"}); d.Allowed || d.Reason != "blocked" {
		t.Errorf("blocked entry: %+v", d)
	}
	if d := a.Authorize(context.Background(), access.Request{IDToken: "04AA"}); !d.Allowed || d.Source != access.SourceLocalList {
		t.Errorf("accepted entry: %+v", d)
	}
	if a.MayStop(access.TokenHash("04AA"), "g", access.Stopper{IDToken: "04BB"}) {
		t.Error("a blocked card of the group may stop the session")
	}
}
