package guard

import (
	"context"
	"errors"

	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/internal/pgcollate"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
)

// Writes of a column whose policy lists `search` carry the column's
// search terms (docs/design/search-terms.md §2.2, format-2 cells): every
// write form (INSERT literal or parameter, UPDATE SET, ON CONFLICT DO
// UPDATE, COPY FROM in text, csv and binary) seals through encryptValue,
// which calls cellcipher.SealWithTerms for such a column and Seal, as
// before, for every other. The order and match terms of text depend on
// the column's collation (§5.1), which the session's catalog names
// (catalogColumn.collation, described in catalog.collations): C and POSIX
// order by bytes and lower ASCII only; a libc locale is phiguard's own
// C library's, and only when the server reports that library's version;
// ICU, an unreadable collation or one whose LC_COLLATE and LC_CTYPE would
// need two locales is refused with 0A000 naming the column. A term
// computed under another collation than the database's would make a
// later search through it miss rows, so the write fails closed.

// sealWithTerms seals canon for col, a column with `search`.
func (s *Session) sealWithTerms(ctx context.Context, col *policy.ProtectedColumn, canon, subject []byte) ([]byte, *pgerr.Error) {
	loc, pe := s.termLocale(col)
	if pe != nil {
		return nil, pe
	}
	cell, err := s.srv.protect.cipher().SealWithTerms(ctx, col, loc, canon, subject)
	if err != nil {
		return nil, s.termError(col, err)
	}
	return cell, nil
}

// termError maps a SealWithTerms failure to the client's error: a key's
// (Seal's, or search_key_version not loaded) as sealError does, a term
// input's as 0A000 naming the column and never the value.
func (s *Session) termError(col *policy.ProtectedColumn, err error) *pgerr.Error {
	var we *keys.WithdrawnError
	if errors.Is(err, keys.ErrUnknownKey) || errors.As(err, &we) || errors.Is(err, keys.ErrShredded) ||
		errors.Is(err, cellcipher.ErrNoSubject) || errors.Is(err, cellcipher.ErrNoSubjectKeys) {
		return s.sealError(col, err)
	}
	return pgerr.Newf(pgerr.FeatureNotSupported,
		"column %s has search terms (%s) that phiguard could not compute for this value", col.QualifiedName(), col.Search)
}

// termLocale is the locale col's order and match terms are computed
// under: nil for C and POSIX, and for a column whose terms depend on no
// collation (equality only, or a type other than text).
func (s *Session) termLocale(col *policy.ProtectedColumn) (*pgcollate.Locale, *pgerr.Error) {
	order, match := col.Search.Has(policy.SearchOrder), col.Search.Has(policy.SearchMatch)
	if !order && !match || !policy.SearchTermAllowed(col.Type, policy.ModeRandomized, policy.SearchMatch) {
		return nil, nil // match is allowed exactly for the text types
	}
	e, known := s.catalog.Load().columnCollation(col) // term_records.go
	if !known {
		// A column the catalog does not describe, or a collation it did
		// not read: DDL in another session since the read.
		s.catalogStale.Store(true)
		return nil, pgerr.Newf(pgerr.SerializationFailure,
			"the collation of encrypted column %s, whose search terms depend on it, changed since this session read its catalog (DDL in another session): run the statement again", col.QualifiedName())
	}
	var collate, ctype *pgcollate.Locale
	var pe *pgerr.Error
	if order {
		if collate, pe = termLocaleOf(col, e.collate, "order"); pe != nil {
			return nil, pe
		}
	}
	if !match {
		return collate, nil
	}
	if ctype, pe = termLocaleOf(col, e.ctype, "match"); pe != nil {
		return nil, pe
	}
	if order && collate != ctype {
		return nil, pgerr.Newf(pgerr.FeatureNotSupported,
			"writing encrypted column %s with order and match terms: its collation's LC_COLLATE (%s) and LC_CTYPE (%s) differ, and phiguard computes both terms under one locale",
			col.QualifiedName(), localeOf(e.collate), localeOf(e.ctype))
	}
	return ctype, nil
}

// termLocaleOf reads one probe answer (LC_COLLATE for the order term,
// LC_CTYPE for lower() of the match term) as the locale to compute under.
func termLocaleOf(col *policy.ProtectedColumn, probe []byte, kind string) (*pgcollate.Locale, *pgerr.Error) {
	if probeBytewise(probe) { // collation.go: without readProbe's allocation, at each Parse
		return nil, nil
	}
	p, ok := readProbe(probe)
	why := "phiguard could not read the column's collation"
	if ok {
		var locale *pgcollate.Locale
		if locale, why = p.libcLocale(); locale != nil {
			return locale, nil
		}
	}
	return nil, pgerr.Newf(pgerr.FeatureNotSupported,
		"writing encrypted column %s, whose %s terms depend on its collation %s: %s", col.QualifiedName(), kind, localeOf(probe), why)
}

// equalityCandidates are the cells a deterministic column compared with
// canon may hold (cellcipher.EqualityCandidates): one per live key
// version, and for a column with `search` each with and without terms.
func (s *Session) equalityCandidates(col *policy.ProtectedColumn, canon []byte) ([][]byte, *pgerr.Error) {
	var loc *pgcollate.Locale
	if col.Search != 0 {
		var pe *pgerr.Error
		if loc, pe = s.termLocale(col); pe != nil {
			return nil, pe
		}
	}
	cands, err := s.srv.protect.cipher().EqualityCandidates(col, loc, canon)
	if err != nil {
		return nil, s.termError(col, err)
	}
	return cands, nil
}

// candidateCount is how many cells equalityCandidates gives for col.
func (s *Session) candidateCount(col *policy.ProtectedColumn) (int, *pgerr.Error) {
	n, err := cellcipher.CandidateCount(s.srv.protect.keyring(), col)
	if err != nil {
		return 0, keyError(col, err)
	}
	return n, nil
}
