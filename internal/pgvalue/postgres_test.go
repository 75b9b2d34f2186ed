package pgvalue

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/phiguard/phiguard/internal/pgcluster/pgclustertest"
	"github.com/phiguard/phiguard/policy"
)

// perType is how many generated inputs each type gets in each format.
const perType = 300

// TestAgainstPostgres is the differential test: for generated inputs of
// every type, in text and binary, PostgreSQL 15's own result of assigning
// the value to a column of that type and printing it must equal Canonical
// (or both must fail), and Present in binary must be what PostgreSQL sends
// for the canonical text in binary.
func TestAgainstPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	conn := startPostgres(t, ctx)
	if err := exec(ctx, conn, "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'; SET IntervalStyle = 'postgres'; SET client_encoding = 'UTF8'"); err != nil {
		t.Fatal(err)
	}
	if v := conn.ParameterStatus("server_version"); !strings.HasPrefix(v, "15") {
		t.Logf("server_version %s: this test is written against PostgreSQL 15", v)
	}

	seed := testSeed(t)
	m := pgtype.NewMap()
	types := []string{
		"text", "varchar(5)", "smallint", "integer", "bigint", "boolean",
		"numeric", "numeric(14,2)", "numeric(4,2)", "numeric(10)",
		"date", "timestamp", "timestamp(0)", "timestamp(3)", "timestamptz", "timestamptz(2)",
	}
	for i, name := range types {
		t.Run(name, func(t *testing.T) {
			typ := mustType(t, name)
			table := fmt.Sprintf("t%d", i)
			if err := exec(ctx, conn, fmt.Sprintf("CREATE TEMP TABLE %s (c %s)", table, name)); err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			// RETURNING c in text format is the output function; c::text would
			// differ for boolean (true, not t).
			insert := fmt.Sprintf("INSERT INTO %s VALUES ($1) RETURNING c", table)
			agreed := map[int16]int{}
			for format := int16(0); format <= 1; format++ {
				for n := 0; n < perType; n++ {
					var in []byte
					if format == FormatText {
						in = []byte(genText(rng, typ))
					} else {
						in = genBinary(rng, typ)
					}
					pg, pgErr := query(ctx, conn, insert, in, typ.OID, format, 0)
					got, err := Canonical(typ, format, in)
					switch {
					case pgErr != nil && err != nil:
						continue
					case pgErr != nil:
						t.Errorf("format %d input %q: PostgreSQL refuses (%v), Canonical gives %q", format, in, pgErr, got)
						continue
					case err != nil && strings.HasPrefix(string(pg), "294277-01-01 00:00:00"):
						// PostgreSQL 15 rounds 294276-12-31 23:59:59.999999 to
						// a precision without a range check, to a value its
						// own input refuses; Canonical refuses it.
						continue
					case err != nil:
						t.Errorf("format %d input %q: PostgreSQL gives %q, Canonical fails: %v", format, in, pg, err)
						continue
					case string(got) != string(pg):
						t.Errorf("format %d input %q: PostgreSQL gives %q, Canonical %q", format, in, pg, got)
						continue
					}
					agreed[format]++
					checkPresent(ctx, t, conn, m, typ, name, got)
				}
			}
			t.Logf("%d text and %d binary inputs accepted by both", agreed[0], agreed[1])
			if agreed[0] < perType/10 || agreed[1] < perType/10 {
				t.Errorf("too few valid inputs generated: %v", agreed)
			}
		})
	}

	// A session in a zone with DST: text without an offset is local time,
	// output is in the zone.
	t.Run("timestamptz in America/New_York", func(t *testing.T) {
		ny, err := time.LoadLocation("America/New_York")
		if err != nil {
			t.Skip("no tzdata:", err)
		}
		if err := exec(ctx, conn, "SET TimeZone = 'America/New_York'"); err != nil {
			t.Fatal(err)
		}
		defer exec(ctx, conn, "SET TimeZone = 'UTC'")
		c := Converter{TimeZone: ny}
		typ := mustType(t, "timestamptz")
		rng := rand.New(rand.NewPCG(seed, 99))
		// The fall-back hour (ambiguous) and the spring-forward hour
		// (skipped) of 2020, an old rule, and local mean time before 1883.
		fixed := []string{"2020-11-01 01:30:00", "2020-11-01 00:59:59", "2020-11-01 02:00:00",
			"2020-03-08 02:30:00", "2020-03-08 01:59:59", "2020-03-08 03:00:00",
			"1960-04-24 02:30:00", "1960-10-30 01:30:00", "1850-06-01 12:00:00"}
		for n := 0; n < perType+len(fixed); n++ {
			var in string
			if n < len(fixed) {
				in = fixed[n]
			} else {
				// Around DST transitions and across the 20th and 21st century.
				y := 1900 + rng.IntN(200)
				mo, d := []int{3, 11, 4, 10}[rng.IntN(4)], 1+rng.IntN(14)
				in = fmt.Sprintf("%04d-%02d-%02d %02d:%02d:%02d", y, mo, d, rng.IntN(4), rng.IntN(60), rng.IntN(60))
				if rng.IntN(4) == 0 {
					in += []string{"+00", "-05", "+05:30"}[rng.IntN(3)]
				}
			}
			pg, pgErr := query(ctx, conn, "SELECT $1::timestamptz::text", []byte(in), typ.OID, 0, 0)
			canon, err := c.Canonical(typ, FormatText, []byte(in))
			if err != nil || pgErr != nil {
				t.Errorf("%q: PostgreSQL %v, Canonical %v", in, pgErr, err)
				continue
			}
			got, err := c.Present(typ, FormatText, canon)
			if err != nil || string(got) != string(pg) {
				t.Errorf("%q: PostgreSQL in New York prints %q, Present(Canonical) %q (canonical %q), %v", in, pg, got, canon, err)
			}
			utc, _ := query(ctx, conn, "SELECT ($1::timestamptz AT TIME ZONE 'UTC')::text || '+00'", []byte(in), typ.OID, 0, 0)
			if string(utc) != string(canon) {
				t.Errorf("%q: PostgreSQL's instant in UTC %q, Canonical %q", in, utc, canon)
			}
		}
	})
}

// checkPresent compares Present with what PostgreSQL sends for the
// canonical text, in text and in binary, and decodes both binaries with pgx.
func checkPresent(ctx context.Context, t *testing.T, conn *pgconn.PgConn, m *pgtype.Map, typ policy.LogicalType, name string, canon []byte) {
	t.Helper()
	sel := fmt.Sprintf("SELECT $1::%s", name)
	txt, err := Present(typ, FormatText, canon)
	if err != nil || string(txt) != string(canon) {
		t.Errorf("Present(text, %q) = %q, %v", canon, txt, err)
	}
	bin, err := Present(typ, FormatBinary, canon)
	if err != nil {
		t.Errorf("Present(binary, %q): %v", canon, err)
		return
	}
	pgBin, err := query(ctx, conn, sel, canon, 0, 0, 1)
	if err != nil {
		t.Errorf("%s with %q: %v", sel, canon, err)
		return
	}
	if string(bin) != string(pgBin) {
		t.Errorf("Present(binary, %q) = % x; PostgreSQL sends % x", canon, bin, pgBin)
	}
	want, err1 := decodeWithPgx(m, typ.OID, pgBin)
	got, err2 := decodeWithPgx(m, typ.OID, bin)
	if err1 != nil || err2 != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("pgx decodes Present(binary, %q) as %#v (%v), PostgreSQL's as %#v (%v)", canon, got, err2, want, err1)
	}
}

func decodeWithPgx(m *pgtype.Map, oid uint32, b []byte) (any, error) {
	typ, ok := m.TypeForOID(oid)
	if !ok {
		return nil, fmt.Errorf("pgx knows no OID %d", oid)
	}
	return typ.Codec.DecodeValue(m, oid, FormatBinary, b)
}

// startPostgres starts a throwaway PostgreSQL for t and connects to it
// as the superuser; both end with the test.
func startPostgres(t *testing.T, ctx context.Context) *pgconn.PgConn {
	t.Helper()
	return pgclustertest.Conn(t, ctx)
}

func exec(ctx context.Context, conn *pgconn.PgConn, sql string) error {
	_, err := conn.Exec(ctx, sql).ReadAll()
	return err
}

// query runs sql with one parameter and returns the single field of the
// single row.
func query(ctx context.Context, conn *pgconn.PgConn, sql string, param []byte, oid uint32, format, resultFormat int16) ([]byte, error) {
	r := conn.ExecParams(ctx, sql, [][]byte{param}, []uint32{oid}, []int16{format}, []int16{resultFormat}).Read()
	if r.Err != nil {
		return nil, r.Err
	}
	if len(r.Rows) != 1 || len(r.Rows[0]) != 1 {
		return nil, fmt.Errorf("want one field, got %v", r.Rows)
	}
	return r.Rows[0][0], nil
}

// Generators. Text inputs mix the spellings Canonical supports with invalid
// ones; binary inputs mix valid encodings, out-of-range values and wrong
// lengths.

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

func spaces(r *rand.Rand) string {
	if r.IntN(4) == 0 {
		return pick(r, " ", "  ", "\t", "\n ")
	}
	return ""
}

func randCase(r *rand.Rand, s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' && r.IntN(2) == 0 {
			b[i] = c - 32
		}
	}
	return string(b)
}

func genText(r *rand.Rand, t policy.LogicalType) string {
	switch t.OID {
	case policy.OIDText, policy.OIDVarchar:
		var sb strings.Builder
		for n := r.IntN(9); n > 0; n-- {
			sb.WriteString(pick(r, "a", "Z", " ", "ä", "€", "𝄞", "'", "\\", "\t"))
		}
		switch r.IntN(12) {
		case 0:
			sb.WriteString("\xff")
		case 1:
			sb.WriteString("   ")
		}
		return sb.String()
	case policy.OIDInt2, policy.OIDInt4, policy.OIDInt8:
		bits := map[uint32]int{policy.OIDInt2: 16, policy.OIDInt4: 32, policy.OIDInt8: 64}[t.OID]
		var n int64
		switch r.IntN(4) {
		case 0:
			n = int64(r.Uint64())
		case 1:
			n = int64(r.IntN(2000)) - 1000
		default:
			lim := int64(1)<<(bits-1) - 1
			n = lim - int64(r.IntN(3))
			if r.IntN(2) == 0 {
				n = -n - 1
			}
		}
		s := fmt.Sprint(n)
		if r.IntN(8) == 0 && bits < 64 {
			s += "0" // out of range, usually
		}
		if n >= 0 && r.IntN(4) == 0 {
			s = "+" + s
		}
		if r.IntN(6) == 0 {
			s = "0" + s
		}
		if r.IntN(15) == 0 {
			s = pick(r, "", "-", "1.5", "1e3", "0x10", "1_000", "--1")
		}
		return spaces(r) + s + spaces(r)
	case policy.OIDBool:
		s := pick(r, "t", "true", "tr", "f", "fal", "false", "y", "yes", "n", "no", "on", "off", "of", "1", "0",
			"o", "tru e", "yess", "2", "", "nope", "01")
		return spaces(r) + randCase(r, s) + spaces(r)
	case policy.OIDNumeric:
		if r.IntN(10) == 0 {
			return spaces(r) + randCase(r, pick(r, "nan", "infinity", "-infinity", "+infinity", "inf", "-inf", "+inf", "infinit", "nann")) + spaces(r)
		}
		var sb strings.Builder
		sb.WriteString(pick(r, "", "", "-", "+"))
		for n := r.IntN(6); n > 0; n-- {
			sb.WriteByte(byte('0' + r.IntN(10)))
		}
		if r.IntN(2) == 0 {
			sb.WriteByte('.')
			for n := r.IntN(7); n > 0; n-- {
				sb.WriteByte(byte('0' + r.IntN(10)))
			}
		}
		if r.IntN(5) == 0 {
			sb.WriteString(pick(r, "e", "E"))
			sb.WriteString(pick(r, "", "-", "+"))
			sb.WriteString(fmt.Sprint(r.IntN(12)))
		}
		if r.IntN(30) == 0 {
			sb.WriteString(pick(r, "x", ".", "e"))
		}
		return spaces(r) + sb.String() + spaces(r)
	case policy.OIDDate, policy.OIDTimestamp, policy.OIDTimestamptz:
		if r.IntN(15) == 0 {
			return spaces(r) + randCase(r, pick(r, "infinity", "-infinity", "+infinity", "epoch", "infinit")) + spaces(r)
		}
		var y int
		switch r.IntN(6) {
		case 0:
			y = 1 + r.IntN(9999)
		case 1:
			y = pick(r, 4713, 4714, 4715, 294276, 294277, 5874897, 5874898, 1, 10000)
		default:
			y = 1900 + r.IntN(200)
		}
		mo, d := 1+r.IntN(12), 1+r.IntN(28)
		if r.IntN(8) == 0 {
			mo, d = r.IntN(14), pick(r, 0, 29, 30, 31, 32)
		}
		var s string
		if r.IntN(8) == 0 && y <= 9999 {
			s = fmt.Sprintf("%04d%02d%02d", y, mo, d)
		} else {
			s = fmt.Sprintf("%04d-%s-%s", y, num(r, mo), num(r, d))
		}
		if t.OID != policy.OIDDate || r.IntN(4) == 0 {
			if r.IntN(6) != 0 {
				s += pick(r, " ", "T", "  ")
				s += num(r, pick(r, r.IntN(24), r.IntN(24), r.IntN(24), 24, 25)) + ":" + num(r, pick(r, r.IntN(60), r.IntN(60), 60))
				if r.IntN(4) != 0 {
					s += ":" + num(r, pick(r, r.IntN(60), r.IntN(60), r.IntN(60), 60, 61))
					if r.IntN(2) == 0 {
						s += "."
						for n := 1 + r.IntN(9); n > 0; n-- {
							s += string(byte(pick(r, '0', '9', byte('0'+r.IntN(10)))))
						}
					}
				}
			}
			if r.IntN(3) == 0 {
				s += pick(r, "", " ") + pick(r, "+02", "-05", "+0530", "-05:30", "+14", "+15", "+16", "-00:00:30", "Z", "UTC", "gmt", "+1", "-930", "+05:3")
			}
		}
		if r.IntN(6) == 0 {
			s += pick(r, " BC", " AD", " bc")
		}
		return spaces(r) + s + spaces(r)
	}
	panic("no generator")
}

func num(r *rand.Rand, n int) string {
	if n < 10 && r.IntN(3) == 0 {
		return fmt.Sprint(n)
	}
	return fmt.Sprintf("%02d", n)
}

func genBinary(r *rand.Rand, t policy.LogicalType) []byte {
	wrongLength := r.IntN(20) == 0
	var b []byte
	switch t.OID {
	case policy.OIDText, policy.OIDVarchar:
		return []byte(genText(r, t))
	case policy.OIDInt2:
		b = binary.BigEndian.AppendUint16(nil, uint16(r.Uint32()))
	case policy.OIDInt4:
		b = binary.BigEndian.AppendUint32(nil, r.Uint32())
	case policy.OIDInt8:
		b = binary.BigEndian.AppendUint64(nil, r.Uint64())
	case policy.OIDBool:
		b = []byte{pick(r, 0, 1, 1, 0, byte(r.IntN(256)))}
	case policy.OIDDate:
		v := pick(r, int32(r.IntN(80000)-40000), int32(r.IntN(5000000)-2500000), int32(r.Uint32()), -2451545, -2451546, 2147483494-2451545-1, 2147483494-2451545, 2147483647, -2147483648)
		b = binary.BigEndian.AppendUint32(nil, uint32(v))
	case policy.OIDTimestamp, policy.OIDTimestamptz:
		v := pick(r, int64(r.Uint64()>>8)-1<<55, int64(r.IntN(1<<50)-1<<49), minTimestamp, minTimestamp-1, endTimestamp-1, endTimestamp, 1<<63-1, -1<<63,
			int64(r.IntN(2000))*500000-500000000)
		b = binary.BigEndian.AppendUint64(nil, uint64(v))
	case policy.OIDNumeric:
		n := r.IntN(6)
		weight := pick(r, int16(r.IntN(9)-4), -1, 0, 0)
		sign := pick[uint16](r, numericPos, numericNeg, numericPos, numericNeg, numericNaN, numericPInf, numericNInf, 0x1234)
		dscale := uint16(pick(r, 0, 0, 2, r.IntN(16), 0x4000))
		b = binary.BigEndian.AppendUint16(nil, uint16(n))
		b = binary.BigEndian.AppendUint16(b, uint16(weight))
		b = binary.BigEndian.AppendUint16(b, sign)
		b = binary.BigEndian.AppendUint16(b, dscale)
		for ; n > 0; n-- {
			b = binary.BigEndian.AppendUint16(b, uint16(pick(r, r.IntN(10000), r.IntN(10000), r.IntN(100), 0, 9999, 10000)))
		}
	}
	if wrongLength {
		if len(b) > 0 && r.IntN(2) == 0 {
			b = b[:len(b)-1]
		} else {
			b = append(b, 0)
		}
	}
	return b
}
