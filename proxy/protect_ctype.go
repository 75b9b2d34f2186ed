package proxy

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
	"go.uber.org/zap"
)

// Case folding under a libc LC_CTYPE other than C (protect_fold.go).
// PostgreSQL's lower() and upper() under a libc locale in a UTF8
// database map each character on its own with towlower_l/towupper_l
// (str_tolower), which for a locale such as C.utf8 is Unicode's simple
// case mapping, Go's unicode.ToLower/ToUpper. phiguard does not assume
// it: at login, for each libc LC_CTYPE other than C and POSIX that a
// protected column's collation or the database's default has and that
// this process has not checked yet, it has PostgreSQL map every code
// point (U+0001 to U+10FFFF but the surrogates) under that collation and
// compares a SHA-256 of the answer with its own: only an LC_CTYPE whose
// mapping is identical on every code point is folded in phiguard; any
// other, and one checked after the login (a collation created since),
// is refused as before (0A000). The check sends no PHI (constants only)
// and costs about a second, once per LC_CTYPE and process.

// verifiedCtypes holds, by locale name, whether PostgreSQL's mapping
// under it is Go's (bool).
var verifiedCtypes sync.Map

// unicodeCaseMaps are lower() and upper() as Unicode's simple case
// mapping, character by character (invalid bytes kept as they are).
var unicodeCaseMaps = map[sqlrewrite.Fold]caseMap{
	sqlrewrite.FoldLower: func(b []byte) []byte { return runeMap(b, unicode.ToLower) },
	sqlrewrite.FoldUpper: func(b []byte) []byte { return runeMap(b, unicode.ToUpper) },
}

func runeMap(b []byte, f func(rune) rune) []byte {
	out := make([]byte, 0, len(b))
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 {
			out, b = append(out, b[0]), b[1:]
			continue
		}
		out, b = utf8.AppendRune(out, f(r)), b[n:]
	}
	return out
}

// caseMapsFor are the lower() and upper() of an LC_CTYPE probe's answer
// (provider:locale), when phiguard knows them: C and POSIX, or a libc
// locale verified at a login of this process.
func caseMapsFor(probe []byte) (map[sqlrewrite.Fold]caseMap, bool) {
	if ctypeIsC(probe) {
		return cCaseMaps, true
	}
	locale, libc := strings.CutPrefix(string(probe), "c:")
	if v, ok := verifiedCtypes.Load(locale); libc && ok && v.(bool) {
		return unicodeCaseMaps, true
	}
	return nil, false
}

// goCaseDigest is the SHA-256 of lower(c) || upper(c) for every code
// point c in order, as ctypeCheckQuery has PostgreSQL compute it.
var goCaseDigest = sync.OnceValue(func() string {
	h := sha256.New()
	var buf []byte
	for r := rune(1); r <= unicode.MaxRune; r++ {
		if r >= 0xD800 && r <= 0xDFFF {
			continue
		}
		buf = utf8.AppendRune(utf8.AppendRune(buf[:0], unicode.ToLower(r)), unicode.ToUpper(r))
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil))
})

// ctypeListQuery lists the libc LC_CTYPEs other than C and POSIX of the
// protected columns' collations and of the database's default, each
// with a collation that has it.
func ctypeListQuery(pol *policy.Policy) string {
	keys := protectedColumnKeys(pol)
	if len(keys) == 0 {
		keys = []string{"(NULL,NULL,NULL)"}
	}
	return `SELECT DISTINCT l.collctype::pg_catalog.text, l.oid::pg_catalog.regcollation::pg_catalog.text
FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace JOIN pg_catalog.pg_collation l ON l.oid = a.attcollation
WHERE (n.nspname::text, c.relname::text, a.attname::text) IN (` + strings.Join(keys, ",") + `)
AND l.collprovider = 'c' AND l.collctype NOT IN ('C', 'POSIX')
UNION
SELECT d.datctype::pg_catalog.text, 'pg_catalog."default"' FROM pg_catalog.pg_database d
WHERE d.datname = pg_catalog.current_database() AND d.datlocprovider = 'c' AND d.datctype NOT IN ('C', 'POSIX')`
}

// ctypeCheckQuery has PostgreSQL compute goCaseDigest's digest under
// collation coll (a name regcollation printed).
func ctypeCheckQuery(coll string) string {
	x := "(pg_catalog.chr(i) COLLATE " + coll + ")"
	return "SELECT pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(pg_catalog.string_agg(pg_catalog.lower" + x +
		" || pg_catalog.upper" + x + ", '' ORDER BY i), 'UTF8')), 'hex') FROM pg_catalog.generate_series(1, 1114111) i " +
		"WHERE i < 55296 OR i > 57343"
}

// verifyCtypes checks, at login, the LC_CTYPEs ctypeListQuery finds that
// this process has not checked yet. A query that fails leaves its
// LC_CTYPE unchecked (refused, and checked again at the next login).
func (s *session) verifyCtypes() error {
	pol := s.policy()
	if pol == nil || !protectsText(pol) {
		return nil
	}
	var todo [][2]string
	err := s.ownQuery(queryMessage([]byte(ctypeListQuery(pol))), func(typ byte, body []byte) error {
		var row pgproto3.DataRow
		if typ == beDataRow && row.Decode(body) == nil && len(row.Values) == 2 {
			if _, done := verifiedCtypes.Load(string(row.Values[0])); !done {
				todo = append(todo, [2]string{string(row.Values[0]), string(row.Values[1])})
			}
		}
		return nil
	})
	for _, c := range todo {
		if err != nil {
			return err
		}
		digest := ""
		err = s.ownQuery(queryMessage([]byte(ctypeCheckQuery(c[1]))), func(typ byte, body []byte) error {
			var row pgproto3.DataRow
			if typ == beDataRow && row.Decode(body) == nil && len(row.Values) == 1 {
				digest = string(row.Values[0])
			}
			return nil
		})
		if digest != "" {
			same := digest == goCaseDigest()
			verifiedCtypes.Store(c[0], same)
			s.log.Info("case mapping of an LC_CTYPE checked", zap.String("lc_ctype", c[0]), zap.Bool("unicode_simple", same))
		}
	}
	return err
}

// protectsText: the policy protects a text or varchar column, which a
// WHERE might fold.
func protectsText(pol *policy.Policy) bool {
	for _, t := range pol.Tables() {
		for _, c := range t.Columns {
			if c.Type.OID == policy.OIDText || c.Type.OID == policy.OIDVarchar {
				return true
			}
		}
	}
	return false
}
