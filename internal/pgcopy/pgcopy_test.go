package pgcopy

import (
	"reflect"
	"testing"
)

func TestSplitterAcrossChunks(t *testing.T) {
	for name, c := range map[string]struct {
		f      Format
		chunks []string
		rows   []string
	}{
		"text":        {Text(), []string{"1\ta\n2\t", "b\\", "\nc\n3\t\\N"}, []string{"1\ta", "2\tb\\\nc", "3\t\\N"}},
		"text crlf":   {Text(), []string{"1\ta\r\n"}, []string{"1\ta"}},
		"csv newline": {CSV(), []string{"1,\"multi\n", "line\"\n2,x\n"}, []string{"1,\"multi\nline\"", "2,x"}},
		"csv doubled": {CSV(), []string{"1,\"say \"\"hi\"\"\"\n"}, []string{"1,\"say \"\"hi\"\"\""}},
	} {
		s := NewSplitter(c.f)
		var got []string
		for _, ch := range c.chunks {
			for _, r := range s.Feed([]byte(ch)) {
				got = append(got, string(r))
			}
		}
		if last, _ := s.Finish(); last != nil {
			got = append(got, string(last))
		}
		if !reflect.DeepEqual(got, c.rows) {
			t.Errorf("%s: rows %q, want %q", name, got, c.rows)
		}
	}
}

func TestDecodeEncodeRoundTrip(t *testing.T) {
	values := [][]byte{[]byte("plain"), nil, []byte(""), []byte("tab\there"), []byte("new\nline"), []byte(`back\slash`),
		[]byte(`quote"d`), []byte("comma,y"), []byte(`\N`)}
	for name, f := range map[string]Format{"text": Text(), "csv": CSV()} {
		row := f.Encode(values)
		got, err := f.Decode(row)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, values) {
			t.Errorf("%s: row %q decoded to %q", name, row, got)
		}
	}
}

func TestDecodeText(t *testing.T) {
	got, err := Text().Decode([]byte(`a\tb` + "\t" + `\N` + "\t" + `\x41\101\\`))
	want := [][]byte{[]byte("a\tb"), nil, []byte(`AA\`)}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q %v, want %q", got, err, want)
	}
}

func TestDecodeCSVNullVersusEmpty(t *testing.T) {
	got, err := CSV().Decode([]byte(`1,,""`))
	want := [][]byte{[]byte("1"), nil, []byte("")}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q %v, want %q", got, err, want)
	}
	if _, err := CSV().Decode([]byte(`1,"open`)); err == nil {
		t.Fatal("an unterminated quote was accepted")
	}
}

func TestValidate(t *testing.T) {
	bad := Text()
	bad.Delimiter = '\\'
	if bad.Validate() == nil {
		t.Error("backslash delimiter accepted in text format")
	}
	if Text().Validate() != nil || CSV().Validate() != nil {
		t.Error("defaults rejected")
	}
}

// TestTextValueLikeNull: with a NULL string that needs no escape, a value
// equal to it (written escaped by the client) must not be encoded bare,
// which PostgreSQL reads as NULL.
func TestTextValueLikeNull(t *testing.T) {
	for _, null := range []string{"abc", "N", `\b`} {
		f := Text()
		f.Null = null
		for _, v := range []string{"abc", "N", "\b", "x"} {
			row := f.Encode([][]byte{[]byte(v), nil})
			got, err := f.Decode(row)
			if err != nil || len(got) != 2 || got[0] == nil || string(got[0]) != v || got[1] != nil {
				t.Errorf("NULL %q, value %q: encoded %q, decoded %q (%v)", null, v, row, got, err)
			}
		}
	}
}

func TestSplitterLineEndings(t *testing.T) {
	s := NewSplitter(Text())
	rows := s.Feed([]byte("1\r\n2\n3\r4\\\r5\r"))
	if want := []string{"1", "2", "3"}; len(rows) != 3 || string(rows[2]) != "3" || s.Ending(0) != "\r\n" || s.Ending(1) != "\n" || s.Ending(2) != "\r" {
		t.Errorf("rows %q (want %q), endings %q %q %q", rows, want, s.Ending(0), s.Ending(1), s.Ending(2))
	}
	if rows = s.Feed([]byte("\n")); len(rows) != 1 || string(rows[0]) != "4\\\r5" || s.Ending(0) != "\r\n" {
		t.Errorf("a CRLF cut between chunks: rows %q, ending %q", rows, s.Ending(0))
	}
	s.Feed([]byte("6\r"))
	if last, _ := s.Finish(); string(last) != "6" || s.Ending(0) != "\r" {
		t.Errorf("Finish after a lone \\r: %q, ending %q", last, s.Ending(0))
	}
	s.Feed([]byte("7"))
	if last, _ := s.Finish(); string(last) != "7" || s.Ending(0) != "" {
		t.Errorf("Finish without an ending: %q, ending %q", last, s.Ending(0))
	}
}
