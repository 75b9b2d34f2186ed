package pgcopy

// Splitter cuts a COPY data stream into whole rows. Feed it chunks in
// order; it returns the complete rows they finish (each without its line
// ending) and keeps the rest until more data or Finish.
type Splitter struct {
	f       Format
	pending []byte
	crlf    []bool // per row of the last Feed: it ended in \r\n
}

// NewSplitter returns a splitter for format f.
func NewSplitter(f Format) *Splitter { return &Splitter{f: f} }

// Feed adds a chunk and returns the rows it completed.
func (s *Splitter) Feed(chunk []byte) [][]byte {
	s.pending = append(s.pending, chunk...)
	var rows [][]byte
	s.crlf = s.crlf[:0]
	start, inQuotes := 0, false
	for i := 0; i < len(s.pending); i++ {
		c := s.pending[i]
		switch {
		case s.f.CSV && inQuotes && c == s.f.Escape && s.f.Escape != s.f.Quote && i+1 < len(s.pending):
			i++ // an escaped character inside quotes
		case s.f.CSV && c == s.f.Quote:
			inQuotes = !inQuotes
		case !s.f.CSV && c == '\\':
			if i+1 >= len(s.pending) {
				// A backslash at the end of the chunk: wait for what it escapes.
				goto done
			}
			i++
		case c == '\n' && !inQuotes:
			end := i
			if end > start && s.pending[end-1] == '\r' {
				end--
			}
			s.crlf = append(s.crlf, end < i)
			rows = append(rows, append([]byte(nil), s.pending[start:end]...))
			start = i + 1
		}
	}
done:
	s.pending = append(s.pending[:0], s.pending[start:]...)
	return rows
}

// CRLF reports whether row i of the last Feed ended in \r\n rather than
// \n. PostgreSQL takes the first row's line ending for the whole stream
// and fails a row that ends otherwise; a rewriter that writes each row
// with its own ending lets it.
func (s *Splitter) CRLF(i int) bool { return i < len(s.crlf) && s.crlf[i] }

// Finish returns the last row when the stream ended without a line break,
// and reports whether the stream stopped inside a quoted CSV field.
func (s *Splitter) Finish() (row []byte, ok bool) {
	s.crlf = s.crlf[:0]
	if len(s.pending) == 0 {
		return nil, true
	}
	row, s.pending = s.pending, nil
	return row, true
}
