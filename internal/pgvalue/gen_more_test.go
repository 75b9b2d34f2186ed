package pgvalue

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Generators of text inputs for TestMoreTypesAgainstPostgres: the
// spellings the package reads, mixed with invalid and unsupported ones.

func genUUID(r *rand.Rand) string {
	h := fmt.Sprintf("%016x%016x", r.Uint64(), r.Uint64())
	switch r.IntN(8) {
	case 0:
		h = strings.ToUpper(h)
	case 1:
		var b strings.Builder
		for i := 0; i < 32; i += 4 {
			if i > 0 {
				b.WriteByte('-')
			}
			b.WriteString(h[i : i+4])
		}
		h = b.String()
	case 2:
		h = h[:31] + pick(r, "g", "", "-", "00")
	default:
		h = h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	}
	if r.IntN(6) == 0 {
		h = "{" + h + "}"
	}
	if r.IntN(15) == 0 {
		h = pick(r, " ", "{") + h
	}
	return h
}

func genFloat(r *rand.Rand, real bool) string {
	switch r.IntN(12) {
	case 0:
		return randCase(r, pick(r, "nan", "NaN", "inf", "-inf", "+inf", "infinity", "-Infinity", "+infinity", "infinit", "-nan", "nan(1)", "0x1p3"))
	case 1:
		return pick(r, "1e-400", "1e400", "1e39", "-1e39", "1e-46", "1e-45", "2e-310", "4e-320", "1.7976931348623157e308",
			"3.4028235e38", "3.4028236e38", "-0", "0", ".5", "5.", "-.5e3", "1e", "e1", "1.2.3", "", "--1", "1_0", "0.0000001")
	}
	f := r.NormFloat64() * math.Pow(10, float64(r.IntN(40)-20))
	if real {
		f = float64(float32(f))
	}
	switch r.IntN(4) {
	case 0:
		return strconv.FormatFloat(f, 'g', 1+r.IntN(17), 64)
	case 1:
		return strconv.FormatFloat(f, 'e', r.IntN(20), 64)
	case 2:
		return strconv.FormatFloat(f, 'f', r.IntN(25), 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func genTime(r *rand.Rand) string {
	if r.IntN(20) == 0 {
		return pick(r, "allballs", "now", "24:00:00", "24:00:01", "23:59:60", "23:59:60.5", "10:00 pm", "12:30 am", "13:00 pm", "0:00 am", "", "1:2", "10")
	}
	s := fmt.Sprintf("%s:%s", num(r, pick(r, r.IntN(24), r.IntN(24), 24, 25)), num(r, pick(r, r.IntN(60), r.IntN(60), 60)))
	if r.IntN(4) != 0 {
		s += ":" + num(r, pick(r, r.IntN(60), r.IntN(60), 60, 61))
		if r.IntN(2) == 0 {
			s += "."
			for n := 1 + r.IntN(9); n > 0; n-- {
				s += string(byte('0' + r.IntN(10)))
			}
		}
	}
	if r.IntN(5) == 0 {
		s = pick(r, "2024-06-01 ", "2024-01-15 ", "2024-06-01T") + s
	}
	if r.IntN(2) == 0 {
		s += pick(r, "", " ") + pick(r, "+02", "-05", "+0530", "-05:30", "+14", "+15:59", "+16", "-00:00:30", "Z", "UTC", "gmt", "+1", "EST", "Europe/Paris")
	}
	return spaces(r) + s + spaces(r)
}

func genInterval(r *rand.Rand) string {
	if r.IntN(6) == 0 {
		return genISOInterval(r)
	}
	if r.IntN(25) == 0 {
		return pick(r, "", "@", "ago", "1 day ago ago", "day", "1 day 2 day", "1 2", "1 day hour", "1-13", "1-2-3", "1:60", "1:2:61",
			"9223372036854775807 us", "2147483648 days", "-2147483648 days", "1 millisecond 1 microsecond", "1 quarter", "1 day1",
			"178000000 years", "1.5 millennium", "0.001 sec", "1 sec 1.5", "1:30.5", "-1:30", "P", "PT", "P1Y2M", "1 mon+2")
	}
	var parts []string
	units := []string{"year", "years", "y", "yr", "mon", "mons", "month", "months", "week", "w", "day", "days", "d", "hour", "h", "hrs",
		"min", "minute", "m", "sec", "s", "seconds", "ms", "msec", "milliseconds", "us", "usec", "microseconds", "decade", "century", "millennium"}
	used := map[string]bool{}
	for n := 1 + r.IntN(4); n > 0; n-- {
		u := pick(r, units...)
		if used[u] && r.IntN(4) != 0 {
			continue
		}
		used[u] = true
		v := fmt.Sprint(r.IntN(100))
		if r.IntN(3) == 0 {
			v = "-" + v
		} else if r.IntN(6) == 0 {
			v = "+" + v
		}
		if r.IntN(4) == 0 {
			v += "." + fmt.Sprint(r.IntN(1000))
		}
		sep := pick(r, " ", " ", "")
		parts = append(parts, v+sep+u)
	}
	if r.IntN(3) == 0 {
		ts := fmt.Sprintf("%d:%02d", r.IntN(100), r.IntN(60))
		if r.IntN(2) == 0 {
			ts += fmt.Sprintf(":%02d", r.IntN(61))
			if r.IntN(2) == 0 {
				ts += "." + fmt.Sprint(r.IntN(10000000))
			}
		}
		parts = append(parts, pick(r, "", "-", "+")+ts)
	}
	if r.IntN(8) == 0 {
		parts = append([]string{fmt.Sprintf("%s%d-%d", pick(r, "", "-", "+"), r.IntN(50), r.IntN(12))}, parts...)
	}
	if r.IntN(5) == 0 {
		parts = append([]string{fmt.Sprint(r.IntN(20) - 10)}, parts...)
	}
	s := strings.Join(parts, " ")
	if r.IntN(6) == 0 {
		s = "@ " + s
	}
	if r.IntN(6) == 0 {
		s += " ago"
	}
	return spaces(r) + s + spaces(r)
}

func genISOInterval(r *rand.Rand) string {
	s := "P"
	for _, u := range []string{"Y", "M", "W", "D"} {
		if r.IntN(3) == 0 {
			s += pick(r, "", "-") + fmt.Sprint(r.IntN(30)) + pick(r, "", "", ".5", ".25") + u
		}
	}
	if r.IntN(2) == 0 {
		s += "T"
		for _, u := range []string{"H", "M", "S"} {
			if r.IntN(2) == 0 {
				s += pick(r, "", "-") + fmt.Sprint(r.IntN(100)) + pick(r, "", "", ".5", ".123456789") + u
			}
		}
	}
	if r.IntN(12) == 0 {
		s = pick(r, "P0001-02-03T04:05:06", "P1Y2M3DT4H5M6S ", "p1d", "P1X", "PT1H2Y")
	}
	return s
}

func genBytea(r *rand.Rand) string {
	var b strings.Builder
	if r.IntN(2) == 0 {
		b.WriteString(`\x`)
		for n := r.IntN(8); n > 0; n-- {
			b.WriteString(fmt.Sprintf(pick(r, "%02x", "%02X", "%02x "), r.IntN(256)))
		}
		if r.IntN(10) == 0 {
			b.WriteString(pick(r, "a", "zz", " 0"))
		}
		return b.String()
	}
	for n := r.IntN(8); n > 0; n-- {
		b.WriteString(pick(r, "a", " ", `\\`, `\000`, `\377`, `\101`, "é", "'", `\`, `\8`, `\400`, `\x`))
	}
	return b.String()
}

func genJSON(r *rand.Rand, b *strings.Builder, depth int) {
	ws := func() {
		if r.IntN(3) == 0 {
			b.WriteString(pick(r, " ", "\n", "\t ", "  "))
		}
	}
	ws()
	k := r.IntN(10)
	if depth > 3 {
		k = 4 + r.IntN(6)
	}
	switch {
	case k < 2:
		b.WriteByte('{')
		for n := r.IntN(4); n > 0; n-- {
			ws()
			b.WriteString(genJSONString(r, true))
			ws()
			b.WriteByte(':')
			genJSON(r, b, depth+1)
			if n > 1 {
				b.WriteByte(',')
			}
		}
		ws()
		b.WriteByte('}')
	case k < 4:
		b.WriteByte('[')
		for n := r.IntN(4); n > 0; n-- {
			genJSON(r, b, depth+1)
			if n > 1 {
				b.WriteByte(',')
			}
		}
		b.WriteByte(']')
	case k < 6:
		b.WriteString(genJSONString(r, false))
	case k < 9:
		b.WriteString(pick(r, "0", "-0", "1", "-12", "1.50", "0.10", "1e2", "1E+2", "-1.5e-3", "123456789012345678901234567890",
			"1e400", "0.000001", "2.0", "01", "1.", ".5", "-", fmt.Sprint(r.IntN(100000))))
	default:
		b.WriteString(pick(r, "true", "false", "null", "nul", "True"))
	}
	ws()
}

func genJSONString(r *rand.Rand, key bool) string {
	var b strings.Builder
	b.WriteByte('"')
	n := r.IntN(5)
	if key {
		n = r.IntN(3)
	}
	for ; n > 0; n-- {
		if key {
			b.WriteString(pick(r, "a", "b", "aa", "ab", "B", "é"))
			continue
		}
		b.WriteString(pick(r, "a", "é", "/", `\/`, `\"`, `\\`, `\n`, `\t`, `\u00e9`, `\u001f`, `\ud83d\ude00`, `\u0000`,
			`\ud83d`, `\ude00`, `\x`, "\t", "𝄞", " "))
	}
	b.WriteByte('"')
	return b.String()
}
