package pgvalue

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/phiguard/phiguard/policy"
)

// TestDateQuickAgreesWithDecoder holds the date fast path to the general
// decoder: for every day of years 1 to 9999 (sampled) and for texts the
// fast path must leave alone, the day number, the ISO text and the
// binary value are the decoder's, or the fast path declines.
func TestDateQuickAgreesWithDecoder(t *testing.T) {
	date := policy.LogicalType{OID: policy.OIDDate, Name: "date"}
	slow := func(format int16, canonical []byte) ([]byte, error) {
		v, err := (decoder{t: date, f: FormatText}).dateText(canonical)
		if err != nil {
			return nil, err
		}
		if format == FormatBinary {
			return v.binary(), nil
		}
		return v.text(nil), nil
	}
	var texts [][]byte
	first, last := date2j(1, 1, 1), date2j(9999, 12, 31)
	for jd := first; jd <= last; jd += 7 {
		texts = append(texts, dateValue(jd-postgresEpochJDate).text(nil))
	}
	for _, s := range []string{"2000-02-29", "1900-02-28", "2024-12-31", "0001-01-01", "9999-12-31",
		"1900-02-29", "2023-02-29", "2023-04-31", "0000-01-01", "0001-01-01 BC", "infinity", "-infinity",
		"10000-01-01", "2023-1-01", "2023-01-1x", "+023-01-01", "2023/01/01", "2023-13-01", "2023-00-10", ""} {
		texts = append(texts, []byte(s))
	}
	quick, declined := 0, 0
	for _, text := range texts {
		for _, format := range []int16{FormatText, FormatBinary} {
			got, ok := Converter{}.presentDate(format, text)
			want, err := slow(format, text)
			if !ok {
				declined++
				continue
			}
			quick++
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%q format %d: fast path %q, decoder %q (%v)", text, format, got, want, err)
			}
		}
		if days, ok := DateDays(text); ok {
			v, err := (decoder{t: date, f: FormatText}).dateText(text)
			if err != nil || int32(v.(dateValue)) != days {
				t.Fatalf("%q: DateDays %d, decoder %v (%v)", text, days, v, err)
			}
		}
	}
	// Every generated canonical date (2 formats) takes the fast path; of
	// the hand-written texts, only the five valid dates do.
	if want := 2 * (len(texts) - 15); quick != want {
		t.Fatalf("fast path taken %d times, want %d (declined %d)", quick, want, declined)
	}
	if _, ok := (Converter{DateStyle: DateStyle{Style: "German"}}).presentDate(FormatText, []byte("2024-01-02")); ok {
		t.Fatal("the fast path wrote ISO text under German style")
	}
}

// TestPresentSharedDate: a date presented for a caller that writes it out
// at once is Present's answer in every format and style (ISO text shares
// the canonical bytes, without an allocation), and an error where
// Present has one.
func TestPresentSharedDate(t *testing.T) {
	date := policy.LogicalType{OID: policy.OIDDate, Name: "date"}
	texts := []string{"2000-02-29", "1987-06-05", "0001-01-01", "9999-12-31", "0001-01-01 BC", "infinity", "2023-02-29", "x"}
	for _, style := range []string{"ISO", "German", "SQL", "Postgres"} {
		c := Converter{DateStyle: DateStyle{Style: style}}
		for _, text := range texts {
			for _, format := range []int16{FormatText, FormatBinary} {
				want, werr := c.Present(date, format, []byte(text))
				got, gerr := c.PresentShared(date, format, []byte(text))
				if (werr == nil) != (gerr == nil) || !bytes.Equal(got, want) {
					t.Fatalf("%s %q format %d: shared %q (%v), Present %q (%v)", style, text, format, got, gerr, want, werr)
				}
			}
		}
	}
	canon := []byte("1987-06-05")
	if n := testing.AllocsPerRun(100, func() { _, _ = (Converter{}).PresentShared(date, FormatText, canon) }); n != 0 {
		t.Fatalf("an ISO date presented shared allocated %v times", n)
	}
}

// BenchmarkPresentDate: a date presented in text and in binary through
// the fast path (Present) against the general decoder it skips.
func BenchmarkPresentDate(b *testing.B) {
	date := policy.LogicalType{OID: policy.OIDDate, Name: "date"}
	canonical := []byte("1950-03-17")
	for _, format := range []int16{FormatText, FormatBinary} {
		b.Run(fmt.Sprintf("format=%d/quick", format), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Present(date, format, canonical); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("format=%d/decoder", format), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				v, err := (decoder{t: date, f: FormatText}).dateText(canonical)
				if err != nil {
					b.Fatal(err)
				}
				if format == FormatBinary {
					_ = v.binary()
				} else {
					_ = v.text(nil)
				}
			}
		})
	}
}
