package sqlrewrite

import "testing"

func TestStringConstant(t *testing.T) {
	for lit, want := range map[string]string{
		`E'O''Brien \\ back'`:   `O'Brien \ back`,
		`e'a\'b\nc\tZo\u00eb'`:  "a'b\nc\tZoë",
		`E'\x41\101\U0001F600'`: "AA\U0001F600",
		`$$it's $1 \n$$`:        `it's $1 \n`,
		`$q$a$$b$q$`:            "a$$b",
		"E'a'\n'b'":             "ab", // continued across a newline, as PostgreSQL reads it
		`E''`:                   "",
		"'078'\n'-05-1120'":     "078-05-1120", // a plain one continued, standard: its backslash is a character
		"'C:\\d'\n  'x'":        `C:\dx`,
	} {
		got, ok := StringConstant([]byte(lit))
		if !ok || string(got) != want {
			t.Errorf("%s: %q %v, want %q", lit, got, ok, want)
		}
	}
	for _, lit := range []string{
		`U&'d\0061t'`,      // a UESCAPE outside the span could change it
		`E'\xff'`,          // not UTF-8
		`E'a\0b'`,          // NUL... (\0 is octal zero)
		`E'unterminated`,   //
		`E'a' || 'b'`,      // an expression, not one constant
		`'a' || 'b'`,       //
		`$$a$$ FROM t`,     //
		`B'0101'`, `X'ff'`, //
		``, `E`,
	} {
		if got, ok := StringConstant([]byte(lit)); ok {
			t.Errorf("%s: decoded to %q, want refusal", lit, got)
		}
	}
}
