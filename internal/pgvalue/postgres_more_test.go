package pgvalue

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/phiguard/phiguard/policy"
)

// TestMoreTypesAgainstPostgres is TestAgainstPostgres for uuid, char(n),
// real, double precision, time, timetz, interval, bytea, json and jsonb
// (and varchar(n)'s SQLSTATE): PostgreSQL's stored value equals
// Canonical, or both refuse (with PostgreSQL's SQLSTATE where Canonical
// names one), or Canonical refuses as unsupported; Present equals what
// PostgreSQL sends, in binary and in text under every value of the
// session settings that change the text (extra_float_digits,
// IntervalStyle, bytea_output).
func TestMoreTypesAgainstPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	conn := startPostgres(t, ctx)
	if err := exec(ctx, conn, "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'; SET IntervalStyle = 'postgres'; SET client_encoding = 'UTF8'"); err != nil {
		t.Fatal(err)
	}
	seed := testSeed(t)
	types := []string{"uuid", "char(3)", "bpchar", "varchar(3)", "real", "double precision", "time", "time(2)",
		"timetz", "timetz(0)", "interval", "bytea", "json", "jsonb"}
	for i, name := range types {
		t.Run(name, func(t *testing.T) {
			typ := mustType(t, name)
			table := fmt.Sprintf("m%d", i)
			if err := exec(ctx, conn, fmt.Sprintf("CREATE TEMP TABLE %s (c %s)", table, name)); err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(seed, uint64(100+i)))
			insert := fmt.Sprintf("INSERT INTO %s VALUES ($1) RETURNING c", table)
			agreed, unsupported := map[int16]int{}, 0
			for format := int16(0); format <= 1; format++ {
				for n := 0; n < perType; n++ {
					var in []byte
					if format == FormatText {
						in = []byte(genMoreText(rng, typ))
					} else {
						in = genMoreBinary(rng, typ)
					}
					pg, pgErr := query(ctx, conn, insert, in, typ.OID, format, 0)
					got, err := Canonical(typ, format, in)
					var ce *Error
					errors.As(err, &ce)
					switch {
					case err != nil && ce.Unsupported:
						unsupported++
						continue
					case pgErr != nil && err != nil:
						var pe *pgconn.PgError
						if errors.As(pgErr, &pe) && ce.Code != "" && string(ce.Code) != pe.Code {
							t.Errorf("format %d input %q: PostgreSQL's SQLSTATE %s (%s), Canonical's %s", format, in, pe.Code, pe.Message, ce.Code)
						}
						if ce.Message != "" && pe.Message != ce.Message {
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
			t.Logf("%d text and %d binary inputs accepted by both, %d refused as unsupported", agreed[0], agreed[1], unsupported)
			if agreed[0] < perType/10 || agreed[1] < perType/10 {
				t.Errorf("too few valid inputs generated: %v", agreed)
			}
		})
	}
}

// TestIntervalInputUnderSQLStandard: under IntervalStyle sql_standard a
// leading minus applies to every field that has no sign of its own;
// Canonical in such a session reads what PostgreSQL reads (compared in
// binary, which no style changes).
func TestIntervalInputUnderSQLStandard(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn := startPostgres(t, ctx)
	if err := exec(ctx, conn, "SET IntervalStyle = sql_standard"); err != nil {
		t.Fatal(err)
	}
	typ := mustType(t, "interval")
	conv := Converter{IntervalStyle: "sql_standard"}
	rng := rand.New(rand.NewPCG(testSeed(t), 7))
	fixed := []string{"-1 2:03:04", "-1-2 3 4:05:06", "-1 +2:03", "-1 day 2 hours", "-2:03", "-1-2", "+1-2 -3 +4:05:06.5", "-1 2 3"}
	agreed := 0
	for n := 0; n < perType+len(fixed); n++ {
		in := ""
		if n < len(fixed) {
			in = fixed[n]
		} else {
			in = genInterval(rng)
		}
		pg, pgErr := query(ctx, conn, "SELECT $1::interval", []byte(in), typ.OID, 0, 1)
		canon, err := conv.Canonical(typ, FormatText, []byte(in))
		var ce *Error
		switch {
		case errors.As(err, &ce) && ce.Unsupported, err != nil && pgErr != nil:
			continue
		case err != nil || pgErr != nil:
			t.Errorf("%q: PostgreSQL %v, Canonical %q %v", in, pgErr, canon, err)
			continue
		}
		bin, err := Present(typ, FormatBinary, canon)
		if err != nil || string(bin) != string(pg) {
			t.Errorf("%q under sql_standard: PostgreSQL % x, Canonical %q (% x, %v)", in, pg, canon, bin, err)
			continue
		}
		agreed++
	}
	t.Logf("%d inputs agreed", agreed)
}

// styleSettings are the settings that change a type's text output, each
// with the Converter that models it.
func styleSettings(oid uint32) map[string]Converter {
	out := map[string]Converter{}
	switch oid {
	case policy.OIDFloat4, policy.OIDFloat8:
		for _, efd := range []int{3, 1, 0, -1, -4, -10, -15} {
			out[fmt.Sprintf("SET extra_float_digits = %d", efd)] = Converter{RoundFloats: efd <= 0, ExtraFloatDigits: efd}
		}
	case policy.OIDInterval:
		for _, st := range []string{"postgres", "postgres_verbose", "sql_standard", "iso_8601"} {
			out["SET IntervalStyle = "+st] = Converter{IntervalStyle: st}
		}
	case policy.OIDBytea:
		out["SET bytea_output = escape"] = Converter{ByteaEscape: true}
		out["SET bytea_output = hex"] = Converter{}
	}
	return out
}

// checkPresentStyles compares Present with PostgreSQL's output of the
// canonical text: binary, and text under each style setting.
func checkPresentStyles(ctx context.Context, t *testing.T, conn *pgconn.PgConn, typ policy.LogicalType, name string, canon []byte) {
	t.Helper()
	sel := fmt.Sprintf("SELECT $1::%s", name)
	bin, err := Present(typ, FormatBinary, canon)
	pgBin, pgErr := query(ctx, conn, sel, canon, 0, 0, 1)
	if err != nil || pgErr != nil || string(bin) != string(pgBin) {
		t.Errorf("Present(binary, %q) = % x (%v); PostgreSQL sends % x (%v)", canon, bin, err, pgBin, pgErr)
	}
	txt, err := Present(typ, FormatText, canon)
	if err != nil || string(txt) != string(canon) {
		t.Errorf("Present(text, %q) = %q, %v", canon, txt, err)
	}
	for set, conv := range styleSettings(typ.Scalar().OID) {
		if err := exec(ctx, conn, set); err != nil {
			t.Fatal(err)
		}
		pgTxt, pgErr := query(ctx, conn, sel, canon, 0, 0, 0)
		got, err := conv.Present(typ, FormatText, canon)
		if err != nil || pgErr != nil || string(got) != string(pgTxt) {
			t.Errorf("%s: Present(text, %q) = %q (%v); PostgreSQL prints %q (%v)", set, canon, got, err, pgTxt, pgErr)
		}
	}
	if len(styleSettings(typ.Scalar().OID)) > 0 {
		if err := exec(ctx, conn, "RESET extra_float_digits; RESET IntervalStyle; RESET bytea_output"); err != nil {
			t.Fatal(err)
		}
	}
}

func genMoreText(r *rand.Rand, t policy.LogicalType) string {
	switch t.OID {
	case policy.OIDUUID:
		return genUUID(r)
	case policy.OIDBpchar, policy.OIDVarchar:
		vt, _ := policy.ParseType("varchar")
		s := genText(r, vt)
		if r.IntN(3) == 0 {
			s = strings.Repeat(pick(r, "a", "é", " "), r.IntN(6)) + pick(r, "", " ", "  ", "x")
		}
		return s
	case policy.OIDFloat4, policy.OIDFloat8:
		return spaces(r) + genFloat(r, t.OID == policy.OIDFloat4) + spaces(r)
	case policy.OIDTime, policy.OIDTimetz:
		return genTime(r)
	case policy.OIDInterval:
		return genInterval(r)
	case policy.OIDBytea:
		return genBytea(r)
	case policy.OIDJSON, policy.OIDJSONB:
		var b strings.Builder
		genJSON(r, &b, 0)
		s := b.String()
		if r.IntN(15) == 0 {
			s += pick(r, ",", "}", "x", " 1")
		}
		return s
	}
	panic("no generator")
}

func genMoreBinary(r *rand.Rand, t policy.LogicalType) []byte {
	var b []byte
	switch t.OID {
	case policy.OIDUUID:
		b = make([]byte, 16)
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
	case policy.OIDBpchar, policy.OIDVarchar, policy.OIDJSON:
		return []byte(genMoreText(r, t))
	case policy.OIDJSONB:
		return append([]byte{pick[byte](r, 1, 1, 1, 1, 1, 1, 1, 1, 2)}, genMoreText(r, t)...)
	case policy.OIDBytea:
		b = make([]byte, r.IntN(12))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return b
	case policy.OIDFloat4:
		bits := pick(r, r.Uint32(), math.Float32bits(float32(r.NormFloat64()*1000)), 0x7f800000, 0xff800000, 0x80000000, 0x00000001)
		b = binary.BigEndian.AppendUint32(nil, bits)
	case policy.OIDFloat8:
		bits := pick(r, r.Uint64(), math.Float64bits(r.NormFloat64()*1e6), math.Float64bits(float64(r.IntN(1000))/8), 0x7ff0000000000000, 0x8000000000000000, 1)
		b = binary.BigEndian.AppendUint64(nil, bits)
	case policy.OIDTime, policy.OIDTimetz:
		us := pick(r, r.Int64N(usecsPerDay+1), 0, usecsPerDay, usecsPerDay+1, -1, r.Int64N(86400)*usecsPerSec)
		b = binary.BigEndian.AppendUint64(nil, uint64(us))
		if t.OID == policy.OIDTimetz {
			z := pick(r, int32(r.IntN(2*57600)-57600), 0, -3600, 19800, 57599, 57600, -57600)
			b = binary.BigEndian.AppendUint32(b, uint32(z))
		}
	case policy.OIDInterval:
		us := pick(r, r.Int64N(1e12)-5e11, 0, int64(r.Uint64()), r.Int64N(86400)*usecsPerSec)
		days := pick(r, int32(r.IntN(1000)-500), 0, int32(r.Uint32()))
		months := pick(r, int32(r.IntN(400)-200), 0, int32(r.Uint32()))
		b = binary.BigEndian.AppendUint64(nil, uint64(us))
		b = binary.BigEndian.AppendUint32(b, uint32(days))
		b = binary.BigEndian.AppendUint32(b, uint32(months))
	}
	if r.IntN(20) == 0 {
		b = append(b, 0)
	}
	return b
}

// TestIntervalFieldEdgesAgainstPostgres: fields PostgreSQL's interval
// input reads in ways easy to miss, each compared with PostgreSQL itself:
// a number ending in a lone point ("5." is 5, ParseFraction), "5-" (5
// years: strtoint reads no digits as 0), a date-like field of letters,
// and a number left of an hours field (days). TestArraysAgainstPostgres
// found the first with seed 20261205.
func TestIntervalFieldEdgesAgainstPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn := startPostgres(t, ctx)
	typ := mustType(t, "interval")
	inputs := []string{"5.", "-5.", "5. days", "+5. days", "5.:", "-60. 07 h", "60 07 h", "5 07 h 3 min",
		"01:02:03.", "02:03.", "1 day 01:02:03.", "5-", "5- days", "5/", "5.x days", "1 5.", "5.5.", "5.e1 days", "P1.D",
		"-49-0 -97milliseconds -60. 07 h 36 us"}
	for _, in := range inputs {
		pg, pgErr := query(ctx, conn, "SELECT $1::interval", []byte(in), typ.OID, 0, 0)
		canon, err := Canonical(typ, FormatText, []byte(in))
		switch {
		case err != nil && pgErr != nil:
		case err != nil || pgErr != nil:
			t.Errorf("%q: PostgreSQL %q %v, Canonical %q %v", in, pg, pgErr, canon, err)
		case string(canon) != string(pg):
			t.Errorf("%q: PostgreSQL %q, Canonical %q", in, pg, canon)
		}
	}
}
