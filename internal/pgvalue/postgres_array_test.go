package pgvalue

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/phiguard/phiguard/policy"
)

// TestArraysAgainstPostgres is TestMoreTypesAgainstPostgres for arrays
// of the supported scalars: random array literals (quoted and unquoted
// elements, escapes, NULLs, white space, several dimensions, explicit
// bounds, broken structure) and random array_send buffers (wrong
// element types, flags, dimensions and lengths) are stored by
// PostgreSQL 15 in a column of the array type; Canonical gives what it
// stored or both refuse, with PostgreSQL's SQLSTATE; Present gives what
// PostgreSQL sends in binary and prints in text under the type's
// settings.
func TestArraysAgainstPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	conn := startPostgres(t, ctx)
	if err := exec(ctx, conn, "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'; SET IntervalStyle = 'postgres'; SET client_encoding = 'UTF8'"); err != nil {
		t.Fatal(err)
	}
	seed := testSeed(t)
	types := []string{"text[]", "varchar(3)[]", "char(2)[]", "integer[]", "smallint[]", "bigint[]", "numeric(6,2)[]",
		"numeric[]", "boolean[]", "date[]", "timestamp[]", "timestamptz[]", "uuid[]", "real[]", "double precision[]",
		"time(2)[]", "timetz[]", "interval[]", "bytea[]", "json[]", "jsonb[]"}
	for i, name := range types {
		t.Run(name, func(t *testing.T) {
			typ := mustType(t, name)
			table := fmt.Sprintf("a%d", i)
			if err := exec(ctx, conn, fmt.Sprintf("CREATE TEMP TABLE %s (c %s)", table, name)); err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(seed, uint64(200+i)))
			insert := fmt.Sprintf("INSERT INTO %s VALUES ($1) RETURNING c", table)
			agreed, refused, unsupported := map[int16]int{}, map[int16]int{}, 0
			for format := int16(0); format <= 1; format++ {
				for n := 0; n < perType; n++ {
					var in []byte
					if format == FormatText {
						in = []byte(genArrayText(rng, typ))
					} else {
						in = genArrayBinary(rng, typ)
					}
					pg, pgErr := query(ctx, conn, insert, in, typ.OID, format, 0)
					got, err := Canonical(typ, format, in)
					var ce *Error
					errors.As(err, &ce)
					switch {
					case err != nil && ce != nil && ce.Unsupported:
						unsupported++
						continue
					case pgErr != nil && err != nil:
						refused[format]++
						var pe *pgconn.PgError
						if errors.As(pgErr, &pe) && ce != nil && ce.Code != "" && string(ce.Code) != pe.Code {
							t.Errorf("format %d input %q: PostgreSQL's SQLSTATE %s (%s), Canonical's %s (%v)", format, in, pe.Code, pe.Message, ce.Code, err)
						}
						if ce != nil && ce.Message != "" && pe.Message != ce.Message && !strings.HasPrefix(pe.Message, "value \"") {
							t.Errorf("format %d input %q: PostgreSQL says %q, Canonical %q", format, in, pe.Message, ce.Message)
						}
						continue
					case pgErr != nil:
						t.Errorf("format %d input %q: PostgreSQL refuses (%v), Canonical gives %q", format, in, pgErr, got)
						continue
					case err != nil:
						t.Errorf("format %d input %q: PostgreSQL gives %q, Canonical fails: %v", format, in, pg, err)
						continue
					case string(got) != string(pg):
						t.Errorf("format %d input %q: PostgreSQL gives %q, Canonical %q", format, in, pg, got)
						continue
					}
					agreed[format]++
					checkPresentStyles(ctx, t, conn, typ, name, got)
				}
			}
			t.Logf("accepted by both: %d text, %d binary; refused by both: %d text, %d binary; %d unsupported",
				agreed[0], agreed[1], refused[0], refused[1], unsupported)
			if agreed[0] < perType/10 || agreed[1] < perType/10 {
				t.Errorf("too few valid inputs generated: %v", agreed)
			}
		})
	}
}

// genElemText is one element's text, as the scalar tests generate it.
func genElemText(r *rand.Rand, e policy.LogicalType) string {
	switch e.OID {
	case policy.OIDText, policy.OIDVarchar, policy.OIDInt2, policy.OIDInt4, policy.OIDInt8, policy.OIDBool,
		policy.OIDNumeric, policy.OIDDate, policy.OIDTimestamp, policy.OIDTimestamptz:
		return genText(r, e)
	}
	return genMoreText(r, e)
}

func genElemBinary(r *rand.Rand, e policy.LogicalType) []byte {
	switch e.OID {
	case policy.OIDText, policy.OIDVarchar, policy.OIDInt2, policy.OIDInt4, policy.OIDInt8, policy.OIDBool,
		policy.OIDNumeric, policy.OIDDate, policy.OIDTimestamp, policy.OIDTimestamptz:
		return genBinary(r, e)
	}
	return genMoreBinary(r, e)
}

// quoteElem writes an element as a client might: bare when it can be,
// quoted with escapes, or (sometimes) bare with backslashes.
func quoteElem(r *rand.Rand, s string) string {
	switch r.IntN(6) {
	case 0:
		return s // bare, whatever it holds
	case 1:
		var b strings.Builder
		for _, c := range s {
			if strings.ContainsRune("\"\\{}, \t", c) {
				b.WriteByte('\\')
			}
			b.WriteRune(c)
		}
		return b.String()
	}
	bare := s != "" && !strings.EqualFold(s, "null") && !strings.ContainsAny(s, "\"\\{}, \t\n\r\v\f")
	if bare && r.IntN(2) == 0 {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func genArrayText(r *rand.Rand, t policy.LogicalType) string {
	e, _ := t.Element()
	ndim := pick(r, 0, 1, 1, 1, 1, 2, 2, 3)
	dims := make([]int, ndim)
	for i := range dims {
		dims[i] = 1 + r.IntN(3)
	}
	var b strings.Builder
	if ndim > 0 && r.IntN(8) == 0 {
		for _, d := range dims {
			lb := pick(r, 1, 0, -2, 5)
			fmt.Fprintf(&b, "[%d:%d]", lb, lb+d-1+pick(r, 0, 0, 0, 1))
		}
		b.WriteString(pick(r, "=", " = ", "="))
	}
	var level func(d int)
	level = func(d int) {
		b.WriteString("{" + spaces(r))
		if d == ndim {
			b.WriteString("}")
			return
		}
		n := dims[d]
		if d > 0 && r.IntN(25) == 0 {
			n++ // sub-arrays of different lengths
		}
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteString(spaces(r) + "," + spaces(r))
			}
			if d+1 < ndim {
				level(d + 1)
				continue
			}
			if r.IntN(8) == 0 {
				b.WriteString(pick(r, "NULL", "null", "Null", `"NULL"`))
				continue
			}
			b.WriteString(quoteElem(r, genElemText(r, e)))
		}
		b.WriteString(spaces(r) + "}")
	}
	if ndim == 0 {
		b.WriteString(pick(r, "{}", "{ }", "{{}}", "{}x", " {}"))
	} else {
		level(0)
	}
	s := b.String() + spaces(r)
	if r.IntN(20) == 0 && len(s) > 1 {
		i := r.IntN(len(s))
		s = s[:i] + pick(r, "{", "}", ",", `"`, "") + s[i+1:]
	}
	return s
}

func genArrayBinary(r *rand.Rand, t policy.LogicalType) []byte {
	e, _ := t.Element()
	ndim := pick(r, 0, 1, 1, 1, 2, 3)
	dims := make([]int, ndim)
	n := 1
	for i := range dims {
		dims[i] = r.IntN(4)
		n *= dims[i]
	}
	if ndim == 0 {
		n = 0
	}
	oid := e.OID
	if r.IntN(25) == 0 {
		oid = pick(r, policy.OIDText, policy.OIDInt4, 0, 20000)
	}
	var elems []byte
	hasNull := 0
	for i := 0; i < n; i++ {
		if r.IntN(8) == 0 {
			elems = binary.BigEndian.AppendUint32(elems, 0xffffffff)
			hasNull = 1
			continue
		}
		v := genElemBinary(r, e)
		elems = binary.BigEndian.AppendUint32(elems, uint32(len(v)))
		elems = append(elems, v...)
	}
	b := binary.BigEndian.AppendUint32(nil, uint32(ndim))
	b = binary.BigEndian.AppendUint32(b, uint32(pick(r, hasNull, hasNull, hasNull, 1-hasNull, 2)))
	b = binary.BigEndian.AppendUint32(b, oid)
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, uint32(d))
		b = binary.BigEndian.AppendUint32(b, uint32(pick(r, int32(1), 1, 1, 0, -3, 2147483647)))
	}
	b = append(b, elems...)
	if r.IntN(25) == 0 && len(b) > 0 {
		b = b[:r.IntN(len(b))]
	}
	return b
}

// TestArrayOIDsAgainstPostgres: the array type of every supported type
// has the OID pg_type gives it (typarray of the element type).
func TestArrayOIDsAgainstPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn := startPostgres(t, ctx)
	for _, name := range policy.TypeNames() {
		arr := mustType(t, name+"[]")
		elem, _ := arr.Element()
		got, err := query(ctx, conn, "SELECT typarray::text FROM pg_type WHERE oid = $1::text::oid", []byte(strconv.Itoa(int(elem.OID))), 0, 0, 0)
		if err != nil || string(got) != strconv.Itoa(int(arr.OID)) {
			t.Errorf("%s[]: OID %d, pg_type says %s (%v)", name, arr.OID, got, err)
		}
	}
}
