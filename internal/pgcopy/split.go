package pgcopy

// Splitter cuts a COPY data stream into whole rows. Feed it chunks in
// order; it returns the complete rows they finish (each without its line
// ending) and keeps the rest until more data or Finish.
//
// A line ends, outside a quoted CSV field and not behind a text
// format's backslash, in \n, \r\n or a lone \r, as PostgreSQL reads it.
// PostgreSQL takes the first row's ending for the whole stream and fails
// a row that ends otherwise (22P04), so Ending gives each row's own, for
// a rewriter to write it back as it came.
type Splitter struct {
	f       Format
	pending []byte
	ends    []string // per row of the last Feed or Finish: its line ending
	crAtEnd bool     // pending ends in a line-ending \r, maybe of a \r\n
}

// NewSplitter returns a splitter for format f.
func NewSplitter(f Format) *Splitter { return &Splitter{f: f} }

// Feed adds a chunk and returns the rows it completed.
func (s *Splitter) Feed(chunk []byte) [][]byte {
	s.pending = append(s.pending, chunk...)
	var rows [][]byte
	s.ends, s.crAtEnd = s.ends[:0], false
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
		case (c == '\n' || c == '\r') && !inQuotes:
			end := "\n"
			if c == '\r' {
				if i+1 >= len(s.pending) {
					s.crAtEnd = true // a \r\n cut between chunks, or the last row's \r
					goto done
				}
				end = "\r"
				if s.pending[i+1] == '\n' {
					end = "\r\n"
				}
			}
			s.ends = append(s.ends, end)
			rows = append(rows, append([]byte(nil), s.pending[start:i]...))
			i += len(end) - 1
			start = i + 1
		}
	}
done:
	s.pending = append(s.pending[:0], s.pending[start:]...)
	return rows
}

// Ending is the line ending of row i of the last Feed or Finish: "\n",
// "\r\n", "\r", or "" for a last row that came without one.
func (s *Splitter) Ending(i int) string {
	if i < len(s.ends) {
		return s.ends[i]
	}
	return ""
}

// Finish returns the last row when the stream ended without a line break
// (or with a lone \r), and reports whether the stream stopped inside a
// quoted CSV field.
func (s *Splitter) Finish() (row []byte, ok bool) {
	s.ends = s.ends[:0]
	if len(s.pending) == 0 {
		return nil, true
	}
	row, s.pending = s.pending, nil
	if s.crAtEnd {
		row, s.crAtEnd = row[:len(row)-1], false
		s.ends = append(s.ends, "\r")
	}
	return row, true
}
