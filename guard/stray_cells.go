package guard

import (
	"strconv"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/keys"
)

// A stray cell is a phiguard cell in a result value phiguard does not
// decrypt: the catalog does not know the value's column as encrypted (a
// relation another session made or replaced since the catalog was read,
// a table of copied cells, a function returning one; catalog_names.go).
// Serving it would answer with ciphertext where the plaintext database
// answers with the value, so the result is refused and the catalog read
// again before the next statement.

// strayCellInRow refuses the current DataRow of a result with no field to
// decrypt when a value of it holds a cell (of either format: a cell with
// search terms starts "~phs~"). Rows without a prefix, all of them in a
// plain database, cost two bytes.Index. Backend pump.
func (s *Session) strayCellInRow() *pgerr.Error {
	if s.srv.protect == nil {
		return nil
	}
	body, err := s.br.Body()
	if err != nil || !keys.HasCellPrefix(body) {
		return nil // a read error is the pump's to report
	}
	var row pgproto3.DataRow
	if row.Decode(body) != nil {
		return nil // decryptDataRow's check; forwarded as it came
	}
	for i, v := range row.Values {
		if keys.ContainsCell(v) {
			return s.strayCellRefusal("result column "+strconv.Itoa(i+1), false)
		}
	}
	return nil
}

// strayCellIn refuses the current message when it holds a cell: a row of
// a COPY TO STDOUT phiguard does not decrypt (COPY of a table of copied
// cells, or of a query over a new view), or a fast-path function call's
// result. where names it for the error. Backend pump.
func (s *Session) strayCellIn(where string) *pgerr.Error {
	if s.srv.protect == nil {
		return nil
	}
	body, err := s.br.Body()
	if err != nil || !keys.ContainsCell(body) {
		return nil
	}
	return s.strayCellRefusal(where, false)
}

// strayCellRefusal is the error for a cell in where (a result column, a
// COPY row). newRel: the column's relation was made after the
// catalog was read (a protected table dropped and made again, a new copy
// of one), which the catalog read before the next statement will know,
// so the statement is worth running again (40001); otherwise the read
// changes nothing the statement does (a function, a table of copied
// cells, a replaced view) and the refusal stands (0A000).
func (s *Session) strayCellRefusal(where string, newRel bool) *pgerr.Error {
	s.catalogStale.Store(true)
	if newRel {
		return pgerr.Newf(pgerr.SerializationFailure,
			"%s holds a value encrypted by phiguard, of a table made since this session read which columns are encrypted (DDL in another session): phiguard reads them again before the next statement; run the statement again", where)
	}
	return pgerr.Newf(pgerr.FeatureNotSupported,
		"%s holds a value encrypted by phiguard in a column phiguard does not know as encrypted (a view or rule replaced in another session, a table of copied encrypted values, or a function returning one): phiguard cannot decrypt it; read the encrypted table itself", where)
}
