package pgcopy

import "fmt"

// Format is one COPY row format with its options.
type Format struct {
	CSV       bool
	Delimiter byte   // '\t' for text, ',' for CSV by default
	Null      string // `\N` for text, "" for CSV by default
	Quote     byte   // CSV only; '"' by default
	Escape    byte   // CSV only; Quote by default
	Header    bool   // the first row names the columns
}

// Text returns the text format's defaults.
func Text() Format { return Format{Delimiter: '\t', Null: `\N`} }

// CSV returns the CSV format's defaults.
func CSV() Format { return Format{CSV: true, Delimiter: ',', Null: "", Quote: '"', Escape: '"'} }

// Validate rejects option combinations COPY itself rejects and ones this
// package cannot rewrite safely.
func (f Format) Validate() error {
	switch {
	case f.Delimiter == '\n' || f.Delimiter == '\r' || f.Delimiter == 0:
		return fmt.Errorf("COPY delimiter %q cannot be rewritten", f.Delimiter)
	case !f.CSV && (f.Delimiter == '\\' || (f.Delimiter >= 'a' && f.Delimiter <= 'z') || (f.Delimiter >= '0' && f.Delimiter <= '9') || f.Delimiter == '.'):
		return fmt.Errorf("COPY delimiter %q cannot be used in text format", f.Delimiter)
	case f.CSV && (f.Quote == f.Delimiter || f.Quote == 0 || f.Escape == 0):
		return fmt.Errorf("COPY CSV quote and delimiter must differ")
	}
	return nil
}
