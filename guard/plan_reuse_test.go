package guard

import (
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

func TestAppendMult(t *testing.T) {
	for _, tc := range []struct {
		formats, want []int16
	}{
		{nil, []int16{0, 0, 1}},
		{[]int16{1}, []int16{1, 1, 1}},
		{[]int16{0, 1}, []int16{0, 1, 1}},
	} {
		b := pgproto3.Bind{PreparedStatement: "phiguard_plan_1", Parameters: [][]byte{[]byte("a"), nil}, ParameterFormatCodes: slices.Clone(tc.formats)}
		appendMult(&b, 8)
		if !slices.Equal(b.ParameterFormatCodes, tc.want) || len(b.Parameters) != 3 || boundMultOf(t, &b) != 8 || b.PreparedStatement != "" {
			t.Errorf("formats %v: %v, %d parameters, statement %q", tc.formats, b.ParameterFormatCodes, len(b.Parameters), b.PreparedStatement)
		}
	}
}

func boundMultOf(t *testing.T, b *pgproto3.Bind) int64 {
	out, err := b.Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	return boundMult(out)
}

func TestPlanCacheEvictsLeastRecent(t *testing.T) {
	var c planCache
	c.entries = map[string]*planEntry{}
	for i := range testReusedPlans {
		c.entries[string(rune('a'+i))] = &planEntry{key: string(rune('a' + i)), used: uint64(10 + i), v: &likeVariant{name: planPrefix + string(rune('a'+i))}}
	}
	c.entries["c"].used = 1
	c.evict()
	if _, ok := c.entries["c"]; ok || len(c.entries) != testReusedPlans-1 || len(c.closing) != 1 || c.closing[0].name != planPrefix+"c" {
		t.Fatalf("evicted %v, %d left", c.closing, len(c.entries))
	}
	c.drop() // DEALLOCATE ALL: closed all the same (it may not have run)
	if len(c.entries) != 0 || len(c.closing) != testReusedPlans {
		t.Fatalf("after a drop: %d entries, %d closes", len(c.entries), len(c.closing))
	}
}

func TestPlanNamesRefused(t *testing.T) {
	if pe := variantNameRefusal("phiguard_plan_7", nil); pe == nil {
		t.Fatal("a client's phiguard_plan_ name is not refused")
	}
	if pe := variantNameRefusal("phiguard_planner", nil); pe != nil {
		t.Fatal("a name only like phiguard's is refused")
	}
}

func TestPlanCacheBytesBound(t *testing.T) {
	var c planCache
	big := string(make([]byte, maxReusedBytes/3))
	for i := range 3 {
		key := big + string(rune('a'+i))
		c.add(&planEntry{key: key, used: uint64(i), v: &likeVariant{name: planPrefix + string(rune('a'+i))}}, testReusedPlans)
	}
	if len(c.entries) != 2 || c.bytes > maxReusedBytes || len(c.closing) != 1 || c.closing[0].name != planPrefix+"a" {
		t.Fatalf("%d entries of %d bytes, closing %v", len(c.entries), c.bytes, c.closing)
	}
}

func TestRenameBind(t *testing.T) {
	for _, tc := range []struct {
		formats  []int16
		params   [][]byte
		results  []int16
		dropLast bool
	}{
		{nil, nil, nil, false},
		{nil, [][]byte{[]byte("a"), nil, []byte("")}, []int16{1}, false},
		{[]int16{1}, [][]byte{[]byte("a"), multParam(1)}, nil, true},
		{[]int16{0, 1}, [][]byte{nil, multParam(1)}, []int16{0, 1}, true},
		{[]int16{1}, [][]byte{multParam(1)}, nil, true},
	} {
		in := pgproto3.Bind{DestinationPortal: "p", PreparedStatement: "", ParameterFormatCodes: tc.formats, Parameters: tc.params, ResultFormatCodes: tc.results}
		wire, err := in.Encode(nil)
		if err != nil {
			t.Fatal(err)
		}
		out, ok := renameBind(wire[5:], "phiguard_plan_9", tc.dropLast)
		var got pgproto3.Bind
		if !ok || out[0] != 'B' || got.Decode(out[5:]) != nil {
			t.Fatalf("%+v: not a Bind", tc)
		}
		want := in
		want.PreparedStatement = "phiguard_plan_9"
		if tc.dropLast {
			want.Parameters = want.Parameters[:len(want.Parameters)-1]
			if len(want.ParameterFormatCodes) == len(tc.params) {
				want.ParameterFormatCodes = want.ParameterFormatCodes[:len(want.ParameterFormatCodes)-1]
			}
		}
		w, _ := want.Encode(nil)
		if string(w) != string(out) {
			t.Errorf("%+v:\n got %q\nwant %q", tc, out, w)
		}
	}
	if _, ok := renameBind([]byte("p\x00\x00\x00\x00\x00\x01\x00\x00\x00\x09ab"), "x", false); ok {
		t.Error("a truncated parameter was read")
	}
}

// testReusedPlans is the bound the unit tests give the cache (the
// default of limits.reused_plans).
const testReusedPlans = 32
