package guard

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/race"
)

func TestRefusalQueueMatchesAndStaysBounded(t *testing.T) {
	var q refusalQueue
	var markers []string
	for i := 0; i < maxPendingRefusals+10; i++ {
		m := newMarker()
		markers = append(markers, m)
		q.push(refusal{marker: m, err: &pgerr.Error{Code: "", Message: fmt.Sprint(i)}})
	}
	if int(q.n.Load()) != maxPendingRefusals || len(q.q) != maxPendingRefusals {
		t.Fatalf("queue holds %d (%d counted), bound is %d", len(q.q), q.n.Load(), maxPendingRefusals)
	}
	if _, ok := q.match([]byte(`syntax error at or near "` + markers[0] + `"`)); ok {
		t.Error("the oldest marker should have been dropped")
	}
	last := markers[len(markers)-1]
	r, ok := q.match([]byte(`syntax error at or near "` + last + `"`))
	if !ok || r.err.Message != fmt.Sprint(len(markers)-1) {
		t.Fatalf("newest marker: %v %v", r.err, ok)
	}
	if _, ok := q.match([]byte(`syntax error at or near "` + last + `"`)); ok {
		t.Error("a marker matched twice")
	}
	if _, ok := q.match([]byte("relation does not exist")); ok {
		t.Error("an unrelated error matched")
	}
}

func TestBindSummaryMatchesPgproto3(t *testing.T) {
	b := &pgproto3.Bind{DestinationPortal: "p1", PreparedStatement: "s1", ParameterFormatCodes: []int16{1, 0},
		Parameters: [][]byte{{0, 0, 0, 7}, nil, []byte("text")}, ResultFormatCodes: []int16{1, 0, 1}}
	msg, _ := b.Encode(nil)
	portal, stmt, formats, ok := bindSummary(msg[5:])
	if !ok || string(portal) != "p1" || string(stmt) != "s1" || fmt.Sprint(formats) != "[1 0 1]" {
		t.Fatalf("got %q %q %v %v", portal, stmt, formats, ok)
	}
	for cut := 0; cut < len(msg)-5-2; cut++ {
		if _, _, _, ok := bindSummary(msg[5 : 5+cut]); ok {
			t.Fatalf("truncated Bind of %d bytes accepted", cut)
		}
	}
	for _, codes := range [][]int16{{0}, {1}, {2}, nil} {
		msg, _ := (&pgproto3.Bind{ResultFormatCodes: codes}).Encode(nil)
		if _, _, got, ok := bindSummary(msg[5:]); !ok || fmt.Sprint(got) != fmt.Sprint(codes) {
			t.Fatalf("result formats %v read as %v", codes, got)
		}
	}
}

func TestNameTableInterns(t *testing.T) {
	var names nameTable
	a := names.intern([]byte("P_1"))
	if b := names.intern([]byte("P_1")); a != "P_1" || b != a || testing.AllocsPerRun(10, func() { names.intern([]byte("P_1")) }) != 0 && !race.Enabled {
		t.Fatalf("a name seen before allocates again or reads back wrong: %q %q", a, b)
	}
	for i := range maxInternedNames + 1 {
		names.intern(fmt.Appendf(nil, "S_%d", i))
	}
	if len(names) > maxInternedNames || names.intern([]byte("P_1")) != "P_1" {
		t.Fatalf("the table grew past its bound (%d) or lost a name's value", len(names))
	}
}
